//! Carries the media relay's events to the sockets: a re-offer goes to its
//! participant as an `offer` message; a paused or resumed video as
//! `video-paused` (with why: the receiver's bandwidth, or the sender's
//! network) / `video-resumed`; the simulcast layers a publisher may stop
//! as `layers`; a participant the relay dropped (ICE consent lost) is marked
//! so its next `offer` joins the relay again.
//!
//! The relay waits when its event queue is full, so this task only does
//! non-blocking sends into the sockets' outboxes. It ends when the relay
//! task stops (its sender drops).

use std::sync::Arc;

use media_relay::{LeaveReason, PauseReason, RelayEvent, RelayEvents};

use super::protocol::ServerMessage;
use super::rooms::Rooms;

pub async fn route(mut events: RelayEvents, rooms: Arc<Rooms>) {
    while let Some(event) = events.recv().await {
        match event {
            RelayEvent::Offer { participant, sdp } => rooms.send_to(&participant, ServerMessage::Offer { sdp }),
            RelayEvent::ParticipantConnected { participant } => {
                tracing::debug!(%participant, "media connected");
            }
            RelayEvent::ParticipantLeft {
                participant,
                reason: LeaveReason::Disconnected,
            } => {
                tracing::info!(%participant, "media disconnected");
                let _ = rooms.set_in_relay(&participant, false);
            }
            RelayEvent::ParticipantLeft { .. } => {}
            RelayEvent::VideoPaused {
                participant,
                origin,
                reason,
            } => {
                let reason = pause_reason(&rooms, &origin, reason);
                rooms.send_to(
                    &participant,
                    ServerMessage::VideoPaused {
                        participant_id: origin,
                        reason: reason.to_string(),
                    },
                )
            }
            RelayEvent::VideoResumed { participant, origin } => {
                rooms.send_to(&participant, ServerMessage::VideoResumed { participant_id: origin })
            }
            RelayEvent::LayersWanted {
                participant,
                mid,
                rids,
                max_bps,
            } => rooms.send_to(
                &participant,
                ServerMessage::Layers {
                    mid,
                    active: rids,
                    max_bitrate: max_bps.into_iter().collect(),
                },
            ),
        }
    }
    tracing::debug!("relay events ended");
}

/// The reason a receiver is told. The relay says `no_layers` when the
/// publisher sends no video at all; signaling knows whether the publisher
/// turned its camera off (then `no_layers`: the tile already says "camera
/// off") or has it on and its uplink cannot carry video (`sender_network`:
/// the receiver should hear why the picture stopped, not see it frozen).
fn pause_reason(rooms: &Rooms, origin: &str, reason: PauseReason) -> &'static str {
    match reason {
        PauseReason::NoLayers if rooms.profile_of(origin).is_some_and(|p| p.video) => "sender_network",
        other => other.as_str(),
    }
}
