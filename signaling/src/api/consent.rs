//! Consent under the LFPDPPP: a versioned privacy notice (Spanish and
//! English, full and simplified), the patient's express consent recorded with
//! notice version, time and method before any media, a separate consent for
//! recording, and revocation. Consent rows are evidence: the database allows
//! only a revocation to be added to them.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::consults;
use crate::audit::Actor;
use crate::auth::{CurrentUser, Role};
use crate::config::Config;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientInfo};
use crate::on_db;
use crate::state::AppState;

/// The notice version patients consent to now. A new version means new
/// consent: consents to older versions no longer count.
pub const CURRENT_NOTICE: &str = "v1";

/// The operator's details the notice names, filled from the `privacy.*`
/// settings. The notice is a template: the law requires the responsible
/// party's identity and contact, which only the deployment knows.
pub const NOTICE_FIELDS: &[&str] = &[
    "operator_name",
    "operator_address",
    "requests_address",
    "contact_email",
    "contact_phone",
    "office_hours",
    "privacy_officer",
    "notice_url",
    "effective_date",
];

fn notice_template(version: &str, language: &str, simplified: bool) -> Option<&'static str> {
    Some(match (version, language, simplified) {
        ("v1", "es", false) => include_str!("../../data/privacy-notice/v1/es.md"),
        ("v1", "en", false) => include_str!("../../data/privacy-notice/v1/en.md"),
        ("v1", "es", true) => include_str!("../../data/privacy-notice/v1/es-simplified.md"),
        ("v1", "en", true) => include_str!("../../data/privacy-notice/v1/en-simplified.md"),
        _ => return None,
    })
}

/// The notice with the operator's details filled in. A field not configured
/// shows as `[field_name]`, visibly unfinished rather than silently blank.
pub fn notice_text(config: &Config, version: &str, language: &str, simplified: bool) -> Option<String> {
    let mut text = notice_template(version, language, simplified)?.to_string();
    for field in NOTICE_FIELDS {
        let value = config
            .privacy
            .get(*field)
            .cloned()
            .unwrap_or_else(|| format!("[{field}]"));
        text = text.replace(&format!("{{{{{field}}}}}"), &value);
    }
    Some(text)
}

/// The notice fields this deployment has not configured.
pub fn missing_notice_fields(config: &Config) -> Vec<&'static str> {
    NOTICE_FIELDS
        .iter()
        .copied()
        .filter(|f| !config.privacy.contains_key(*f))
        .collect()
}

#[derive(Serialize, ToSchema)]
pub struct NoticeIndex {
    pub current_version: &'static str,
    pub languages: Vec<&'static str>,
}

/// Which privacy notice is current.
#[utoipa::path(get, path = "/api/privacy-notice", responses((status = 200, body = NoticeIndex)))]
pub async fn notice_index() -> Json<NoticeIndex> {
    Json(NoticeIndex {
        current_version: CURRENT_NOTICE,
        languages: vec!["es", "en"],
    })
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NoticeQuery {
    /// The short notice for screens (aviso simplificado).
    pub simplified: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct Notice {
    pub version: String,
    pub language: String,
    pub simplified: bool,
    /// Markdown.
    pub text: String,
}

/// One version of the privacy notice, in Spanish or English.
#[utoipa::path(get, path = "/api/privacy-notice/{version}/{language}",
    params(("version" = String, Path), ("language" = String, Path), NoticeQuery),
    responses((status = 200, body = Notice), (status = 404, body = ErrorBody)))]
pub async fn notice(
    State(state): State<AppState>,
    ApiPath((version, language)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<NoticeQuery>,
) -> ApiResult<Json<Notice>> {
    let simplified = query.simplified.unwrap_or(false);
    let text =
        notice_text(&state.config, &version, &language, simplified).ok_or(ApiError::NotFound("privacy notice"))?;
    Ok(Json(Notice {
        version,
        language,
        simplified,
        text,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The notice version the patient was shown; must be the current one.
    pub notice_version: String,
    /// The language the notice was shown in (`es` or `en`).
    pub language: String,
    /// Must be true: the patient ticked the (unticked) box.
    pub accept_privacy: bool,
    /// Separate, optional consent to recording.
    #[serde(default)]
    pub recording: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub kind: ConsentKind,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    Privacy,
    Recording,
}

impl ConsentKind {
    /// The audit action for granting or revoking this kind.
    fn action(self, verb: &str) -> &'static str {
        match (self, verb) {
            (ConsentKind::Privacy, "grant") => "consent.privacy.grant",
            (ConsentKind::Recording, "grant") => "consent.recording.grant",
            (ConsentKind::Privacy, _) => "consent.privacy.revoke",
            (ConsentKind::Recording, _) => "consent.recording.revoke",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ConsentKind::Privacy => "privacy",
            ConsentKind::Recording => "recording",
        }
    }
}

/// Whether the patient of a consult currently consents.
#[derive(Serialize, ToSchema, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentStatus {
    pub privacy: bool,
    pub recording: bool,
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct ConsentRecord {
    pub id: i64,
    #[schema(value_type = ConsentKind)]
    pub kind: String,
    pub notice_version: String,
    pub language: String,
    /// `own_device` or `kiosk_witnessed`.
    pub method: String,
    pub witness_user_id: Option<i64>,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// How the consent was given.
pub enum Method<'a> {
    OwnDevice,
    Kiosk { witness: &'a CurrentUser },
}

/// Records the patient's consent for a consult. Shared by the patient's own
/// device and the kiosk.
pub async fn record(
    state: &AppState,
    consult: &consults::Consult,
    req: &ConsentRequest,
    method: Method<'_>,
    actor: &Actor,
    client: &ClientInfo,
) -> ApiResult<ConsentStatus> {
    if req.notice_version != CURRENT_NOTICE {
        return Err(ApiError::conflict(
            "notice_outdated",
            format!("the current privacy notice is {CURRENT_NOTICE}; show it and ask again"),
        ));
    }
    if !matches!(req.language.as_str(), "es" | "en") {
        return Err(ApiError::bad_request("validation", "language must be es or en"));
    }
    if !req.accept_privacy {
        return Err(ApiError::bad_request(
            "consent_required",
            "express consent to the privacy notice is required",
        ));
    }
    if consult.status()?.is_final() {
        return Err(ApiError::conflict("consult_closed", "this consult is over"));
    }
    let (method_name, witness) = match method {
        Method::OwnDevice => ("own_device", None),
        Method::Kiosk { witness } => ("kiosk_witnessed", Some(witness.id)),
    };
    let current = status(state, consult.id).await?;
    let mut kinds = Vec::new();
    if !current.privacy {
        kinds.push(ConsentKind::Privacy);
    }
    if req.recording && !current.recording {
        kinds.push(ConsentKind::Recording);
    }
    for kind in kinds {
        on_db!(&state.db, pool => {
            sqlx::query(
                "INSERT INTO consents (patient_id, consult_id, kind, notice_version, language, method, \
                 witness_user_id, granted_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(consult.patient_id)
            .bind(consult.id)
            .bind(kind.as_str())
            .bind(CURRENT_NOTICE)
            .bind(&req.language)
            .bind(method_name)
            .bind(witness)
            .bind(Utc::now())
            .bind(client.ip_string())
            .bind(&client.user_agent)
            .execute(pool)
            .await?
            .rows_affected()
        });
        state
            .audit
            .on_patient(
                actor,
                client,
                kind.action("grant"),
                consult.patient_id,
                "consult",
                consult.id,
            )
            .await?;
    }
    status(state, consult.id).await
}

/// Records a revocation of one kind of consent.
pub async fn revoke(
    state: &AppState,
    consult: &consults::Consult,
    kind: ConsentKind,
    actor: &Actor,
    client: &ClientInfo,
) -> ApiResult<ConsentStatus> {
    on_db!(&state.db, pool => {
        sqlx::query("UPDATE consents SET revoked_at = $1 WHERE consult_id = $2 AND kind = $3 AND revoked_at IS NULL")
            .bind(Utc::now())
            .bind(consult.id)
            .bind(kind.as_str())
            .execute(pool)
            .await?
            .rows_affected()
    });
    state
        .audit
        .on_patient(
            actor,
            client,
            kind.action("revoke"),
            consult.patient_id,
            "consult",
            consult.id,
        )
        .await?;
    status(state, consult.id).await
}

/// Every consent record of a consult, revoked ones included, oldest first.
pub async fn records(state: &AppState, consult_id: i64) -> ApiResult<Vec<ConsentRecord>> {
    Ok(on_db!(&state.db, pool => {
        sqlx::query_as(
            "SELECT id, kind, notice_version, language, method, witness_user_id, granted_at, revoked_at \
             FROM consents WHERE consult_id = $1 ORDER BY id",
        )
        .bind(consult_id)
        .fetch_all(pool)
        .await?
    }))
}

/// The consult's live consents (current notice version, not revoked).
/// Refuses (409 `consent_required`) until the consult's patient has accepted
/// the current privacy notice: nothing about the patient's call (waiting
/// room, media signaling, the network check) starts before express consent.
pub async fn require_privacy(state: &AppState, consult_id: i64) -> ApiResult<()> {
    if status(state, consult_id).await?.privacy {
        return Ok(());
    }
    Err(ApiError::conflict(
        "consent_required",
        "the privacy notice must be accepted first",
    ))
}

pub async fn status(state: &AppState, consult_id: i64) -> ApiResult<ConsentStatus> {
    let kinds: Vec<String> = on_db!(&state.db, pool => {
        sqlx::query_scalar(
            "SELECT kind FROM consents WHERE consult_id = $1 AND notice_version = $2 AND revoked_at IS NULL",
        )
        .bind(consult_id)
        .bind(CURRENT_NOTICE)
        .fetch_all(pool)
        .await?
    });
    Ok(ConsentStatus {
        privacy: kinds.iter().any(|k| k == "privacy"),
        recording: kinds.iter().any(|k| k == "recording"),
    })
}

/// Records consent at a clinic kiosk, the signed-in staff member witnessing.
#[utoipa::path(post, path = "/api/consults/{id}/consent", params(("id" = i64, Path)), request_body = ConsentRequest,
    responses((status = 200, body = ConsentStatus), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn kiosk_consent(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ConsentRequest>,
) -> ApiResult<Json<ConsentStatus>> {
    user.require(&[Role::Staff])?;
    let consult = consults::load_visible(&state, &user, id).await?;
    let status = record(
        &state,
        &consult,
        &req,
        Method::Kiosk { witness: &user },
        &user.actor(),
        &client,
    )
    .await?;
    Ok(Json(status))
}

/// Records a revocation on the patient's behalf (kiosk or phone call).
#[utoipa::path(post, path = "/api/consults/{id}/consent/revoke", params(("id" = i64, Path)), request_body = RevokeRequest,
    responses((status = 200, body = ConsentStatus), (status = 404, body = ErrorBody)))]
pub async fn staff_revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> ApiResult<Json<ConsentStatus>> {
    user.require(&[Role::Staff, Role::Specialist])?;
    let consult = consults::load_visible(&state, &user, id).await?;
    Ok(Json(revoke(&state, &consult, req.kind, &user.actor(), &client).await?))
}

/// The consent records of a consult, revoked ones included.
#[utoipa::path(get, path = "/api/consults/{id}/consents", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ConsentRecord>), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<ConsentRecord>>> {
    let consult = consults::load_visible(&state, &user, id).await?;
    let rows = records(&state, id).await?;
    state
        .audit
        .on_patient(
            &user.actor(),
            &client,
            "consent.read",
            consult.patient_id,
            "consult",
            id,
        )
        .await?;
    Ok(Json(rows))
}
