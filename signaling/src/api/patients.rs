//! Patients: registration (CURP validated, never generated; an internal folio
//! for everyone), search by name or CURP, and reads. Every read and write is
//! audited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{patient_condition, Scope};
use super::validate;
use crate::audit::Event;
use crate::auth::{CurrentUser, Role};
use crate::clinical::{curp, text_fold};
use crate::db::{classify, DbFailure};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientInfo};
use crate::state::AppState;
use crate::{bind_scope, on_db};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum Sex {
    F,
    M,
    /// Non-binary, as the CURP allows since 2022.
    X,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatient {
    pub given_names: String,
    pub family_names: String,
    pub date_of_birth: NaiveDate,
    pub sex: Sex,
    pub phone: Option<String>,
    /// BCP 47 language tag; `es` by default.
    pub preferred_language: Option<String>,
    /// Validated (format and check digit); never generated.
    pub curp: Option<String>,
}

#[derive(Serialize, ToSchema, sqlx::FromRow, Debug)]
pub struct Patient {
    pub id: i64,
    /// Internal identifier, for patients with or without a CURP.
    pub folio: String,
    pub given_names: String,
    pub family_names: String,
    pub date_of_birth: NaiveDate,
    #[schema(value_type = String)]
    pub sex: String,
    pub phone: Option<String>,
    pub preferred_language: String,
    pub curp: Option<String>,
    pub registered_clinic: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub const PATIENT_COLUMNS: &str = "p.id, p.folio, p.given_names, p.family_names, p.date_of_birth, p.sex, p.phone, \
     p.preferred_language, p.curp, p.registered_clinic, p.created_at";

const LANGUAGES: &[&str] = &["es", "en", "nah", "yua", "tzo", "tzh", "mix", "zap", "oto", "maz"];

/// Registers a patient (specialists and clinic staff).
#[utoipa::path(post, path = "/api/patients", request_body = NewPatient,
    responses((status = 201, body = Patient), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiJson(new): ApiJson<NewPatient>,
) -> ApiResult<(StatusCode, Json<Patient>)> {
    user.require(&[Role::Specialist, Role::Staff])?;
    let given = validate::text("given_names", &new.given_names, 120, false)?;
    let family = validate::text("family_names", &new.family_names, 120, false)?;
    let today = Utc::now().date_naive();
    if new.date_of_birth > today || new.date_of_birth < NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date") {
        return Err(ApiError::bad_request(
            "validation",
            "date_of_birth must be between 1900-01-01 and today",
        ));
    }
    let phone = validate::phone(new.phone.as_deref())?;
    let language = new.preferred_language.as_deref().unwrap_or("es").trim().to_lowercase();
    if !LANGUAGES.contains(&language.as_str()) {
        return Err(ApiError::bad_request(
            "validation",
            format!("preferred_language must be one of {LANGUAGES:?}"),
        ));
    }
    let curp = match new.curp.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(raw) => {
            let valid = curp::validate(raw).map_err(|e| ApiError::bad_request("invalid_curp", e.message()))?;
            check_curp_matches(&valid, new.date_of_birth, new.sex)?;
            Some(valid)
        }
        None => None,
    };
    let search_name = text_fold(&format!("{given} {family}"));
    let now = Utc::now();
    let sql = format!(
        "INSERT INTO patients (folio, given_names, family_names, date_of_birth, sex, phone, preferred_language, \
         curp, registered_clinic, created_by, created_at, search_name) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {}",
        PATIENT_COLUMNS.replace("p.", "")
    );
    // A folio collision is astronomically unlikely, but costs only a retry.
    let mut attempt = 0;
    let patient: Patient = loop {
        attempt += 1;
        let result: Result<Patient, sqlx::Error> = on_db!(&state.db, pool => {
            sqlx::query_as(&sql)
                .bind(new_folio())
                .bind(&given)
                .bind(&family)
                .bind(new.date_of_birth)
                .bind(sex_str(new.sex))
                .bind(&phone)
                .bind(&language)
                .bind(&curp)
                .bind(&user.clinic_clues)
                .bind(user.id)
                .bind(now)
                .bind(&search_name)
                .fetch_one(pool)
                .await
        });
        match result {
            Ok(p) => break p,
            Err(e) => match classify(&e) {
                DbFailure::Constraint(c) if c.contains("curp") => {
                    return Err(ApiError::conflict(
                        "patient_exists",
                        "a patient with this CURP is already registered",
                    ))
                }
                DbFailure::Constraint(_) if attempt < 3 => continue,
                _ => return Err(e.into()),
            },
        }
    };
    state
        .audit
        .on_patient(
            &user.actor(),
            &client,
            "patient.create",
            patient.id,
            "patient",
            patient.id,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(patient)))
}

fn sex_str(sex: Sex) -> &'static str {
    match sex {
        Sex::F => "F",
        Sex::M => "M",
        Sex::X => "X",
    }
}

/// The CURP encodes birth date and sex; a mismatch is almost always a typo
/// in one of the fields, better caught now than in the clinical record.
fn check_curp_matches(curp: &str, dob: NaiveDate, sex: Sex) -> Result<(), ApiError> {
    let encoded_dob = dob.format("%y%m%d").to_string();
    if curp.get(4..10) != Some(encoded_dob.as_str()) {
        return Err(ApiError::bad_request(
            "curp_mismatch",
            "the CURP's birth date does not match date_of_birth",
        ));
    }
    let encoded_sex = match sex {
        Sex::F => "M", // mujer
        Sex::M => "H", // hombre
        Sex::X => "X",
    };
    if curp.get(10..11) != Some(encoded_sex) {
        return Err(ApiError::bad_request(
            "curp_mismatch",
            "the CURP's sex does not match sex",
        ));
    }
    Ok(())
}

/// `CER-XXXX-XXXX` in Crockford base32 (no I, L, O, U: easy to read aloud).
fn new_folio() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::thread_rng();
    let mut chars = (0..8).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
    let first: String = chars.by_ref().take(4).collect();
    let second: String = chars.collect();
    format!("CER-{first}-{second}")
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PatientSearch {
    /// Words of the name (accent- and case-insensitive), among visible patients.
    pub q: Option<String>,
    /// An exact CURP: finds the patient even if not yet yours, so that
    /// scheduling does not create a duplicate record. Audited.
    pub curp: Option<String>,
}

/// Searches patients by name (within your patients) or by exact CURP.
#[utoipa::path(get, path = "/api/patients", params(PatientSearch),
    responses((status = 200, body = Vec<Patient>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiQuery(query): ApiQuery<PatientSearch>,
) -> ApiResult<Json<Vec<Patient>>> {
    user.require(&[Role::Specialist, Role::Staff])?;
    let scope = Scope::of(&user);
    let patients: Vec<Patient> = if let Some(raw) = query.curp.as_deref().filter(|c| !c.trim().is_empty()) {
        let valid = curp::validate(raw).map_err(|e| ApiError::bad_request("invalid_curp", e.message()))?;
        let sql = format!("SELECT {PATIENT_COLUMNS} FROM patients p WHERE p.curp = $1");
        on_db!(&state.db, pool => sqlx::query_as(&sql).bind(&valid).fetch_all(pool).await?)
    } else {
        let q = validate::optional_text("q", query.q.as_deref(), 100, false)?.unwrap_or_default();
        let words: Vec<String> = text_fold(&q).split_whitespace().take(4).map(like_pattern).collect();
        let mut sql = format!(
            "SELECT {PATIENT_COLUMNS} FROM patients p WHERE {}",
            patient_condition(1)
        );
        for i in 0..words.len() {
            sql.push_str(&format!(" AND p.search_name LIKE ${} ESCAPE '\\'", i + 4));
        }
        sql.push_str(" ORDER BY p.family_names, p.given_names LIMIT 50");
        on_db!(&state.db, pool => {
            let mut query = bind_scope!(sqlx::query_as(&sql), scope);
            for w in &words {
                query = query.bind(w);
            }
            query.fetch_all(pool).await?
        })
    };
    let actor = user.actor();
    let events: Vec<Event> = patients
        .iter()
        .map(|p| Event {
            actor: &actor,
            action: "patient.search",
            patient_id: Some(p.id),
            object_type: "patient",
            object_id: Some(p.id.to_string()),
            client: Some(&client),
        })
        .collect();
    state.audit.record_all(&events).await?;
    Ok(Json(patients))
}

fn like_pattern(word: &str) -> String {
    let escaped = word.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// Loads one patient if `user` may see it.
pub async fn load_visible(state: &AppState, user: &CurrentUser, id: i64) -> ApiResult<Patient> {
    let scope = Scope::of(user);
    let sql = format!(
        "SELECT {PATIENT_COLUMNS} FROM patients p WHERE p.id = $4 AND {}",
        patient_condition(1)
    );
    let found: Option<Patient> = on_db!(&state.db, pool => {
        bind_scope!(sqlx::query_as(&sql), scope).bind(id).fetch_optional(pool).await?
    });
    found.ok_or(ApiError::NotFound("patient"))
}

/// One patient.
#[utoipa::path(get, path = "/api/patients/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = Patient), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Patient>> {
    let patient = load_visible(&state, &user, id).await?;
    state
        .audit
        .on_patient(
            &user.actor(),
            &client,
            "patient.read",
            patient.id,
            "patient",
            patient.id,
        )
        .await?;
    Ok(Json(patient))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientChange {
    pub given_names: Option<String>,
    pub family_names: Option<String>,
    pub phone: Option<String>,
    pub preferred_language: Option<String>,
    /// Adds a CURP to a patient registered without one (validated against
    /// birth date and sex). A CURP already on record is not replaced here.
    pub curp: Option<String>,
}

/// Corrects a patient's details (the "rectification" of the patient's ARCO
/// rights). Audited; the clinical record keeps the names as they were signed.
#[utoipa::path(patch, path = "/api/patients/{id}", params(("id" = i64, Path)), request_body = PatientChange,
    responses((status = 200, body = Patient), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(change): ApiJson<PatientChange>,
) -> ApiResult<Json<Patient>> {
    user.require(&[Role::Specialist, Role::Staff])?;
    let current = load_visible(&state, &user, id).await?;
    let given = change
        .given_names
        .as_deref()
        .map(|v| validate::text("given_names", v, 120, false))
        .transpose()?;
    let family = change
        .family_names
        .as_deref()
        .map(|v| validate::text("family_names", v, 120, false))
        .transpose()?;
    let phone = validate::phone(change.phone.as_deref())?;
    let language = change.preferred_language.as_deref().map(|l| l.trim().to_lowercase());
    if language.as_deref().is_some_and(|l| !LANGUAGES.contains(&l)) {
        return Err(ApiError::bad_request(
            "validation",
            format!("preferred_language must be one of {LANGUAGES:?}"),
        ));
    }
    let curp = match change.curp.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(_) if current.curp.is_some() => {
            return Err(ApiError::conflict("curp_on_record", "this patient already has a CURP"));
        }
        Some(raw) => {
            let valid = curp::validate(raw).map_err(|e| ApiError::bad_request("invalid_curp", e.message()))?;
            let sex = match current.sex.as_str() {
                "F" => Sex::F,
                "M" => Sex::M,
                _ => Sex::X,
            };
            check_curp_matches(&valid, current.date_of_birth, sex)?;
            Some(valid)
        }
        None => None,
    };
    let new_given = given.clone().unwrap_or_else(|| current.given_names.clone());
    let new_family = family.clone().unwrap_or_else(|| current.family_names.clone());
    let search_name = text_fold(&format!("{new_given} {new_family}"));
    let result: Result<u64, sqlx::Error> = on_db!(&state.db, pool => {
        sqlx::query(
            "UPDATE patients SET given_names = $1, family_names = $2, phone = COALESCE($3, phone), \
             preferred_language = COALESCE($4, preferred_language), curp = COALESCE($5, curp), search_name = $6 \
             WHERE id = $7",
        )
        .bind(&new_given)
        .bind(&new_family)
        .bind(&phone)
        .bind(&language)
        .bind(&curp)
        .bind(&search_name)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    });
    if let Err(e) = result {
        return Err(match classify(&e) {
            DbFailure::Constraint(_) => ApiError::conflict("patient_exists", "another patient has this CURP"),
            _ => e.into(),
        });
    }
    state
        .audit
        .on_patient(&user.actor(), &client, "patient.update", id, "patient", id)
        .await?;
    Ok(Json(load_visible(&state, &user, id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folio_shape() {
        let f = new_folio();
        assert_eq!(f.len(), 13);
        assert!(f.starts_with("CER-"));
        assert!(!f.contains('I') && !f.contains('O'));
    }

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("50%_a"), "%50\\%\\_a%");
    }
}
