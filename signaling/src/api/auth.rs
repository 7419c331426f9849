//! Login, logout and "who am I" for staff, specialists and admins.

use std::time::Instant;

use axum::extract::State;
use axum::Json;
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{password, session, CurrentUser, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ClientInfo};
use crate::on_db;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// The signed-in user, as the client needs it.
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub full_name: String,
    pub cedula: Option<String>,
    pub specialty: Option<String>,
    pub clinic_clues: Option<String>,
}

impl From<&CurrentUser> for Me {
    fn from(u: &CurrentUser) -> Self {
        Me {
            id: u.id,
            email: u.email.clone(),
            role: u.role,
            full_name: u.full_name.clone(),
            cedula: u.cedula.clone(),
            specialty: u.specialty.clone(),
            clinic_clues: u.clinic_clues.clone(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    id: i64,
    password_hash: String,
    active: bool,
}

pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Signs in and sets the session cookie. Failed attempts are limited per
/// account and per client address; the answer never says which of e-mail or
/// password was wrong.
#[utoipa::path(post, path = "/api/auth/login", request_body = LoginRequest,
    responses((status = 200, body = Me), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<(CookieJar, Json<Me>)> {
    let email = normalise_email(&req.email);
    if email.len() > 254 || req.password.len() > password::MAX_LEN * 4 {
        return Err(ApiError::bad_request("validation", "e-mail or password too long"));
    }
    let account_key = format!("account:{email}");
    let ip_key = format!("ip:{}", client.ip_string().unwrap_or_default());
    let now = Instant::now();
    let limiter = &state.login_limiter;
    if !limiter.allowed(&account_key, now) || !limiter.allowed(&ip_key, now) {
        return Err(ApiError::TooManyRequests);
    }
    let row: Option<LoginRow> = on_db!(&state.db, pool => {
        sqlx::query_as("SELECT id, password_hash, active FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(pool)
            .await?
    });
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let ok = password::verify(req.password, stored).await?;
    let user_id = match row {
        Some(r) if ok && r.active => r.id,
        _ => {
            limiter.record_failure(&account_key, now);
            limiter.record_failure(&ip_key, now);
            return Err(ApiError::InvalidCredentials);
        }
    };
    limiter.reset(&account_key);
    let cookie = session::create(&state, user_id, client.ip_string(), client.user_agent.clone()).await?;
    let user = session::authenticate(&state, cookie.value())
        .await?
        .ok_or_else(|| anyhow::anyhow!("new session did not authenticate"))?;
    Ok((jar.add(cookie), Json(Me::from(&user))))
}

/// Ends the current session.
#[utoipa::path(post, path = "/api/auth/logout", responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
    jar: CookieJar,
) -> ApiResult<(CookieJar, axum::http::StatusCode)> {
    session::revoke(&state, user.session_id).await?;
    Ok((
        jar.add(session::cleared_cookie(state.config.secure_cookies)),
        axum::http::StatusCode::NO_CONTENT,
    ))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/me", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(user: CurrentUser) -> Json<Me> {
    Json(Me::from(&user))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes your own password. Every other session of yours ends; this one
/// stays signed in.
#[utoipa::path(post, path = "/api/me/password", request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<axum::http::StatusCode> {
    let account_key = format!("account:{}", user.email);
    let now = Instant::now();
    if !state.login_limiter.allowed(&account_key, now) {
        return Err(ApiError::TooManyRequests);
    }
    if req.current_password.len() > password::MAX_LEN * 4 {
        return Err(ApiError::bad_request("validation", "password too long"));
    }
    password::check_policy(&req.new_password).map_err(|m| ApiError::bad_request("weak_password", m))?;
    let stored: String = on_db!(&state.db, pool => {
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1").bind(user.id).fetch_one(pool).await?
    });
    if !password::verify(req.current_password, Some(stored)).await? {
        state.login_limiter.record_failure(&account_key, now);
        return Err(ApiError::InvalidCredentials);
    }
    let hash = password::hash(req.new_password).await?;
    on_db!(&state.db, pool => {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(&hash)
            .bind(user.id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    on_db!(&state.db, pool => {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL")
            .bind(chrono::Utc::now())
            .bind(user.id)
            .bind(user.session_id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(axum::http::StatusCode::NO_CONTENT)
}
