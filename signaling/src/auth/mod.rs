//! Who is calling: passwords, sessions, the login rate limit and the
//! extractors handlers use to require a role.

pub mod password;
pub mod ratelimit;
pub mod session;
pub mod token;

pub use session::{CurrentUser, Role, SESSION_COOKIE};
