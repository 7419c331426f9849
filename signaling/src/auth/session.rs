//! Staff and specialist sessions: a random token in an HttpOnly,
//! SameSite=Strict cookie, stored only as a hash, expiring after a period
//! without use. [`CurrentUser`] is the extractor every staff-side handler
//! takes; it authenticates once, and the role checks live on it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::token;
use crate::audit::Actor;
use crate::error::ApiError;
use crate::on_db;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "cerca_session";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Specialist,
    Staff,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Specialist => "specialist",
            Role::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "specialist" => Some(Role::Specialist),
            "staff" => Some(Role::Staff),
            _ => None,
        }
    }
}

/// The authenticated staff member or specialist behind a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub role: Role,
    pub email: String,
    pub full_name: String,
    pub cedula: Option<String>,
    pub specialty: Option<String>,
    pub clinic_clues: Option<String>,
    pub session_id: i64,
}

impl CurrentUser {
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.id,
            role: self.role.as_str(),
        }
    }

    pub fn require(&self, allowed: &[Role]) -> Result<(), ApiError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden("your role may not do this"))
        }
    }
}

#[derive(sqlx::FromRow)]
struct SessionUserRow {
    session_id: i64,
    expires_at: DateTime<Utc>,
    id: i64,
    role: String,
    email: String,
    full_name: String,
    cedula: Option<String>,
    specialty: Option<String>,
    clinic_clues: Option<String>,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(cookie) = jar.get(SESSION_COOKIE) else {
            return Err(ApiError::Unauthenticated);
        };
        authenticate(state, cookie.value())
            .await?
            .ok_or(ApiError::Unauthenticated)
    }
}

/// Resolves a session token to its user, sliding the idle expiry forward.
/// Also used by the WebSocket upgrade, which reads the same cookie.
pub async fn authenticate(state: &AppState, raw_token: &str) -> Result<Option<CurrentUser>, ApiError> {
    if !token::is_well_formed(raw_token) {
        return Ok(None);
    }
    let now = Utc::now();
    let row: Option<SessionUserRow> = on_db!(&state.db, pool => {
        sqlx::query_as(
            "SELECT s.id AS session_id, s.expires_at, u.id, u.role, u.email, u.full_name, \
             u.cedula, u.specialty, u.clinic_clues \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.active",
        )
        .bind(token::hash(raw_token))
        .bind(now)
        .fetch_optional(pool)
        .await?
    });
    let Some(row) = row else { return Ok(None) };
    let idle = state.config.session_idle;
    // Extend at most every few minutes, not on every request.
    if row.expires_at - now < idle - chrono::Duration::minutes(5) {
        on_db!(&state.db, pool => {
            sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id = $2")
                .bind(now + idle)
                .bind(row.session_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
    }
    let role = Role::parse(&row.role).ok_or_else(|| anyhow::anyhow!("unknown role in database"))?;
    Ok(Some(CurrentUser {
        id: row.id,
        role,
        email: row.email,
        full_name: row.full_name,
        cedula: row.cedula,
        specialty: row.specialty,
        clinic_clues: row.clinic_clues,
        session_id: row.session_id,
    }))
}

/// Creates a session for `user_id` and returns the cookie that carries it.
pub async fn create(
    state: &AppState,
    user_id: i64,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<Cookie<'static>, ApiError> {
    let raw = token::generate();
    let now = Utc::now();
    on_db!(&state.db, pool => {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, ip, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token::hash(&raw))
        .bind(user_id)
        .bind(now)
        .bind(now + state.config.session_idle)
        .bind(ip)
        .bind(user_agent)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(session_cookie(raw, state.config.secure_cookies))
}

pub async fn revoke(state: &AppState, session_id: i64) -> Result<(), ApiError> {
    on_db!(&state.db, pool => {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2")
            .bind(Utc::now())
            .bind(session_id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(())
}

pub fn session_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .build()
}

pub fn cleared_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = session_cookie(String::new(), secure);
    cookie.make_removal();
    cookie
}
