//! Consults: scheduling, listing by day / specialist / clinic, rescheduling,
//! cancelling and the other status changes, each checked against the status
//! machine. Creating a consult issues the patient's join link.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{consult_condition, Scope};
use super::join_links::{self, JoinLink};
use super::{patients, time, validate};
use crate::audit::Event;
use crate::auth::{CurrentUser, Role};
use crate::clinical::status::ConsultStatus;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientInfo};
use crate::state::AppState;
use crate::{bind_scope, on_db};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsult {
    pub patient_id: i64,
    /// Required for clinic staff; a specialist schedules for themselves.
    pub specialist_id: Option<i64>,
    /// The referring clinic (CLUES). Staff always schedule for their own.
    pub clinic_clues: Option<String>,
    /// Start, RFC 3339 with offset; stored in UTC.
    pub starts_at: DateTime<Utc>,
    pub duration_min: i32,
    pub reason: String,
}

/// A consult as listed to staff and specialists.
#[derive(Serialize, ToSchema, sqlx::FromRow, Debug)]
pub struct Consult {
    pub id: i64,
    pub patient_id: i64,
    pub patient_name: String,
    pub patient_folio: String,
    pub specialist_id: i64,
    pub specialist_name: String,
    pub specialty: Option<String>,
    pub clinic_clues: Option<String>,
    pub clinic_name: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub duration_min: i32,
    pub reason: String,
    #[schema(value_type = ConsultStatus)]
    pub status: String,
    pub cancel_reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

pub const CONSULT_SELECT: &str = "SELECT c.id, c.patient_id, p.given_names || ' ' || p.family_names AS patient_name, \
     p.folio AS patient_folio, c.specialist_id, u.full_name AS specialist_name, u.specialty, c.clinic_clues, \
     k.name AS clinic_name, c.starts_at, c.duration_min, c.reason, c.status, c.cancel_reason, c.updated_at \
     FROM consults c JOIN patients p ON p.id = c.patient_id JOIN users u ON u.id = c.specialist_id \
     LEFT JOIN clinics k ON k.clues = c.clinic_clues";

impl Consult {
    pub fn status(&self) -> ApiResult<ConsultStatus> {
        ConsultStatus::parse(&self.status).ok_or_else(|| anyhow::anyhow!("unknown status in database").into())
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConsultCreated {
    pub consult: Consult,
    /// The patient's join link. The token is shown only now; it is stored
    /// only as a hash.
    pub join_link: JoinLink,
}

/// Schedules a consult and issues the patient's join link.
#[utoipa::path(post, path = "/api/consults", request_body = NewConsult,
    responses((status = 201, body = ConsultCreated), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiJson(new): ApiJson<NewConsult>,
) -> ApiResult<(StatusCode, Json<ConsultCreated>)> {
    user.require(&[Role::Specialist, Role::Staff])?;
    let (specialist_id, clinic) = match user.role {
        Role::Specialist => {
            if new.specialist_id.is_some_and(|id| id != user.id) {
                return Err(ApiError::Forbidden("a specialist schedules only their own consults"));
            }
            let clinic = validate::optional_text("clinic_clues", new.clinic_clues.as_deref(), 20, false)?
                .map(|c| c.to_uppercase());
            (user.id, clinic)
        }
        _ => {
            let specialist = new
                .specialist_id
                .ok_or_else(|| ApiError::bad_request("validation", "specialist_id is required"))?;
            if new
                .clinic_clues
                .as_deref()
                .is_some_and(|c| Some(c.to_uppercase()) != user.clinic_clues)
            {
                return Err(ApiError::Forbidden("staff schedule only for their own clinic"));
            }
            (specialist, user.clinic_clues.clone())
        }
    };
    check_duration(new.duration_min)?;
    let reason = validate::text("reason", &new.reason, 500, true)?;
    if new.starts_at < Utc::now() - chrono::Duration::hours(1) {
        return Err(ApiError::bad_request("validation", "starts_at is in the past"));
    }
    // The patient must be one this user may see (or find by CURP and then see).
    let patient = patients::load_visible(&state, &user, new.patient_id).await?;
    ensure_specialist(&state, specialist_id).await?;
    if let Some(clues) = &clinic {
        let exists: Option<String> = on_db!(&state.db, pool => {
            sqlx::query_scalar("SELECT clues FROM clinics WHERE clues = $1").bind(clues).fetch_optional(pool).await?
        });
        if exists.is_none() {
            return Err(ApiError::bad_request(
                "unknown_clinic",
                format!("no clinic with CLUES {clues}"),
            ));
        }
    }
    let now = Utc::now();
    let id: i64 = on_db!(&state.db, pool => {
        sqlx::query_scalar(
            "INSERT INTO consults (patient_id, specialist_id, clinic_clues, starts_at, duration_min, reason, status, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $8, $8) RETURNING id",
        )
        .bind(patient.id)
        .bind(specialist_id)
        .bind(&clinic)
        .bind(new.starts_at)
        .bind(new.duration_min)
        .bind(&reason)
        .bind(user.id)
        .bind(now)
        .fetch_one(pool)
        .await?
    });
    let consult = load(&state, id).await?;
    let join_link = join_links::issue(&state, &consult, &patient).await?;
    state
        .audit
        .on_patient(&user.actor(), &client, "consult.create", patient.id, "consult", id)
        .await?;
    Ok((StatusCode::CREATED, Json(ConsultCreated { consult, join_link })))
}

fn check_duration(minutes: i32) -> ApiResult<()> {
    if (5..=240).contains(&minutes) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "validation",
            "duration_min must be between 5 and 240",
        ))
    }
}

async fn ensure_specialist(state: &AppState, id: i64) -> ApiResult<()> {
    let found: Option<i64> = on_db!(&state.db, pool => {
        sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND role = 'specialist' AND active")
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::bad_request("unknown_specialist", "no active specialist with this id"))
}

/// Loads a consult without any access check (callers check).
pub async fn load(state: &AppState, id: i64) -> ApiResult<Consult> {
    let sql = format!("{CONSULT_SELECT} WHERE c.id = $1");
    let found: Option<Consult> = on_db!(&state.db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
    found.ok_or(ApiError::NotFound("consult"))
}

/// Loads a consult if `user` may see it; otherwise 404, as if absent.
pub async fn load_visible(state: &AppState, user: &CurrentUser, id: i64) -> ApiResult<Consult> {
    let scope = Scope::of(user);
    let sql = format!("{CONSULT_SELECT} WHERE c.id = $4 AND {}", consult_condition(1));
    let found: Option<Consult> = on_db!(&state.db, pool => {
        bind_scope!(sqlx::query_as(&sql), scope).bind(id).fetch_optional(pool).await?
    });
    found.ok_or(ApiError::NotFound("consult"))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsultFilter {
    /// A calendar day (YYYY-MM-DD) in `tz`.
    pub day: Option<NaiveDate>,
    /// First day of a range in `tz` (with `days`, for a week view).
    pub from: Option<NaiveDate>,
    /// Number of days from `from` (1-31, default 7).
    pub days: Option<u32>,
    /// IANA time zone of the viewer; default America/Mexico_City.
    pub tz: Option<String>,
    pub specialist_id: Option<i64>,
    pub clinic: Option<String>,
    pub status: Option<ConsultStatus>,
}

/// Lists visible consults, by day or range, specialist, clinic or status.
#[utoipa::path(get, path = "/api/consults", params(ConsultFilter),
    responses((status = 200, body = Vec<Consult>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiQuery(filter): ApiQuery<ConsultFilter>,
) -> ApiResult<Json<Vec<Consult>>> {
    let tz = time::parse_tz(filter.tz.as_deref().unwrap_or(time::DEFAULT_TZ))?;
    let (from, to) = match (filter.day, filter.from) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("validation", "give day or from, not both")),
        (Some(day), None) => time::day_bounds(day, tz)?,
        (None, Some(first)) => {
            let days = filter.days.unwrap_or(7);
            if !(1..=31).contains(&days) {
                return Err(ApiError::bad_request("validation", "days must be between 1 and 31"));
            }
            let last = first
                .checked_add_days(chrono::Days::new(u64::from(days - 1)))
                .ok_or_else(|| ApiError::bad_request("validation", "range out of bounds"))?;
            (time::day_bounds(first, tz)?.0, time::day_bounds(last, tz)?.1)
        }
        (None, None) => time::day_bounds(Utc::now().with_timezone(&tz).date_naive(), tz)?,
    };
    let scope = Scope::of(&user);
    let mut sql = format!(
        "{CONSULT_SELECT} WHERE {} AND c.starts_at >= $4 AND c.starts_at < $5",
        consult_condition(1)
    );
    let mut next = 6;
    if filter.specialist_id.is_some() {
        sql.push_str(&format!(" AND c.specialist_id = ${next}"));
        next += 1;
    }
    let clinic = validate::optional_text("clinic", filter.clinic.as_deref(), 20, false)?.map(|c| c.to_uppercase());
    if clinic.is_some() {
        sql.push_str(&format!(" AND c.clinic_clues = ${next}"));
        next += 1;
    }
    if filter.status.is_some() {
        sql.push_str(&format!(" AND c.status = ${next}"));
    }
    sql.push_str(" ORDER BY c.starts_at, c.id LIMIT 500");
    let consults: Vec<Consult> = on_db!(&state.db, pool => {
        let mut q = bind_scope!(sqlx::query_as(&sql), scope).bind(from).bind(to);
        if let Some(s) = filter.specialist_id {
            q = q.bind(s);
        }
        if let Some(c) = &clinic {
            q = q.bind(c);
        }
        if let Some(s) = filter.status {
            q = q.bind(s.as_str());
        }
        q.fetch_all(pool).await?
    });
    let actor = user.actor();
    let events: Vec<Event> = consults
        .iter()
        .map(|c| Event {
            actor: &actor,
            action: "consult.list",
            patient_id: Some(c.patient_id),
            object_type: "consult",
            object_id: Some(c.id.to_string()),
            client: Some(&client),
        })
        .collect();
    state.audit.record_all(&events).await?;
    Ok(Json(consults))
}

async fn audit_read(
    state: &AppState,
    user: &CurrentUser,
    client: &ClientInfo,
    c: &Consult,
    action: &str,
) -> ApiResult<()> {
    state
        .audit
        .on_patient(&user.actor(), client, action, c.patient_id, "consult", c.id)
        .await?;
    Ok(())
}

/// A patient's consults that you may see, newest first (their history).
#[utoipa::path(get, path = "/api/patients/{id}/consults", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Consult>), (status = 404, body = ErrorBody)))]
pub async fn for_patient(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(patient_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<Consult>>> {
    let patient = patients::load_visible(&state, &user, patient_id).await?;
    let scope = Scope::of(&user);
    let sql = format!(
        "{CONSULT_SELECT} WHERE {} AND c.patient_id = $4 ORDER BY c.starts_at DESC, c.id DESC LIMIT 200",
        consult_condition(1)
    );
    let consults: Vec<Consult> = on_db!(&state.db, pool => {
        bind_scope!(sqlx::query_as(&sql), scope).bind(patient.id).fetch_all(pool).await?
    });
    state
        .audit
        .on_patient(
            &user.actor(),
            &client,
            "patient.history",
            patient.id,
            "patient",
            patient.id,
        )
        .await?;
    Ok(Json(consults))
}

/// One consult.
#[utoipa::path(get, path = "/api/consults/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = Consult), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Consult>> {
    let consult = load_visible(&state, &user, id).await?;
    audit_read(&state, &user, &client, &consult, "consult.read").await?;
    Ok(Json(consult))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reschedule {
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_min: Option<i32>,
    pub reason: Option<String>,
}

/// Reschedules a consult that has not started. The join link's validity
/// window moves with the start time.
#[utoipa::path(patch, path = "/api/consults/{id}", params(("id" = i64, Path)), request_body = Reschedule,
    responses((status = 200, body = Consult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reschedule(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(change): ApiJson<Reschedule>,
) -> ApiResult<Json<Consult>> {
    user.require(&[Role::Specialist, Role::Staff])?;
    let consult = load_visible(&state, &user, id).await?;
    if consult.status()? != ConsultStatus::Scheduled {
        return Err(ApiError::conflict(
            "illegal_transition",
            "only a scheduled consult can be rescheduled",
        ));
    }
    if let Some(d) = change.duration_min {
        check_duration(d)?;
    }
    if change
        .starts_at
        .is_some_and(|s| s < Utc::now() - chrono::Duration::hours(1))
    {
        return Err(ApiError::bad_request("validation", "starts_at is in the past"));
    }
    let reason = validate::optional_text("reason", change.reason.as_deref(), 500, true)?;
    let rows = on_db!(&state.db, pool => {
        sqlx::query(
            "UPDATE consults SET starts_at = COALESCE($1, starts_at), duration_min = COALESCE($2, duration_min), \
             reason = COALESCE($3, reason), updated_at = $4 WHERE id = $5 AND status = 'scheduled'",
        )
        .bind(change.starts_at)
        .bind(change.duration_min)
        .bind(reason)
        .bind(Utc::now())
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected()
    });
    if rows == 0 {
        return Err(ApiError::conflict(
            "concurrent_change",
            "the consult changed meanwhile; reload it",
        ));
    }
    state
        .audit
        .on_patient(
            &user.actor(),
            &client,
            "consult.reschedule",
            consult.patient_id,
            "consult",
            id,
        )
        .await?;
    Ok(Json(load(&state, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: ConsultStatus,
    /// Required when cancelling.
    pub reason: Option<String>,
}

/// Moves a consult through its status machine (cancel, no-show, admit,
/// complete…). Illegal transitions get 409.
#[utoipa::path(post, path = "/api/consults/{id}/status", params(("id" = i64, Path)), request_body = StatusChange,
    responses((status = 200, body = Consult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn change_status(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(change): ApiJson<StatusChange>,
) -> ApiResult<Json<Consult>> {
    user.require(&[Role::Specialist, Role::Staff])?;
    let consult = load_visible(&state, &user, id).await?;
    let cancel_reason = match change.status {
        ConsultStatus::Cancelled => Some(validate::text(
            "reason",
            change.reason.as_deref().unwrap_or(""),
            500,
            true,
        )?),
        _ => None,
    };
    transition(&state, &consult, change.status, cancel_reason).await?;
    state
        .audit
        .on_patient(
            &user.actor(),
            &client,
            "consult.status",
            consult.patient_id,
            "consult",
            id,
        )
        .await?;
    if change.status == ConsultStatus::Cancelled {
        join_links::revoke_all(&state, id).await?;
    }
    Ok(Json(load(&state, id).await?))
}

/// Applies `consult.status → to` if the machine allows it and nobody changed
/// the status meanwhile (compare-and-set on the old status).
pub async fn transition(
    state: &AppState,
    consult: &Consult,
    to: ConsultStatus,
    cancel_reason: Option<String>,
) -> ApiResult<()> {
    let from = consult.status()?;
    if !from.can_become(to) {
        return Err(ApiError::conflict(
            "illegal_transition",
            format!("a consult cannot go from {} to {}", from.as_str(), to.as_str()),
        ));
    }
    let rows = on_db!(&state.db, pool => {
        sqlx::query(
            "UPDATE consults SET status = $1, cancel_reason = COALESCE($2, cancel_reason), updated_at = $3 \
             WHERE id = $4 AND status = $5",
        )
        .bind(to.as_str())
        .bind(cancel_reason)
        .bind(Utc::now())
        .bind(consult.id)
        .bind(from.as_str())
        .execute(pool)
        .await?
        .rows_affected()
    });
    if rows == 0 {
        return Err(ApiError::conflict(
            "concurrent_change",
            "the consult changed meanwhile; reload it",
        ));
    }
    Ok(())
}
