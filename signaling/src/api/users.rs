//! Accounts and clinics. Admins create and deactivate accounts; everyone
//! signed in can list clinics and specialists (needed to schedule).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validate;
use crate::auth::{password, CurrentUser, Role};
use crate::db::Db;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::on_db;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub password: String,
    pub role: Role,
    pub full_name: String,
    /// Cédula profesional; required for specialists.
    pub cedula: Option<String>,
    pub specialty: Option<String>,
    /// CLUES of the clinic; required for clinic staff.
    pub clinic_clues: Option<String>,
}

#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub email: String,
    #[schema(value_type = String)]
    pub role: String,
    pub full_name: String,
    pub cedula: Option<String>,
    pub specialty: Option<String>,
    pub clinic_clues: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "id, email, role, full_name, cedula, specialty, clinic_clues, active, created_at";

/// Validates and stores a new account. Shared by the API and `cerca admin create`.
pub async fn create_user(db: &Db, new: NewUser) -> ApiResult<User> {
    let email = validate::email(&new.email)?;
    password::check_policy(&new.password).map_err(|m| ApiError::bad_request("weak_password", m))?;
    let full_name = validate::text("full_name", &new.full_name, 200, false)?;
    let cedula = validate::optional_text("cedula", new.cedula.as_deref(), 20, false)?;
    if let Some(c) = &cedula {
        if !c.chars().all(|ch| ch.is_ascii_alphanumeric()) {
            return Err(ApiError::bad_request(
                "validation",
                "cedula may hold only letters and digits",
            ));
        }
    }
    let specialty = validate::optional_text("specialty", new.specialty.as_deref(), 120, false)?;
    let clinic_clues =
        validate::optional_text("clinic_clues", new.clinic_clues.as_deref(), 20, false)?.map(|c| c.to_uppercase());
    match new.role {
        Role::Specialist if cedula.is_none() => {
            return Err(ApiError::bad_request(
                "validation",
                "a specialist needs a cedula profesional",
            ))
        }
        Role::Staff if clinic_clues.is_none() => {
            return Err(ApiError::bad_request("validation", "clinic staff need a clinic_clues"))
        }
        _ => {}
    }
    if let Some(clues) = &clinic_clues {
        if !clinic_exists(db, clues).await? {
            return Err(ApiError::bad_request(
                "unknown_clinic",
                format!("no clinic with CLUES {clues}"),
            ));
        }
    }
    let hash = password::hash(new.password).await?;
    let sql = format!(
        "INSERT INTO users (email, password_hash, role, full_name, cedula, specialty, clinic_clues, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {USER_COLUMNS}"
    );
    let result: Result<User, sqlx::Error> = on_db!(db, pool => {
        sqlx::query_as(&sql)
            .bind(&email)
            .bind(hash)
            .bind(new.role.as_str())
            .bind(full_name)
            .bind(cedula)
            .bind(specialty)
            .bind(clinic_clues)
            .bind(Utc::now())
            .fetch_one(pool)
            .await
    });
    result.map_err(|e| match crate::db::classify(&e) {
        crate::db::DbFailure::Constraint(_) => ApiError::conflict("email_taken", "an account with this e-mail exists"),
        _ => e.into(),
    })
}

async fn clinic_exists(db: &Db, clues: &str) -> ApiResult<bool> {
    let found: Option<String> = on_db!(db, pool => {
        sqlx::query_scalar("SELECT clues FROM clinics WHERE clues = $1")
            .bind(clues)
            .fetch_optional(pool)
            .await?
    });
    Ok(found.is_some())
}

/// Creates an account (admin only).
#[utoipa::path(post, path = "/api/users", request_body = NewUser,
    responses((status = 201, body = User), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    user.require(&[Role::Admin])?;
    Ok((StatusCode::CREATED, Json(create_user(&state.db, new).await?)))
}

/// Lists accounts (admin only).
#[utoipa::path(get, path = "/api/users", responses((status = 200, body = Vec<User>), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<Vec<User>>> {
    user.require(&[Role::Admin])?;
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
    let users: Vec<User> = on_db!(&state.db, pool => sqlx::query_as(&sql).fetch_all(pool).await?);
    Ok(Json(users))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub active: Option<bool>,
    pub full_name: Option<String>,
    pub specialty: Option<String>,
    pub password: Option<String>,
}

/// Changes an account (admin only): deactivate, rename, reset password.
/// Deactivating also ends the account's sessions.
#[utoipa::path(patch, path = "/api/users/{id}", request_body = UserChange,
    params(("id" = i64, Path)),
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(change): ApiJson<UserChange>,
) -> ApiResult<Json<User>> {
    user.require(&[Role::Admin])?;
    if id == user.id && change.active == Some(false) {
        return Err(ApiError::bad_request(
            "validation",
            "you cannot deactivate your own account",
        ));
    }
    let full_name = change
        .full_name
        .as_deref()
        .map(|n| validate::text("full_name", n, 200, false))
        .transpose()?;
    let specialty = validate::optional_text("specialty", change.specialty.as_deref(), 120, false)?;
    let hash = match change.password {
        Some(p) => {
            password::check_policy(&p).map_err(|m| ApiError::bad_request("weak_password", m))?;
            Some(password::hash(p).await?)
        }
        None => None,
    };
    let sql = format!(
        "UPDATE users SET active = COALESCE($1, active), full_name = COALESCE($2, full_name), \
         specialty = COALESCE($3, specialty), password_hash = COALESCE($4, password_hash) \
         WHERE id = $5 RETURNING {USER_COLUMNS}"
    );
    let updated: Option<User> = on_db!(&state.db, pool => {
        sqlx::query_as(&sql)
            .bind(change.active)
            .bind(full_name)
            .bind(specialty)
            .bind(&hash)
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    let updated = updated.ok_or(ApiError::NotFound("user"))?;
    if change.active == Some(false) || hash.is_some() {
        on_db!(&state.db, pool => {
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(Utc::now())
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
    }
    Ok(Json(updated))
}

/// A specialist, as shown to whoever schedules a consult.
#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Specialist {
    pub id: i64,
    pub full_name: String,
    pub specialty: Option<String>,
}

/// Lists active specialists (any signed-in user, for scheduling).
#[utoipa::path(get, path = "/api/specialists", responses((status = 200, body = Vec<Specialist>), (status = 401, body = ErrorBody)))]
pub async fn specialists(State(state): State<AppState>, _user: CurrentUser) -> ApiResult<Json<Vec<Specialist>>> {
    let rows: Vec<Specialist> = on_db!(&state.db, pool => {
        sqlx::query_as("SELECT id, full_name, specialty FROM users WHERE role = 'specialist' AND active ORDER BY full_name")
            .fetch_all(pool)
            .await?
    });
    Ok(Json(rows))
}

#[derive(Deserialize, Serialize, ToSchema, sqlx::FromRow)]
pub struct Clinic {
    /// CLUES: the Secretaría de Salud's unique code for a health facility.
    pub clues: String,
    pub name: String,
    #[serde(default)]
    pub state: String,
    /// IANA time zone the clinic's day is shown in.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
}

fn default_time_zone() -> String {
    "America/Mexico_City".into()
}

/// Validates and stores a clinic. Shared by the API and `cerca clinic create`.
pub async fn create_clinic_record(db: &Db, clinic: Clinic) -> ApiResult<Clinic> {
    let clues = validate::text("clues", &clinic.clues, 20, false)?.to_uppercase();
    if clues.len() < 5 || !clues.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::bad_request(
            "validation",
            "clues must be 5-20 letters and digits (e.g. CSSSA001234)",
        ));
    }
    let clinic = Clinic {
        clues,
        name: validate::text("name", &clinic.name, 200, false)?,
        state: validate::optional_text("state", Some(&clinic.state), 60, false)?.unwrap_or_default(),
        time_zone: super::time::parse_tz(&clinic.time_zone)?.name().to_string(),
    };
    let result: Result<_, sqlx::Error> = on_db!(db, pool => {
        sqlx::query("INSERT INTO clinics (clues, name, state, time_zone, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&clinic.clues)
            .bind(&clinic.name)
            .bind(&clinic.state)
            .bind(&clinic.time_zone)
            .bind(Utc::now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    });
    result.map_err(|e| match crate::db::classify(&e) {
        crate::db::DbFailure::Constraint(_) => ApiError::conflict("clinic_exists", "a clinic with this CLUES exists"),
        _ => e.into(),
    })?;
    Ok(clinic)
}

/// Registers a clinic (admin only).
#[utoipa::path(post, path = "/api/clinics", request_body = Clinic,
    responses((status = 201, body = Clinic), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_clinic(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(clinic): ApiJson<Clinic>,
) -> ApiResult<(StatusCode, Json<Clinic>)> {
    user.require(&[Role::Admin])?;
    let clinic = create_clinic_record(&state.db, clinic).await?;
    Ok((StatusCode::CREATED, Json(clinic)))
}

/// Lists clinics (any signed-in user).
#[utoipa::path(get, path = "/api/clinics", responses((status = 200, body = Vec<Clinic>), (status = 401, body = ErrorBody)))]
pub async fn list_clinics(State(state): State<AppState>, _user: CurrentUser) -> ApiResult<Json<Vec<Clinic>>> {
    let rows: Vec<Clinic> = on_db!(&state.db, pool => {
        sqlx::query_as("SELECT clues, name, state, time_zone FROM clinics ORDER BY name")
            .fetch_all(pool)
            .await?
    });
    Ok(Json(rows))
}
