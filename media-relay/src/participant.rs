//! One participant of a consult as the relay sees it: its `str0m::Rtc` (ICE-lite,
//! DTLS-SRTP, one per peer), the tracks it publishes, the tracks it receives
//! from the others, and where their SDP renegotiation stands.
//!
//! Why this is separate from the room: everything here concerns one peer and
//! one `Rtc`; the engine only moves things *between* participants.

use std::collections::VecDeque;
use std::time::Instant;

use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequest, KeyframeRequestKind, MediaData, MediaKind, Mid, Rid};
use str0m::{Event, IceConnectionState, Output, Rtc};

use crate::engine::{RelayEvent, Transmit};

/// A track the participant sends to the relay.
#[derive(Debug)]
pub(crate) struct TrackIn {
    pub mid: Mid,
    pub kind: MediaKind,
    /// The one simulcast encoding forwarded for now: the first RID seen on
    /// this track (or none without simulcast). See the crate TODO list.
    pub rid: Option<Option<Rid>>,
}

/// Another participant's track, as sent to this one.
#[derive(Debug)]
pub(crate) struct TrackOut {
    pub origin: String,
    pub mid_in: Mid,
    pub kind: MediaKind,
    pub state: OutState,
}

/// Where a forwarded track stands in this participant's SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutState {
    /// Needs an m-line in the next offer.
    ToOpen,
    /// In an offer that has not been answered yet.
    Negotiating(Mid),
    /// Answered: media can be written on this mid.
    Open(Mid),
    /// Its publisher left: the m-line must be stopped in the next offer.
    ToStop(Mid),
    /// Stopped in an offer not answered yet.
    Stopping(Mid),
}

/// What one participant's `Rtc` produced that concerns the others.
#[derive(Debug)]
pub(crate) enum Propagate {
    TrackAdded {
        origin: String,
        mid: Mid,
        kind: MediaKind,
    },
    Media {
        origin: String,
        // Boxed: a frame's metadata dwarfs the other variants.
        data: Box<MediaData>,
    },
    /// A subscriber asks for a keyframe on a track it receives.
    Keyframe {
        subscriber: String,
        req: KeyframeRequest,
    },
}

pub(crate) struct Participant {
    pub id: String,
    pub room: String,
    pub rtc: Rtc,
    /// Our ICE ufrag for this peer: the key that routes its STUN to it.
    pub ufrag: String,
    /// The peer's first offer has been answered; only then may we offer.
    pub negotiated: bool,
    pub pending: Option<SdpPendingOffer>,
    pub tracks_in: Vec<TrackIn>,
    pub tracks_out: Vec<TrackOut>,
    pub timeout: Option<Instant>,
    /// ICE consent lost or the `Rtc` failed: the engine removes it.
    pub dead: bool,
}

impl Participant {
    /// Moves the `Rtc`'s clock to `now` (its timers, and the time its next
    /// output is stamped with).
    pub fn tick(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(str0m::Input::Timeout(now)) {
            tracing::warn!(participant = %self.id, error = %e, "rtc failed on timeout");
            self.dead = true;
        }
    }

    /// Drains `rtc.poll_output()` until it names its next timeout.
    pub fn poll(
        &mut self,
        transmits: &mut VecDeque<Transmit>,
        events: &mut VecDeque<RelayEvent>,
        propagate: &mut Vec<Propagate>,
    ) {
        while !self.dead && self.rtc.is_alive() {
            let output = match self.rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(participant = %self.id, error = %e, "rtc failed");
                    self.dead = true;
                    break;
                }
            };
            match output {
                Output::Timeout(t) => {
                    self.timeout = Some(t);
                    return;
                }
                Output::Transmit(t) => transmits.push_back(Transmit {
                    destination: t.destination,
                    contents: t.contents.to_vec(),
                }),
                Output::Event(e) => self.on_event(e, events, propagate),
            }
        }
        self.dead = true;
    }

    fn on_event(&mut self, event: Event, events: &mut VecDeque<RelayEvent>, propagate: &mut Vec<Propagate>) {
        match event {
            Event::Connected => events.push_back(RelayEvent::ParticipantConnected {
                participant: self.id.clone(),
            }),
            // An ICE-lite side never restarts ICE itself: once consent is
            // lost the peer must rejoin through signaling.
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => self.dead = true,
            // Our own send-only m-lines also announce themselves here; only
            // what the peer sends is a published track.
            Event::MediaAdded(m) if matches!(m.direction, Direction::RecvOnly | Direction::SendRecv) => {
                self.tracks_in.push(TrackIn {
                    mid: m.mid,
                    kind: m.kind,
                    rid: None,
                });
                propagate.push(Propagate::TrackAdded {
                    origin: self.id.clone(),
                    mid: m.mid,
                    kind: m.kind,
                });
            }
            Event::MediaData(data) => {
                let Some(track) = self.tracks_in.iter_mut().find(|t| t.mid == data.mid) else {
                    return;
                };
                let chosen = *track.rid.get_or_insert(data.rid);
                if chosen == data.rid {
                    propagate.push(Propagate::Media {
                        origin: self.id.clone(),
                        data: Box::new(data),
                    });
                }
            }
            Event::KeyframeRequest(req) => propagate.push(Propagate::Keyframe {
                subscriber: self.id.clone(),
                req,
            }),
            _ => {}
        }
    }

    /// Writes another participant's media onto the matching outgoing track.
    pub fn forward(&mut self, origin: &str, data: &MediaData) {
        let Some(mid) = self.tracks_out.iter().find_map(|t| match t.state {
            OutState::Open(mid) if t.origin == origin && t.mid_in == data.mid => Some(mid),
            _ => None,
        }) else {
            return;
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return;
        };
        // The peer may have negotiated another payload type for the same codec.
        let Some(pt) = writer.match_params(data.params) else {
            return;
        };
        if let Err(e) = writer.write(pt, data.network_time, data.time, data.data.clone()) {
            tracing::debug!(participant = %self.id, error = %e, "write failed");
        }
    }

    /// Asks this participant for a keyframe on one of its published tracks.
    pub fn request_keyframe(&mut self, mid_in: Mid, kind: KeyframeRequestKind) {
        let Some(rid) = self.tracks_in.iter().find(|t| t.mid == mid_in).map(|t| t.rid.flatten()) else {
            return;
        };
        if let Some(mut writer) = self.rtc.writer(mid_in) {
            // Fails when the peer negotiated no PLI/FIR; nothing more to do then.
            let _ = writer.request_keyframe(rid, kind);
        }
    }

    /// Builds an offer for every forwarded track that needs an m-line added or
    /// stopped, unless an offer is already outstanding or the peer has not
    /// finished its own first negotiation.
    pub fn renegotiate(&mut self) -> Option<SdpOffer> {
        let changes = self
            .tracks_out
            .iter()
            .any(|t| matches!(t.state, OutState::ToOpen | OutState::ToStop(_)));
        if !changes || !self.negotiated || self.pending.is_some() || self.dead {
            return None;
        }
        let mut api = self.rtc.sdp_api();
        for track in &mut self.tracks_out {
            match track.state {
                OutState::ToOpen => {
                    // The stream id groups one publisher's audio and video in
                    // the client (one `MediaStream` per participant).
                    let mid = api.add_media(track.kind, Direction::SendOnly, Some(track.origin.clone()), None, None);
                    track.state = OutState::Negotiating(mid);
                }
                OutState::ToStop(mid) => {
                    api.stop_media(mid);
                    track.state = OutState::Stopping(mid);
                }
                _ => {}
            }
        }
        let (offer, pending) = api.apply()?;
        self.pending = Some(pending);
        Some(offer)
    }

    /// The peer made an offer: any offer of ours is void (str0m drops it), so
    /// its tracks go back to be offered again.
    pub fn forget_pending_offer(&mut self) {
        self.pending = None;
        for track in &mut self.tracks_out {
            track.state = match track.state {
                OutState::Negotiating(_) => OutState::ToOpen,
                OutState::Stopping(mid) => OutState::ToStop(mid),
                s => s,
            };
        }
    }

    /// Our offer was answered: returns the forwarded video tracks that just
    /// opened, whose publishers should send a keyframe for the newcomer.
    pub fn offer_answered(&mut self) -> Vec<(String, Mid)> {
        self.tracks_out.retain(|t| !matches!(t.state, OutState::Stopping(_)));
        let mut opened = Vec::new();
        for track in &mut self.tracks_out {
            if let OutState::Negotiating(mid) = track.state {
                track.state = OutState::Open(mid);
                if track.kind == MediaKind::Video {
                    opened.push((track.origin.clone(), track.mid_in));
                }
            }
        }
        opened
    }

    /// A publisher left: drop what was never negotiated, stop what was.
    pub fn origin_left(&mut self, origin: &str) {
        self.tracks_out
            .retain(|t| t.origin != origin || t.state != OutState::ToOpen);
        for track in self.tracks_out.iter_mut().filter(|t| t.origin == origin) {
            track.state = match track.state {
                OutState::Negotiating(mid) | OutState::Open(mid) => OutState::ToStop(mid),
                s => s,
            };
        }
    }
}
