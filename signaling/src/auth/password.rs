//! Password hashing with argon2id. Hashing is deliberately slow, so it runs
//! on the blocking pool and never stalls the async workers.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Shortest password we accept; long passphrases are encouraged instead of
/// composition rules.
pub const MIN_LEN: usize = 10;
/// Longest: argon2 would take anything, but an unbounded body is a DoS lever.
pub const MAX_LEN: usize = 256;

pub fn check_policy(password: &str) -> Result<(), &'static str> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err("password must have at least 10 characters");
    }
    if len > MAX_LEN {
        return Err("password must have at most 256 characters");
    }
    Ok(())
}

pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await?
}

/// Verifies `password` against a stored hash. With `stored` absent (unknown
/// account) it still spends the same effort on a decoy hash and answers
/// false, so response time does not tell which e-mail addresses have accounts.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(decoy_hash);
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(known && matches)
    })
    .await?
}

fn decoy_hash() -> String {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(b"decoy for unknown accounts", &salt)
                .map(|h| h.to_string())
                .expect("argon2 hashes a fixed input with default parameters")
        })
        .clone()
}
