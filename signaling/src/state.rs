//! The state every handler shares: a cheap clone of handles, no locks held
//! across awaits.

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::auth::ratelimit::RateLimiter;
use crate::config::Config;
use crate::db::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub audit: Arc<AuditLog>,
    pub login_limiter: Arc<RateLimiter>,
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        AppState {
            audit: Arc::new(AuditLog::new(db.clone())),
            login_limiter: Arc::new(RateLimiter::new(config.login_attempts, config.login_window)),
            db,
            config: Arc::new(config),
        }
    }
}
