//! Carries the media relay's events to the sockets: a re-offer goes to its
//! participant as an `offer` message; a paused or resumed video as
//! `video-paused` / `video-resumed`; the simulcast layers a publisher may stop
//! as `layers`; a participant the relay dropped (ICE consent lost) is marked
//! so its next `offer` joins the relay again.
//!
//! The relay waits when its event queue is full, so this task only does
//! non-blocking sends into the sockets' outboxes. It ends when the relay
//! task stops (its sender drops).

use std::sync::Arc;

use media_relay::{LeaveReason, RelayEvent, RelayEvents};

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
            } => rooms.send_to(
                &participant,
                ServerMessage::VideoPaused {
                    participant_id: origin,
                    reason: reason.as_str().to_string(),
                },
            ),
            RelayEvent::VideoResumed { participant, origin } => {
                rooms.send_to(&participant, ServerMessage::VideoResumed { participant_id: origin })
            }
            RelayEvent::LayersWanted { participant, mid, rids } => {
                rooms.send_to(&participant, ServerMessage::Layers { mid, active: rids })
            }
        }
    }
    tracing::debug!("relay events ended");
}
