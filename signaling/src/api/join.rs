//! The patient's side of the API, authenticated by the join token in the
//! path: what the consult is, consent, and arriving in the waiting room. A
//! patient has no account; the token is their only credential, and every
//! answer here is limited to what that one consult's patient may see.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::consent::{self, ConsentRequest, ConsentStatus, Method, RevokeRequest, CURRENT_NOTICE};
use super::consults::{self, Consult};
use super::join_links;
use crate::audit::Actor;
use crate::clinical::status::ConsultStatus;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ClientInfo};
use crate::on_db;
use crate::state::AppState;

/// What the patient's page needs, and nothing more (no reason for the
/// consult, no other patient data): the link may be forwarded.
#[derive(Serialize, ToSchema)]
pub struct JoinInfo {
    pub consult_id: i64,
    pub patient_given_names: String,
    pub preferred_language: String,
    pub specialist_name: String,
    pub specialty: Option<String>,
    pub clinic_name: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub duration_min: i32,
    #[schema(value_type = ConsultStatus)]
    pub status: String,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    /// The notice version to show and consent to.
    pub privacy_notice_version: &'static str,
    pub consent: ConsentStatus,
}

fn patient_actor(consult: &Consult) -> Actor {
    Actor::Patient { id: consult.patient_id }
}

/// The consult behind a join link.
#[utoipa::path(get, path = "/api/join/{token}", params(("token" = String, Path)),
    responses((status = 200, body = JoinInfo), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn info(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Json<JoinInfo>> {
    let consult = join_links::resolve(&state, &token).await?.consult;
    let (given, language): (String, String) = on_db!(&state.db, pool => {
        sqlx::query_as("SELECT given_names, preferred_language FROM patients WHERE id = $1")
            .bind(consult.patient_id)
            .fetch_one(pool)
            .await?
    });
    let consent = consent::status(&state, consult.id).await?;
    state
        .audit
        .on_patient(
            &patient_actor(&consult),
            &client,
            "join.open",
            consult.patient_id,
            "consult",
            consult.id,
        )
        .await?;
    let (opens_at, closes_at) = join_links::window(&state, consult.starts_at);
    Ok(Json(JoinInfo {
        consult_id: consult.id,
        patient_given_names: given,
        preferred_language: language,
        specialist_name: consult.specialist_name,
        specialty: consult.specialty,
        clinic_name: consult.clinic_name,
        starts_at: consult.starts_at,
        duration_min: consult.duration_min,
        status: consult.status,
        opens_at,
        closes_at,
        privacy_notice_version: CURRENT_NOTICE,
        consent,
    }))
}

/// The patient gives consent from their own device.
#[utoipa::path(post, path = "/api/join/{token}/consent", params(("token" = String, Path)), request_body = ConsentRequest,
    responses((status = 200, body = ConsentStatus), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn give_consent(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiPath(token): ApiPath<String>,
    ApiJson(req): ApiJson<ConsentRequest>,
) -> ApiResult<Json<ConsentStatus>> {
    let consult = join_links::resolve(&state, &token).await?.consult;
    let status = consent::record(
        &state,
        &consult,
        &req,
        Method::OwnDevice,
        &patient_actor(&consult),
        &client,
    )
    .await?;
    Ok(Json(status))
}

/// The patient revokes a consent.
#[utoipa::path(post, path = "/api/join/{token}/consent/revoke", params(("token" = String, Path)), request_body = RevokeRequest,
    responses((status = 200, body = ConsentStatus), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn revoke_consent(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiPath(token): ApiPath<String>,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> ApiResult<Json<ConsentStatus>> {
    let consult = join_links::resolve(&state, &token).await?.consult;
    Ok(Json(
        consent::revoke(&state, &consult, req.kind, &patient_actor(&consult), &client).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct Arrival {
    #[schema(value_type = ConsultStatus)]
    pub status: String,
}

/// The patient enters the waiting room. Refused without privacy consent:
/// no media before consent.
#[utoipa::path(post, path = "/api/join/{token}/arrive", params(("token" = String, Path)),
    responses((status = 200, body = Arrival), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn arrive(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Json<Arrival>> {
    let consult = join_links::resolve(&state, &token).await?.consult;
    consent::require_privacy(&state, consult.id).await?;
    // Arriving twice (a reload) is not an error.
    if consult.status()? == ConsultStatus::Scheduled {
        consults::transition(&state, &consult, ConsultStatus::Waiting, None).await?;
        state
            .audit
            .on_patient(
                &patient_actor(&consult),
                &client,
                "consult.arrive",
                consult.patient_id,
                "consult",
                consult.id,
            )
            .await?;
    }
    let now = consults::load(&state, consult.id).await?;
    Ok(Json(Arrival { status: now.status }))
}
