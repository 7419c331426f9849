//! Chat lines: checked, stored with the consult (`chat_messages`) and
//! audited before anyone sees them, so what was said in a consult is on
//! record even if the broadcast never reaches a browser.

use chrono::{DateTime, Utc};

use super::protocol::{ErrorCode, ProtocolError};
use crate::audit::Actor;
use crate::error::ApiResult;
use crate::extract::ClientInfo;
use crate::on_db;
use crate::state::AppState;

pub const MAX_CHARS: usize = 2000;

/// Who wrote a line.
pub enum Sender {
    User { id: i64, role: &'static str },
    Patient { id: i64 },
}

/// 1–2000 characters, not only blanks; no control characters but newline.
pub fn check(text: &str) -> Result<(), ProtocolError> {
    let chars = text.chars().count();
    if text.trim().is_empty() || chars > MAX_CHARS {
        return Err(ProtocolError::new(
            ErrorCode::Malformed,
            format!("a chat line has 1 to {MAX_CHARS} characters"),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ProtocolError::new(
            ErrorCode::Malformed,
            "a chat line may not hold control characters",
        ));
    }
    Ok(())
}

/// Stores and audits one line of `consult_id` (whose patient is `patient_id`);
/// returns when it was sent.
pub async fn store(
    state: &AppState,
    client: &ClientInfo,
    consult_id: i64,
    patient_id: i64,
    sender: &Sender,
    display_name: &str,
    body: &str,
) -> ApiResult<DateTime<Utc>> {
    // Microseconds: what both backends keep exactly.
    let now = Utc::now();
    let sent_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let (kind, user_id, sender_patient_id, actor) = match *sender {
        Sender::User { id, role } => ("user", Some(id), None, Actor::User { id, role }),
        Sender::Patient { id } => ("patient", None, Some(id), Actor::Patient { id }),
    };
    let id: i64 = on_db!(&state.db, pool => {
        sqlx::query_scalar(
            "INSERT INTO chat_messages (consult_id, sender_kind, sender_user_id, sender_patient_id, display_name, \
             body, sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(consult_id)
        .bind(kind)
        .bind(user_id)
        .bind(sender_patient_id)
        .bind(display_name)
        .bind(body)
        .bind(sent_at)
        .fetch_one(pool)
        .await?
    });
    state
        .audit
        .on_patient(&actor, client, "chat.send", patient_id, "chat_message", id)
        .await?;
    Ok(sent_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_length_and_control_characters() {
        assert!(check("Buenos días, doctora").is_ok());
        assert!(check("línea 1\nlínea 2").is_ok());
        assert!(check(&"ñ".repeat(MAX_CHARS)).is_ok());
        assert!(check("").is_err());
        assert!(check(" \n ").is_err());
        assert!(check(&"a".repeat(MAX_CHARS + 1)).is_err());
        assert!(check("tab\there").is_err());
        assert!(check("bell\u{7}").is_err());
        assert!(check("cr\r\n").is_err());
    }
}
