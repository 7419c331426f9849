//! The patient's join link `/j/<token>`: 256 random bits, stored only as a
//! hash, valid from a while before the consult starts to a while after
//! (configurable; the window follows the consult when it is rescheduled),
//! revocable, and shareable by copy or as a WhatsApp message in Spanish.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use super::consults::{self, Consult};
use super::patients::Patient;
use super::time;
use crate::auth::{token, CurrentUser, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, ClientInfo};
use crate::on_db;
use crate::state::AppState;

#[derive(Serialize, ToSchema, Debug)]
pub struct JoinLink {
    /// The full link to give the patient.
    pub url: String,
    /// The bare token (also the last part of `url`).
    pub token: String,
    /// Opens WhatsApp with a ready Spanish message (to the patient's phone if known).
    pub whatsapp_url: String,
    /// The message itself, for copying into SMS or another app.
    pub message: String,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
}

/// The window in which a consult's link admits the patient.
pub fn window(state: &AppState, starts_at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        starts_at - state.config.join_opens_before,
        starts_at + state.config.join_closes_after,
    )
}

/// Issues a fresh link for `consult`, revoking any earlier one.
pub async fn issue(state: &AppState, consult: &Consult, patient: &Patient) -> ApiResult<JoinLink> {
    revoke_all(state, consult.id).await?;
    let raw = token::generate();
    on_db!(&state.db, pool => {
        sqlx::query("INSERT INTO join_links (consult_id, token_hash, created_at) VALUES ($1, $2, $3)")
            .bind(consult.id)
            .bind(token::hash(&raw))
            .bind(Utc::now())
            .execute(pool)
            .await?
            .rows_affected()
    });
    let tz_name: Option<String> = on_db!(&state.db, pool => {
        sqlx::query_scalar("SELECT time_zone FROM clinics WHERE clues = $1")
            .bind(&consult.clinic_clues)
            .fetch_optional(pool)
            .await?
    });
    let tz = time::parse_tz(tz_name.as_deref().unwrap_or(time::DEFAULT_TZ))?;
    // Without a configured base, a relative link still works from the same origin.
    let url = format!("{}/j/{raw}", state.config.public_url.as_deref().unwrap_or(""));
    let message = spanish_message(
        &patient.given_names,
        consult,
        tz,
        &url,
        state.config.join_opens_before.num_minutes(),
    );
    let phone_part = patient
        .phone
        .as_deref()
        .map(|p| p.trim_start_matches('+'))
        .unwrap_or("");
    let whatsapp_url = format!("https://wa.me/{phone_part}?text={}", urlencoding::encode(&message));
    let (opens_at, closes_at) = window(state, consult.starts_at);
    Ok(JoinLink {
        url,
        token: raw,
        whatsapp_url,
        message,
        opens_at,
        closes_at,
    })
}

pub async fn revoke_all(state: &AppState, consult_id: i64) -> ApiResult<()> {
    on_db!(&state.db, pool => {
        sqlx::query("UPDATE join_links SET revoked_at = $1 WHERE consult_id = $2 AND revoked_at IS NULL")
            .bind(Utc::now())
            .bind(consult_id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(())
}

/// "Hola Rosa, su consulta con Dra. Ana López (Cardiología) es el martes 3 de
/// marzo a las 10:30 (hora de America/Mexico_City). …"
fn spanish_message(given: &str, consult: &Consult, tz: Tz, url: &str, opens_min: i64) -> String {
    const DAYS: [&str; 7] = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"];
    const MONTHS: [&str; 12] = [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    let local = consult.starts_at.with_timezone(&tz);
    let specialty = consult
        .specialty
        .as_deref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    format!(
        "Hola {given}, su consulta por video con {}{specialty} es el {} {} de {} a las {:02}:{:02} (hora de {}). \
         Entre desde su teléfono con este enlace, sin instalar nada: {url} . \
         El enlace se abre {opens_min} minutos antes. No comparta este enlace.",
        consult.specialist_name,
        DAYS[local.weekday().num_days_from_monday() as usize],
        local.day(),
        MONTHS[local.month0() as usize],
        local.hour(),
        local.minute(),
        tz.name(),
    )
}

/// Issues a new join link for a consult (the old one stops working).
#[utoipa::path(post, path = "/api/consults/{id}/join-link", params(("id" = i64, Path)),
    responses((status = 201, body = JoinLink), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reissue(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<(StatusCode, Json<JoinLink>)> {
    user.require(&[Role::Specialist, Role::Staff])?;
    let consult = consults::load_visible(&state, &user, id).await?;
    if consult.status()?.is_final() {
        return Err(ApiError::conflict(
            "consult_closed",
            "this consult is over; no new link can be issued",
        ));
    }
    let patient = super::patients::load_visible(&state, &user, consult.patient_id).await?;
    let link = issue(&state, &consult, &patient).await?;
    state
        .audit
        .on_patient(
            &user.actor(),
            &client,
            "join_link.issue",
            consult.patient_id,
            "consult",
            id,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// Revokes a consult's join link.
#[utoipa::path(delete, path = "/api/consults/{id}/join-link", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    user.require(&[Role::Specialist, Role::Staff])?;
    let consult = consults::load_visible(&state, &user, id).await?;
    revoke_all(&state, id).await?;
    state
        .audit
        .on_patient(
            &user.actor(),
            &client,
            "join_link.revoke",
            consult.patient_id,
            "consult",
            id,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A join token resolved to its consult, checked for revocation and window.
pub struct ResolvedLink {
    pub consult: Consult,
}

/// Resolves a raw token. Unknown → 404; revoked, cancelled or past the
/// window → 410; before the window → 409 with when it opens.
pub async fn resolve(state: &AppState, raw: &str) -> ApiResult<ResolvedLink> {
    if !token::is_well_formed(raw) {
        return Err(ApiError::NotFound("join link"));
    }
    let row: Option<(i64, Option<DateTime<Utc>>)> = on_db!(&state.db, pool => {
        sqlx::query_as("SELECT consult_id, revoked_at FROM join_links WHERE token_hash = $1")
            .bind(token::hash(raw))
            .fetch_optional(pool)
            .await?
    });
    let (consult_id, revoked_at) = row.ok_or(ApiError::NotFound("join link"))?;
    let consult = consults::load(state, consult_id).await?;
    // Cancelling also revokes the link; the patient should hear the reason
    // that matters to them (cancelled), not "use a newer link".
    if consult.status()? == crate::clinical::status::ConsultStatus::Cancelled {
        return Err(ApiError::gone("consult_cancelled", "this consult was cancelled"));
    }
    if revoked_at.is_some() {
        return Err(ApiError::gone("join_link_revoked", "this link was replaced or revoked"));
    }
    let (opens, closes) = window(state, consult.starts_at);
    let now = Utc::now();
    if now < opens {
        return Err(ApiError::conflict(
            "join_link_not_open",
            format!("this link opens at {}", opens.to_rfc3339()),
        ));
    }
    if now > closes || consult.status()?.is_final() {
        return Err(ApiError::gone("join_link_expired", "this link has expired"));
    }
    Ok(ResolvedLink { consult })
}
