//! The consult note: drafts autosaved with optimistic concurrency (a stale
//! write gets 409, never a silent overwrite), signing that freezes the note
//! (the database refuses any later UPDATE or DELETE), append-only signed
//! addenda for corrections, and a full export of the record. Only the
//! consult's specialist writes; the referring clinic's staff read signed notes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::consults::{self, Consult};
use super::{consent, patients, validate};
use crate::auth::{CurrentUser, Role};
use crate::clinical::note::NoteBody;
use crate::clinical::status::ConsultStatus;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ClientInfo};
use crate::on_db;
use crate::state::AppState;

#[derive(sqlx::FromRow)]
struct NoteRow {
    id: i64,
    consult_id: i64,
    version: i64,
    body: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    signed_at: Option<DateTime<Utc>>,
    author_name: Option<String>,
    author_cedula: Option<String>,
    content_hash: Option<String>,
}

const NOTE_COLUMNS: &str = "id, consult_id, version, body, created_at, updated_at, signed_at, author_name, \
     author_cedula, content_hash";

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Addendum {
    pub id: i64,
    pub author_name: String,
    pub author_cedula: String,
    pub body: String,
    pub signed_at: DateTime<Utc>,
    pub content_hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct Note {
    pub consult_id: i64,
    /// Send this back with the next save; it changes on every save.
    pub version: i64,
    pub signed: bool,
    pub body: NoteBody,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub signed_at: Option<DateTime<Utc>>,
    pub author_name: Option<String>,
    pub author_cedula: Option<String>,
    /// SHA-256 over the signed content, author and time.
    pub content_hash: Option<String>,
    pub addenda: Vec<Addendum>,
}

async fn load_row(state: &AppState, consult_id: i64) -> ApiResult<Option<NoteRow>> {
    let sql = format!("SELECT {NOTE_COLUMNS} FROM consult_notes WHERE consult_id = $1");
    Ok(on_db!(&state.db, pool => sqlx::query_as(&sql).bind(consult_id).fetch_optional(pool).await?))
}

async fn to_note(state: &AppState, row: NoteRow) -> ApiResult<Note> {
    let body: NoteBody = serde_json::from_str(&row.body).map_err(|e| anyhow::anyhow!("stored note body: {e}"))?;
    let addenda: Vec<Addendum> = on_db!(&state.db, pool => {
        sqlx::query_as(
            "SELECT id, author_name, author_cedula, body, signed_at, content_hash FROM note_addenda \
             WHERE note_id = $1 ORDER BY id",
        )
        .bind(row.id)
        .fetch_all(pool)
        .await?
    });
    Ok(Note {
        consult_id: row.consult_id,
        version: row.version,
        signed: row.signed_at.is_some(),
        body,
        created_at: row.created_at,
        updated_at: row.updated_at,
        signed_at: row.signed_at,
        author_name: row.author_name,
        author_cedula: row.author_cedula,
        content_hash: row.content_hash,
        addenda,
    })
}

/// The consult, if `user` is its specialist (the only writer of its note).
async fn consult_for_author(state: &AppState, user: &CurrentUser, id: i64) -> ApiResult<Consult> {
    user.require(&[Role::Specialist])?;
    let consult = consults::load_visible(state, user, id).await?;
    if consult.specialist_id != user.id {
        return Err(ApiError::Forbidden("only the consult's specialist writes its note"));
    }
    Ok(consult)
}

async fn audit(
    state: &AppState,
    user: &CurrentUser,
    client: &ClientInfo,
    consult: &Consult,
    action: &str,
) -> ApiResult<()> {
    state
        .audit
        .on_patient(
            &user.actor(),
            client,
            action,
            consult.patient_id,
            "consult_note",
            consult.id,
        )
        .await?;
    Ok(())
}

/// The consult's note with its addenda. Staff see it once signed.
#[utoipa::path(get, path = "/api/consults/{id}/note", params(("id" = i64, Path)),
    responses((status = 200, body = Note), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Note>> {
    let consult = consults::load_visible(&state, &user, id).await?;
    let row = load_row(&state, id).await?.ok_or(ApiError::NotFound("note"))?;
    // A draft is the specialist's work in progress, not yet part of the record.
    if row.signed_at.is_none() && user.id != consult.specialist_id {
        return Err(ApiError::NotFound("note"));
    }
    audit(&state, &user, &client, &consult, "note.read").await?;
    Ok(Json(to_note(&state, row).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveNote {
    /// The version you last saw; 0 to create the note.
    pub version: i64,
    pub body: NoteBody,
}

/// Saves the draft. A stale `version` gets 409 `stale_version`; a signed
/// note gets 409 `note_signed`.
#[utoipa::path(put, path = "/api/consults/{id}/note", params(("id" = i64, Path)), request_body = SaveNote,
    responses((status = 200, body = Note), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn save(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<SaveNote>,
) -> ApiResult<Json<Note>> {
    let consult = consult_for_author(&state, &user, id).await?;
    if matches!(consult.status()?, ConsultStatus::Cancelled | ConsultStatus::NoShow) {
        return Err(ApiError::conflict(
            "consult_closed",
            "a cancelled or missed consult has no note",
        ));
    }
    let body = req
        .body
        .checked()
        .map_err(|p| ApiError::bad_request("validation", p.0))?;
    let json = serde_json::to_string(&body).map_err(anyhow::Error::from)?;
    let now = Utc::now();
    let written = if req.version == 0 {
        let result: Result<_, sqlx::Error> = on_db!(&state.db, pool => {
            sqlx::query(
                "INSERT INTO consult_notes (consult_id, author_id, version, body, created_at, updated_at) \
                 VALUES ($1, $2, 1, $3, $4, $4)",
            )
            .bind(id)
            .bind(user.id)
            .bind(&json)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match result {
            Ok(_) => true,
            Err(e) if matches!(crate::db::classify(&e), crate::db::DbFailure::Constraint(_)) => false,
            Err(e) => return Err(e.into()),
        }
    } else {
        let rows = on_db!(&state.db, pool => {
            sqlx::query(
                "UPDATE consult_notes SET body = $1, version = version + 1, updated_at = $2 \
                 WHERE consult_id = $3 AND version = $4 AND signed_at IS NULL",
            )
            .bind(&json)
            .bind(now)
            .bind(id)
            .bind(req.version)
            .execute(pool)
            .await?
            .rows_affected()
        });
        rows == 1
    };
    if !written {
        return Err(why_not_written(&state, id).await?);
    }
    audit(&state, &user, &client, &consult, "note.write").await?;
    let row = load_row(&state, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("note vanished after write"))?;
    Ok(Json(to_note(&state, row).await?))
}

/// Explains a refused write: signed, or someone saved a newer version.
async fn why_not_written(state: &AppState, id: i64) -> ApiResult<ApiError> {
    Ok(match load_row(state, id).await? {
        Some(row) if row.signed_at.is_some() => {
            ApiError::conflict("note_signed", "the note is signed; add an addendum instead")
        }
        Some(row) => ApiError::conflict(
            "stale_version",
            format!(
                "the note was saved elsewhere (now version {}); reload before saving",
                row.version
            ),
        ),
        None => ApiError::conflict("stale_version", "the note does not exist yet; save with version 0"),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignNote {
    /// The version being signed: you sign exactly what you last saw.
    pub version: i64,
}

/// Signs the note. After this nothing can change it, not even direct SQL.
#[utoipa::path(post, path = "/api/consults/{id}/note/sign", params(("id" = i64, Path)), request_body = SignNote,
    responses((status = 200, body = Note), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn sign(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<SignNote>,
) -> ApiResult<Json<Note>> {
    let consult = consult_for_author(&state, &user, id).await?;
    let cedula = user
        .cedula
        .clone()
        .ok_or(ApiError::Forbidden("signing needs a cedula profesional"))?;
    let row = load_row(&state, id).await?.ok_or(ApiError::NotFound("note"))?;
    if row.signed_at.is_some() {
        return Err(ApiError::conflict("note_signed", "the note is already signed"));
    }
    if row.version != req.version {
        return Err(why_not_written(&state, id).await?);
    }
    let body: NoteBody = serde_json::from_str(&row.body).map_err(|e| anyhow::anyhow!("stored note body: {e}"))?;
    body.ready_to_sign()
        .map_err(|p| ApiError::bad_request("incomplete_note", p.0))?;
    let now = Utc::now();
    let signed_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let hash = content_hash(&[
        &id.to_string(),
        &row.body,
        &user.full_name,
        &cedula,
        &signed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    ]);
    let rows = on_db!(&state.db, pool => {
        sqlx::query(
            "UPDATE consult_notes SET signed_at = $1, author_name = $2, author_cedula = $3, content_hash = $4, \
             version = version + 1, updated_at = $1 WHERE consult_id = $5 AND version = $6 AND signed_at IS NULL",
        )
        .bind(signed_at)
        .bind(&user.full_name)
        .bind(&cedula)
        .bind(&hash)
        .bind(id)
        .bind(req.version)
        .execute(pool)
        .await?
        .rows_affected()
    });
    if rows != 1 {
        return Err(why_not_written(&state, id).await?);
    }
    audit(&state, &user, &client, &consult, "note.sign").await?;
    let row = load_row(&state, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("note vanished after signing"))?;
    Ok(Json(to_note(&state, row).await?))
}

fn content_hash(parts: &[&str]) -> String {
    let canonical = serde_json::to_string(parts).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddendum {
    /// The correction or addition, in words.
    pub body: String,
}

/// Adds a signed addendum to a signed note (corrections never edit).
#[utoipa::path(post, path = "/api/consults/{id}/note/addenda", params(("id" = i64, Path)), request_body = NewAddendum,
    responses((status = 201, body = Note), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_addendum(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<NewAddendum>,
) -> ApiResult<(StatusCode, Json<Note>)> {
    let consult = consult_for_author(&state, &user, id).await?;
    let cedula = user
        .cedula
        .clone()
        .ok_or(ApiError::Forbidden("signing needs a cedula profesional"))?;
    let text = validate::text("body", &req.body, 20_000, true)?;
    let row = load_row(&state, id).await?.ok_or(ApiError::NotFound("note"))?;
    if row.signed_at.is_none() {
        return Err(ApiError::conflict(
            "note_not_signed",
            "edit the draft; addenda are for signed notes",
        ));
    }
    let now = Utc::now();
    let signed_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let hash = content_hash(&[
        row.content_hash.as_deref().unwrap_or(""),
        &text,
        &user.full_name,
        &cedula,
        &signed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    ]);
    on_db!(&state.db, pool => {
        sqlx::query(
            "INSERT INTO note_addenda (note_id, author_id, author_name, author_cedula, body, signed_at, content_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(row.id)
        .bind(user.id)
        .bind(&user.full_name)
        .bind(&cedula)
        .bind(&text)
        .bind(signed_at)
        .bind(&hash)
        .execute(pool)
        .await?
        .rows_affected()
    });
    audit(&state, &user, &client, &consult, "note.addendum").await?;
    Ok((StatusCode::CREATED, Json(to_note(&state, row).await?)))
}

/// The whole clinical record of a consult, for printing or transfer.
#[derive(Serialize, ToSchema)]
pub struct ConsultRecord {
    pub exported_at: DateTime<Utc>,
    pub patient: patients::Patient,
    pub consult: Consult,
    pub note: Note,
    pub consents: Vec<consent::ConsentRecord>,
}

/// Exports the signed record (audited as an export).
#[utoipa::path(get, path = "/api/consults/{id}/note/export", params(("id" = i64, Path)),
    responses((status = 200, body = ConsultRecord), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ConsultRecord>> {
    let consult = consults::load_visible(&state, &user, id).await?;
    let row = load_row(&state, id).await?.ok_or(ApiError::NotFound("note"))?;
    if row.signed_at.is_none() {
        return Err(ApiError::conflict(
            "note_not_signed",
            "only a signed note can be exported",
        ));
    }
    let patient = patients::load_visible(&state, &user, consult.patient_id).await?;
    let consents = consent::records(&state, id).await?;
    audit(&state, &user, &client, &consult, "note.export").await?;
    Ok(Json(ConsultRecord {
        exported_at: Utc::now(),
        patient,
        consult,
        note: to_note(&state, row).await?,
        consents,
    }))
}
