//! The patient's network check, part of the device check before the waiting
//! room: a short WebRTC connection to the media relay, alone in a relay room
//! of its own, so the page can say whether a video call gets through this
//! network (over UDP, or ICE-TCP where UDP is blocked) and how long the round
//! trip is — before anyone waits for a call that cannot connect.
//!
//! It carries no media from the patient (the page offers one receive-only
//! audio line), ends after [`CHECK_LIFETIME`] or when the page says so, and a
//! consult has at most one at a time: a new check replaces the last.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::consent;
use super::join_links;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// Long enough to connect over a slow 3G link and measure a few round
/// trips; short enough that a forgotten check costs the relay nothing.
pub const CHECK_LIFETIME: Duration = Duration::from_secs(20);
/// An offer with one audio line is a few kilobytes; anything far larger is not one.
const MAX_SDP: usize = 32 * 1024;

static NEXT_CHECK: AtomicU64 = AtomicU64::new(1);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkCheckRequest {
    /// The page's SDP offer (one `recvonly` audio line is enough).
    pub sdp: String,
}

#[derive(Serialize, ToSchema)]
pub struct NetworkCheck {
    /// Names this check, to end it early.
    pub check_id: String,
    /// The relay's SDP answer.
    pub sdp: String,
    /// The relay ends the check by itself after this long.
    pub expires_in_s: u64,
}

/// Starts a network check: the relay answers the page's offer.
#[utoipa::path(post, path = "/api/join/{token}/network-check", params(("token" = String, Path)), request_body = NetworkCheckRequest,
    responses((status = 200, body = NetworkCheck), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    ApiJson(req): ApiJson<NetworkCheckRequest>,
) -> ApiResult<Json<NetworkCheck>> {
    let consult = join_links::resolve(&state, &token).await?.consult;
    consent::require_privacy(&state, consult.id).await?;
    if req.sdp.trim().is_empty() || req.sdp.len() > MAX_SDP {
        return Err(ApiError::bad_request("bad_sdp", "sdp must be an SDP offer"));
    }
    let check_id = format!("check-{}-{}", consult.id, NEXT_CHECK.fetch_add(1, Ordering::Relaxed));
    if let Some(previous) = state.network_checks.replace(consult.id, &check_id) {
        let _ = state.relay.leave(previous).await;
    }
    // The same path as the call would take (a link emulator in tests).
    let via = state.config.media_patient_via;
    let answered = match state.relay.join_via(check_id.clone(), check_id.clone(), via).await {
        Ok(()) => state.relay.accept_offer(check_id.clone(), req.sdp).await,
        Err(e) => Err(e),
    };
    let sdp = match answered {
        Ok(sdp) => sdp,
        Err(e) => {
            end(&state, consult.id, &check_id).await;
            return Err(from_relay(e));
        }
    };
    let expiring = (state.clone(), consult.id, check_id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(CHECK_LIFETIME).await;
        end(&expiring.0, expiring.1, &expiring.2).await;
    });
    Ok(Json(NetworkCheck {
        check_id,
        sdp,
        expires_in_s: CHECK_LIFETIME.as_secs(),
    }))
}

/// Ends a network check before it expires.
#[utoipa::path(delete, path = "/api/join/{token}/network-check/{check_id}", params(("token" = String, Path), ("check_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn stop(
    State(state): State<AppState>,
    ApiPath((token, check_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let consult = join_links::resolve(&state, &token).await?.consult;
    if !state.network_checks.is_current(consult.id, &check_id) {
        return Err(ApiError::NotFound("network check"));
    }
    end(&state, consult.id, &check_id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Leaves the relay (if still there) and forgets the check if it is the current one.
async fn end(state: &AppState, consult_id: i64, check_id: &str) {
    state.network_checks.forget(consult_id, check_id);
    let _ = state.relay.leave(check_id.to_string()).await;
}

fn from_relay(e: media_relay::RelayError) -> ApiError {
    use media_relay::RelayError as E;
    match e {
        E::BadSdp(m) | E::Rejected(m) => ApiError::bad_request("bad_sdp", m),
        other => ApiError::Internal(anyhow::anyhow!("media relay: {other}")),
    }
}

/// The current check of each consult.
#[derive(Debug, Default)]
pub struct NetworkChecks(std::sync::Mutex<std::collections::HashMap<i64, String>>);

impl NetworkChecks {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, String>> {
        // A panic elsewhere while holding this lock leaves a plain map behind.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `check_id` the consult's check; returns the one it replaces.
    fn replace(&self, consult_id: i64, check_id: &str) -> Option<String> {
        self.lock().insert(consult_id, check_id.to_string())
    }

    fn is_current(&self, consult_id: i64, check_id: &str) -> bool {
        self.lock().get(&consult_id).is_some_and(|c| c == check_id)
    }

    fn forget(&self, consult_id: i64, check_id: &str) {
        let mut map = self.lock();
        if map.get(&consult_id).is_some_and(|c| c == check_id) {
            map.remove(&consult_id);
        }
    }

    /// Checks running now (for tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
