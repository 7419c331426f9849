//! The signaling WebSocket `/ws`. It authenticates at the upgrade (a session
//! cookie for staff and specialists, a join token for a patient) and speaks
//! versioned JSON messages (see `docs/protocol.md`). The room, SDP and media
//! messages arrive with the media relay; today the socket greets and answers
//! every message with an error saying it is not supported yet.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};

use crate::api::{consent, join_links};
use crate::auth::{session, SESSION_COOKIE};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

pub const PROTOCOL_VERSION: u32 = 1;
/// Largest message accepted; SDP is a few kB.
const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    /// A patient's join token.
    pub join: Option<String>,
}

/// Who is on the socket.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Peer {
    Staff { user_id: i64, role: &'static str },
    Patient { consult_id: i64 },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum ServerMessage<'a> {
    Hello { version: u32, peer: &'a Peer },
    Error { code: &'a str, message: &'a str },
}

pub async fn upgrade(
    State(state): State<AppState>,
    jar: CookieJar,
    ApiQuery(query): ApiQuery<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let peer = match query.join {
        Some(token) => {
            let consult = join_links::resolve(&state, &token).await?.consult;
            // The socket carries media signaling: no media before express consent.
            if !consent::status(&state, consult.id).await?.privacy {
                return Err(ApiError::conflict(
                    "consent_required",
                    "the privacy notice must be accepted first",
                ));
            }
            Peer::Patient { consult_id: consult.id }
        }
        None => {
            let cookie = jar.get(SESSION_COOKIE).ok_or(ApiError::Unauthenticated)?;
            let user = session::authenticate(&state, cookie.value())
                .await?
                .ok_or(ApiError::Unauthenticated)?;
            Peer::Staff {
                user_id: user.id,
                role: user.role.as_str(),
            }
        }
    };
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| serve(socket, peer))
        .into_response())
}

async fn serve(mut socket: WebSocket, peer: Peer) {
    if send(
        &mut socket,
        &ServerMessage::Hello {
            version: PROTOCOL_VERSION,
            peer: &peer,
        },
    )
    .await
    .is_err()
    {
        return;
    }
    while let Some(Ok(msg)) = socket.recv().await {
        let reply = match msg {
            Message::Text(_) | Message::Binary(_) => ServerMessage::Error {
                code: "unsupported",
                message: "room signaling is not available yet",
            },
            Message::Close(_) => break,
            _ => continue,
        };
        if send(&mut socket, &reply).await.is_err() {
            break;
        }
    }
}

async fn send(socket: &mut WebSocket, msg: &ServerMessage<'_>) -> Result<(), axum::Error> {
    let text = serde_json::to_string(msg).unwrap_or_default();
    socket.send(Message::Text(text.into())).await
}
