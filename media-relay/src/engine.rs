//! The relay's sans-I/O core: rooms of participants on one shared UDP
//! address, driven str0m-style by [`Relay::handle_input`] and drained with
//! [`Relay::poll_transmit`], [`Relay::poll_event`] and [`Relay::poll_timeout`].
//! It reads no clock and owns no socket, so the tokio module that drives it
//! stays a few lines of plumbing.
//!
//! Demultiplexing: every participant's `Rtc` shares the port. A STUN datagram
//! is routed by the relay ufrag in its USERNAME ([`crate::stun`]); anything else
//! by its source address, learnt from the STUN that str0m accepted from it.
//! Whatever matches nobody, or that the chosen `Rtc` refuses, is dropped and
//! counted in [`RelayStats`] — never a panic, never a disconnect.
//!
//! Forwarding is **frame level**: str0m depacketizes each publisher's media
//! into `Event::MediaData` and we write the frame to every subscriber's
//! matching send-only track, where str0m packetizes it again. Why this first:
//! str0m then handles NACK/RTX, pacing and RTCP per leg by itself, and
//! payload types are matched per peer. Simulcast layer switching with
//! [`crate::rewrite`] needs RTP mode instead (see the crate's TODO list).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::KeyframeRequestKind;
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::{Candidate, IceCreds, Rtc};

use crate::error::RelayError;
use crate::participant::{OutState, Participant, Propagate, TrackOut};
use crate::stun;

/// A consult has 2–6 participants (patient, specialist, clinic staff, an
/// interpreter or family member).
pub const DEFAULT_MAX_PER_ROOM: usize = 6;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The address peers send to: the one host candidate in every answer.
    pub public_addr: SocketAddr,
    pub max_per_room: usize,
}

impl RelayConfig {
    pub fn new(public_addr: SocketAddr) -> Self {
        RelayConfig {
            public_addr,
            max_per_room: DEFAULT_MAX_PER_ROOM,
        }
    }
}

/// What the network or the clock hands the relay.
#[derive(Debug)]
pub enum Input<'a> {
    /// A datagram that arrived on the relay's socket.
    Receive { source: SocketAddr, contents: &'a [u8] },
    /// The time returned by [`Relay::poll_timeout`] has come (early is fine).
    Timeout,
}

/// A datagram to send from the relay's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// What the signaling layer must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// The relay re-offers to a participant (new or departed tracks of
    /// others); carry `sdp` to it and return its answer with `accept_answer`.
    Offer { participant: String, sdp: String },
    /// ICE and DTLS are up: media can flow.
    ParticipantConnected { participant: String },
    /// The participant is gone from its room.
    ParticipantLeft { participant: String, reason: LeaveReason },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// `leave` was called.
    Left,
    /// ICE consent was lost or its connection failed.
    Disconnected,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub datagrams_received: u64,
    /// Matched no participant, or was not even STUN/DTLS/RTP-shaped.
    pub datagrams_unrouted: u64,
    /// Routed to a participant whose `Rtc` refused it.
    pub datagrams_refused: u64,
}

impl RelayStats {
    pub fn dropped(&self) -> u64 {
        self.datagrams_unrouted + self.datagrams_refused
    }
}

pub struct Relay {
    config: RelayConfig,
    participants: HashMap<String, Participant>,
    /// Room name → participant ids, in join order.
    rooms: BTreeMap<String, Vec<String>>,
    by_ufrag: HashMap<String, String>,
    by_addr: HashMap<SocketAddr, String>,
    /// Participants whose `Rtc` may have output: only these are polled, so
    /// a datagram costs work in its own room, not in every room.
    dirty: BTreeSet<String>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<RelayEvent>,
    stats: RelayStats,
}

impl Relay {
    pub fn new(config: RelayConfig) -> Self {
        Relay {
            config,
            participants: HashMap::new(),
            rooms: BTreeMap::new(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            dirty: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: RelayStats::default(),
        }
    }

    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    pub fn stats(&self) -> RelayStats {
        self.stats
    }

    /// Adds a participant to a room (created on first join). Media starts
    /// after its offer is answered by [`Relay::accept_offer`].
    pub fn join(&mut self, now: Instant, room: &str, participant: &str) -> Result<(), RelayError> {
        if self.participants.contains_key(participant) {
            return Err(RelayError::AlreadyJoined(participant.to_string()));
        }
        let members = self.rooms.get(room).map_or(0, Vec::len);
        if members >= self.config.max_per_room {
            return Err(RelayError::RoomFull {
                room: room.to_string(),
                max: self.config.max_per_room,
            });
        }
        let creds = IceCreds::new();
        let ufrag = creds.ufrag.clone();
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .set_local_ice_credentials(creds)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(now);
        let candidate = Candidate::host(self.config.public_addr, "udp")
            .map_err(|e| RelayError::Rejected(format!("host candidate: {e}")))?;
        rtc.add_local_candidate(candidate);

        // Everything already published in the room will be offered to the
        // newcomer once its own first negotiation is done.
        let mut tracks_out = Vec::new();
        for other in self.rooms.get(room).into_iter().flatten() {
            let p = &self.participants[other];
            for t in &p.tracks_in {
                tracks_out.push(TrackOut {
                    origin: other.clone(),
                    mid_in: t.mid,
                    kind: t.kind,
                    state: OutState::ToOpen,
                });
            }
        }
        self.by_ufrag.insert(ufrag.clone(), participant.to_string());
        self.rooms
            .entry(room.to_string())
            .or_default()
            .push(participant.to_string());
        self.participants.insert(
            participant.to_string(),
            Participant {
                id: participant.to_string(),
                room: room.to_string(),
                rtc,
                ufrag,
                negotiated: false,
                pending: None,
                tracks_in: Vec::new(),
                tracks_out,
                timeout: None,
                dead: false,
            },
        );
        self.dirty.insert(participant.to_string());
        self.drive();
        Ok(())
    }

    /// Answers a participant's offer (its first, or a renegotiation).
    pub fn accept_offer(&mut self, now: Instant, participant: &str, sdp: &str) -> Result<String, RelayError> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| RelayError::BadSdp(e.to_string()))?;
        let p = self.participant_mut(participant)?;
        p.forget_pending_offer();
        let answer = p
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| RelayError::Rejected(e.to_string()))?;
        p.negotiated = true;
        p.tick(now);
        self.dirty.insert(participant.to_string());
        self.drive();
        Ok(answer.to_sdp_string())
    }

    /// Takes a participant's answer to the last [`RelayEvent::Offer`].
    pub fn accept_answer(&mut self, now: Instant, participant: &str, sdp: &str) -> Result<(), RelayError> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| RelayError::BadSdp(e.to_string()))?;
        let p = self.participant_mut(participant)?;
        let pending = p
            .pending
            .take()
            .ok_or_else(|| RelayError::NoPendingOffer(participant.to_string()))?;
        if let Err(e) = p.rtc.sdp_api().accept_answer(pending, answer) {
            // The offer is void either way: offer its tracks again.
            p.forget_pending_offer();
            p.tick(now);
            self.dirty.insert(participant.to_string());
            self.drive();
            return Err(RelayError::Rejected(e.to_string()));
        }
        p.tick(now);
        for (origin, mid_in) in p.offer_answered() {
            // A new subscriber's decoder needs a keyframe to start.
            if let Some(publisher) = self.participants.get_mut(&origin) {
                publisher.request_keyframe(mid_in, KeyframeRequestKind::Pli);
                self.dirty.insert(origin);
            }
        }
        self.dirty.insert(participant.to_string());
        self.drive();
        Ok(())
    }

    /// Removes a participant; the others get offers that stop its tracks.
    pub fn leave(&mut self, now: Instant, participant: &str) -> Result<(), RelayError> {
        if !self.participants.contains_key(participant) {
            return Err(RelayError::UnknownParticipant(participant.to_string()));
        }
        let peers = self.room_peers(participant);
        self.remove(participant, LeaveReason::Left);
        for id in peers {
            if let Some(p) = self.participants.get_mut(&id) {
                p.tick(now);
                self.dirty.insert(id);
            }
        }
        self.drive();
        Ok(())
    }

    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Timeout => {
                for p in self.participants.values_mut() {
                    if p.timeout.is_some_and(|t| t <= now) {
                        p.tick(now);
                        self.dirty.insert(p.id.clone());
                    }
                }
            }
            Input::Receive { source, contents } => self.receive(now, source, contents),
        }
        self.drive();
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for signaling, if any.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// When to call `handle_input(now, Input::Timeout)` next; `None` while
    /// there is nobody to serve.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.participants.values().filter_map(|p| p.timeout).min()
    }

    fn receive(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) {
        self.stats.datagrams_received += 1;
        let is_stun = stun::is_stun(bytes);
        let owner = if is_stun {
            stun::local_ufrag(bytes).and_then(|u| self.by_ufrag.get(u))
        } else {
            self.by_addr.get(&source)
        };
        let (Some(owner), Ok(contents)) = (owner.cloned(), DatagramRecv::try_from(bytes)) else {
            self.stats.datagrams_unrouted += 1;
            return;
        };
        let Some(p) = self.participants.get_mut(&owner) else {
            self.stats.datagrams_unrouted += 1;
            return;
        };
        let input = str0m::Input::Receive(
            now,
            // The destination is the address the peer knows us by, which is
            // what its `Rtc` has as local candidate (the socket may be behind a 1:1 NAT).
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.config.public_addr,
                contents,
            },
        );
        if !p.rtc.accepts(&input) {
            self.stats.datagrams_refused += 1;
            return;
        }
        self.dirty.insert(owner.clone());
        match p.rtc.handle_input(input) {
            Ok(()) if is_stun => {
                self.by_addr.insert(source, owner);
            }
            Ok(()) => {}
            Err(e) => {
                // Bad input from the network is not a reason to end a call.
                tracing::debug!(participant = %owner, error = %e, "datagram refused");
                self.stats.datagrams_refused += 1;
            }
        }
    }

    /// Polls every dirty `Rtc` until it waits on a timeout, moving media,
    /// track announcements and keyframe requests to the participants they
    /// concern (which makes those dirty), until nothing more moves; then
    /// removes the dead and sends offers.
    fn drive(&mut self) {
        while !self.dirty.is_empty() {
            let mut propagate = Vec::new();
            for id in std::mem::take(&mut self.dirty) {
                if let Some(p) = self.participants.get_mut(&id) {
                    p.poll(&mut self.transmits, &mut self.events, &mut propagate);
                }
            }
            for item in propagate {
                self.propagate(item);
            }
        }
        let dead: Vec<String> = self
            .participants
            .values()
            .filter(|p| p.dead)
            .map(|p| p.id.clone())
            .collect();
        for id in &dead {
            self.remove(id, LeaveReason::Disconnected);
        }
        for p in self.participants.values_mut() {
            if let Some(offer) = p.renegotiate() {
                self.events.push_back(RelayEvent::Offer {
                    participant: p.id.clone(),
                    sdp: offer.to_sdp_string(),
                });
                // Adding media changes what the Rtc must send next.
                p.poll(&mut self.transmits, &mut self.events, &mut Vec::new());
            }
        }
    }

    fn propagate(&mut self, item: Propagate) {
        match item {
            Propagate::TrackAdded { origin, mid, kind } => {
                for other in self.room_peers(&origin) {
                    if let Some(p) = self.participants.get_mut(&other) {
                        p.tracks_out.push(TrackOut {
                            origin: origin.clone(),
                            mid_in: mid,
                            kind,
                            state: OutState::ToOpen,
                        });
                    }
                }
            }
            Propagate::Media { origin, data } => {
                for other in self.room_peers(&origin) {
                    if let Some(p) = self.participants.get_mut(&other) {
                        p.forward(&origin, &data);
                        self.dirty.insert(other);
                    }
                }
            }
            Propagate::Keyframe { subscriber, req } => {
                let source = self.participants.get(&subscriber).and_then(|s| {
                    s.tracks_out.iter().find_map(|t| match t.state {
                        OutState::Open(mid) if mid == req.mid => Some((t.origin.clone(), t.mid_in)),
                        _ => None,
                    })
                });
                if let Some((origin, mid_in)) = source {
                    if let Some(publisher) = self.participants.get_mut(&origin) {
                        publisher.request_keyframe(mid_in, req.kind);
                        self.dirty.insert(origin);
                    }
                }
            }
        }
    }

    /// The other members of `participant`'s room.
    fn room_peers(&self, participant: &str) -> Vec<String> {
        let Some(p) = self.participants.get(participant) else {
            return Vec::new();
        };
        self.rooms[&p.room]
            .iter()
            .filter(|id| *id != participant)
            .cloned()
            .collect()
    }

    fn remove(&mut self, participant: &str, reason: LeaveReason) {
        let Some(mut p) = self.participants.remove(participant) else {
            return;
        };
        // Best effort: tells the peer (DTLS close_notify) if it still listens.
        let _ = p.rtc.close();
        p.poll(&mut self.transmits, &mut VecDeque::new(), &mut Vec::new());
        self.by_ufrag.remove(&p.ufrag);
        self.dirty.remove(participant);
        self.by_addr.retain(|_, owner| owner != participant);
        if let Some(members) = self.rooms.get_mut(&p.room) {
            members.retain(|m| m != participant);
            if members.is_empty() {
                self.rooms.remove(&p.room);
            }
        }
        for other in self.participants.values_mut() {
            other.origin_left(participant);
        }
        self.events.push_back(RelayEvent::ParticipantLeft {
            participant: participant.to_string(),
            reason,
        });
    }

    fn participant_mut(&mut self, participant: &str) -> Result<&mut Participant, RelayError> {
        self.participants
            .get_mut(participant)
            .ok_or_else(|| RelayError::UnknownParticipant(participant.to_string()))
    }

    /// Rooms that exist (have at least one participant); for tests and metrics.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }
}
