//! The signaling WebSocket `/ws` (docs/protocol.md). It authenticates at the
//! upgrade (a session cookie for staff and specialists, a join token for a
//! patient), then hands the socket to its session.
//!
//! | module | one job |
//! |---|---|
//! | [`protocol`] | the messages as typed enums; parse errors become `error` replies |
//! | [`session`] | one socket's loop and the room state machine |
//! | [`rooms`] | who is connected, in which room, waiting; per-socket outboxes |
//! | [`chat`] | check, store and audit chat lines |
//! | [`relay_events`] | carry the media relay's re-offers to the sockets |

pub mod chat;
pub mod protocol;
pub mod relay_events;
pub mod rooms;
pub mod session;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};

use crate::api::{consent, join_links};
use crate::auth::{session as auth_session, SESSION_COOKIE};
use crate::error::ApiError;
use crate::extract::{ApiQuery, ClientInfo};
use crate::state::AppState;
use session::Identity;

pub const PROTOCOL_VERSION: u32 = 1;
/// Largest message accepted; SDP is a few kB.
const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    /// A patient's join token.
    pub join: Option<String>,
}

/// Who is on the socket, as `hello` tells them.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Peer {
    Staff { user_id: i64, role: &'static str },
    Patient { consult_id: i64 },
}

pub async fn upgrade(
    State(state): State<AppState>,
    jar: CookieJar,
    client: ClientInfo,
    ApiQuery(query): ApiQuery<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let identity = match query.join {
        Some(token) => {
            let consult = join_links::resolve(&state, &token).await?.consult;
            // The socket carries media signaling: no media before express consent.
            consent::require_privacy(&state, consult.id).await?;
            Identity::Patient { consult_id: consult.id }
        }
        None => {
            let cookie = jar.get(SESSION_COOKIE).ok_or(ApiError::Unauthenticated)?;
            let user = auth_session::authenticate(&state, cookie.value())
                .await?
                .ok_or(ApiError::Unauthenticated)?;
            Identity::Staff(user)
        }
    };
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| session::run(socket, state, identity, client))
        .into_response())
}
