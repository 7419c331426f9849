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
//! matching send-only track, where str0m packetizes it again; per-leg NACK/RTX,
//! pacing, TWCC and RTCP are str0m's. For video, each subscriber's track has a
//! [`crate::rewrite::VideoRewriter`] that passes only the layer
//! the adaptation pass (`adapt.rs`) chose and keeps timestamps continuous across switches
//! (decision 0003).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{KeyframeRequestKind, MediaData};
use str0m::net::{DatagramRecv, Protocol, Receive, TcpType};
use str0m::{Candidate, IceCreds, Rtc};

use crate::adapt::{self, ADAPT_EVERY, INITIAL_ESTIMATE_BPS};
use crate::allocator::{Allocator, AllocatorConfig, PauseReason};
use crate::codecs;
use crate::error::RelayError;
use crate::layer::{Layer, LayerSet};
use crate::participant::{OutState, Participant, Propagate, TrackOut};
use crate::stats::{ParticipantStats, StatsCollector, VideoLayerStat, STATS_INTERVAL};
use crate::stun;

/// A consult has 2–6 participants (patient, specialist, clinic staff, an
/// interpreter or family member).
pub const DEFAULT_MAX_PER_ROOM: usize = 6;

/// What one audio track toward a subscriber costs before video gets
/// anything: Opus at about 32 kbit/s with RED's copy of the previous frame,
/// plus RTP/SRTP/UDP/IP headers at 50 packets a second (DTX makes silence
/// cheaper; speech is what must not break up).
pub const AUDIO_RESERVE_BPS: u64 = 64_000;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The address peers send to: the UDP host candidate in every answer.
    pub public_addr: SocketAddr,
    pub max_per_room: usize,
    /// Also announce a passive ICE-TCP candidate at `public_addr` (the I/O
    /// layer listens for TCP on the same port number), for networks that
    /// block UDP.
    pub tcp: bool,
}

impl RelayConfig {
    pub fn new(public_addr: SocketAddr) -> Self {
        RelayConfig {
            public_addr,
            max_per_room: DEFAULT_MAX_PER_ROOM,
            tcp: false,
        }
    }
}

/// What the network or the clock hands the relay.
#[derive(Debug)]
pub enum Input<'a> {
    /// A datagram that arrived on the relay's UDP socket (`Protocol::Udp`),
    /// or one frame from an ICE-TCP connection (`Protocol::Tcp`, `source`
    /// naming the connection).
    Receive {
        proto: Protocol,
        source: SocketAddr,
        contents: &'a [u8],
    },
    /// The time returned by [`Relay::poll_timeout`] has come (early is fine).
    Timeout,
}

/// A datagram to send from the relay's UDP socket, or a frame to write to
/// the ICE-TCP connection from `destination`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub proto: Protocol,
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
    /// `origin`'s video to `participant` is paused (audio goes on); tell
    /// the participant why, so it shows that instead of a frozen frame.
    VideoPaused {
        participant: String,
        origin: String,
        reason: PauseReason,
    },
    /// `origin`'s video to `participant` flows again.
    VideoResumed { participant: String, origin: String },
    /// Of the publisher's simulcast track `mid`, only the layers `rids` are
    /// taken by anyone: it may stop encoding and sending the others. Each
    /// layer named in `max_bps` (RID, bit/s) should stay under its figure:
    /// the lowest at the weakest subscriber's share of its link, so that
    /// it gets video at all; the top at the strongest subscriber's, so
    /// that one can take it at all (see `adapt.rs`).
    LayersWanted {
        participant: String,
        mid: String,
        rids: Vec<String>,
        max_bps: Vec<(String, u64)>,
    },
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
    /// Everything the relay sent: media, RTCP, STUN, DTLS.
    pub datagrams_sent: u64,
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
    /// Where a peer's non-STUN packets come from: (transport, address).
    by_addr: HashMap<(Protocol, SocketAddr), String>,
    /// Participants whose `Rtc` may have output: only these are polled, so
    /// a datagram costs work in its own room, not in every room.
    dirty: BTreeSet<String>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<RelayEvent>,
    stats: RelayStats,
    /// The time of the latest input, for work that follows from it.
    now: Instant,
    /// When the next adaptation pass is due.
    next_adapt: Option<Instant>,
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
            now: Instant::now(),
            next_adapt: None,
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
        self.join_via(now, room, participant, None)
    }

    /// [`Relay::join`], announcing `via` instead of the relay's public
    /// address to this participant: a link emulator in front of the relay,
    /// so that this one participant's media crosses an emulated network.
    pub fn join_via(
        &mut self,
        now: Instant,
        room: &str,
        participant: &str,
        via: Option<SocketAddr>,
    ) -> Result<(), RelayError> {
        self.now = now;
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
        let mut rtc = codecs::configure(Rtc::builder())
            .set_ice_lite(true)
            .set_local_ice_credentials(creds)
            .enable_bwe(Some(Bitrate::bps(INITIAL_ESTIMATE_BPS)))
            .set_stats_interval(Some(STATS_INTERVAL))
            .build(now);
        let announced = via.unwrap_or(self.config.public_addr);
        let candidate =
            Candidate::host(announced, "udp").map_err(|e| RelayError::Rejected(format!("host candidate: {e}")))?;
        rtc.add_local_candidate(candidate);
        // A link emulator passes UDP only: TCP always goes to the relay itself.
        let announced_tcp = self.config.tcp.then_some(self.config.public_addr);
        if let Some(addr) = announced_tcp {
            let candidate = Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(TcpType::Passive)
                .build()
                .map_err(|e| RelayError::Rejected(format!("tcp candidate: {e}")))?;
            rtc.add_local_candidate(candidate);
        }

        // Everything already published in the room will be offered to the
        // newcomer once its own first negotiation is done.
        let mut existing = Vec::new();
        for other in self.rooms.get(room).into_iter().flatten() {
            let p = &self.participants[other];
            existing.extend(p.tracks_in.iter().map(|t| (other.clone(), t.mid, t.kind)));
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
                announced,
                announced_tcp,
                negotiated: false,
                pending: None,
                tracks_in: Vec::new(),
                tracks_out: Vec::new(),
                timeout: None,
                dead: false,
                connected: false,
                allocator: Allocator::new(AllocatorConfig {
                    audio_reserve_bps: AUDIO_RESERVE_BPS,
                    ..AllocatorConfig::default()
                }),
                estimate_bps: None,
                bwe_target: (0, 0),
                probe: Default::default(),
                next_track_id: 0,
                stats: StatsCollector::default(),
                outage: Default::default(),
                estimate_trend: Default::default(),
                held_estimate: Default::default(),
            },
        );
        let p = self.participants.get_mut(participant).expect("inserted just above");
        for (origin, mid_in, kind) in existing {
            let id = p.new_track_id();
            p.tracks_out.push(TrackOut::new(origin, mid_in, kind, id));
        }
        self.next_adapt.get_or_insert(now);
        self.dirty.insert(participant.to_string());
        self.drive();
        Ok(())
    }

    /// Answers a participant's offer (its first, or a renegotiation).
    pub fn accept_offer(&mut self, now: Instant, participant: &str, sdp: &str) -> Result<String, RelayError> {
        self.now = now;
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
        self.now = now;
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
        p.offer_answered();
        // The new video tracks start paused; the adaptation pass picks their
        // layer and asks the publisher for its keyframe.
        self.next_adapt = Some(now);
        self.dirty.insert(participant.to_string());
        self.drive();
        Ok(())
    }

    /// Removes a participant; the others get offers that stop its tracks.
    pub fn leave(&mut self, now: Instant, participant: &str) -> Result<(), RelayError> {
        self.now = now;
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
        self.now = now;
        match input {
            Input::Timeout => {
                if self.next_adapt.is_some_and(|t| t <= now) {
                    self.adapt(now);
                }
                for p in self.participants.values_mut() {
                    if p.timeout.is_some_and(|t| t <= now) {
                        p.tick(now);
                        self.dirty.insert(p.id.clone());
                    }
                }
            }
            Input::Receive {
                proto,
                source,
                contents,
            } => self.receive(now, proto, source, contents),
        }
        self.drive();
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.transmits.pop_front()?;
        self.stats.datagrams_sent += 1;
        Some(t)
    }

    /// The next event for signaling, if any.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// When to call `handle_input(now, Input::Timeout)` next; `None` while
    /// there is nobody to serve.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let rtc = self.participants.values().filter_map(|p| p.timeout).min();
        rtc.into_iter().chain(self.next_adapt).min()
    }

    /// Runs the adaptation pass ([`crate::adapt`]) and schedules the next one
    /// while anyone is there to adapt for.
    fn adapt(&mut self, now: Instant) {
        for p in self.participants.values_mut() {
            p.tick(now);
        }
        adapt::run(now, &mut self.participants, &mut self.events, &mut self.dirty);
        self.next_adapt = (!self.participants.is_empty()).then(|| now + ADAPT_EVERY);
    }

    /// Every participant's link figures, for quality reports and metrics.
    pub fn participant_stats(&self) -> Vec<ParticipantStats> {
        let mut all: Vec<ParticipantStats> = self
            .participants
            .values()
            .map(|p| ParticipantStats {
                participant: p.id.clone(),
                room: p.room.clone(),
                bitrate_in_bps: p.stats.bitrate_in_bps,
                bitrate_out_bps: p.stats.bitrate_out_bps,
                estimate_bps: p.estimate_now(),
                loss_in: p.stats.loss_in,
                loss_out: p.stats.loss_out,
                rtt_ms: p.stats.rtt.map(|d| d.as_millis() as u64),
                nacks_received: p.stats.nacks(),
                keyframe_requests_received: p.stats.keyframe_requests(),
                video_frames_skipped: p.stats.video_frames_skipped,
                video: p
                    .tracks_out
                    .iter()
                    .filter(|t| matches!(t.state, OutState::Open(_)))
                    .filter_map(|t| {
                        let v = t.video.as_ref()?;
                        Some(VideoLayerStat {
                            origin: t.origin.clone(),
                            layer: v.rewriter.current().map(|l| l.index() as u8),
                            paused: v.told_paused.map(PauseReason::as_str),
                        })
                    })
                    .collect(),
            })
            .collect();
        all.sort_by(|a, b| (&a.room, &a.participant).cmp(&(&b.room, &b.participant)));
        all
    }

    fn receive(&mut self, now: Instant, proto: Protocol, source: SocketAddr, bytes: &[u8]) {
        self.stats.datagrams_received += 1;
        let is_stun = stun::is_stun(bytes);
        let owner = if is_stun {
            stun::local_ufrag(bytes).and_then(|u| self.by_ufrag.get(u))
        } else {
            self.by_addr.get(&(proto, source))
        };
        let (Some(owner), Ok(contents)) = (owner.cloned(), DatagramRecv::try_from(bytes)) else {
            self.stats.datagrams_unrouted += 1;
            return;
        };
        let Some(mut p) = self.participants.get_mut(&owner) else {
            self.stats.datagrams_unrouted += 1;
            return;
        };
        // The destination is the address the peer knows us by, which is
        // what its `Rtc` has as local candidate (the socket may be behind a
        // 1:1 NAT, or a link emulator).
        let destination = match proto {
            Protocol::Udp => p.announced,
            _ => match p.announced_tcp {
                Some(addr) if proto == Protocol::Tcp => addr,
                _ => {
                    self.stats.datagrams_unrouted += 1;
                    return;
                }
            },
        };
        let input = str0m::Input::Receive(
            now,
            Receive {
                proto,
                source,
                destination,
                contents,
            },
        );
        if !p.rtc.accepts(&input) {
            self.stats.datagrams_refused += 1;
            return;
        }
        self.dirty.insert(owner.clone());
        if p.outage.heard(now, p.estimate_bps) {
            // Before str0m sees this datagram, which reveals the gap.
            self.link_returned(&owner);
            p = self.participants.get_mut(&owner).expect("looked up above");
        }
        match p.rtc.handle_input(input) {
            Ok(()) if is_stun => {
                self.by_addr.insert((proto, source), owner);
            }
            Ok(()) => {}
            Err(e) => {
                // Bad input from the network is not a reason to end a call.
                tracing::debug!(participant = %owner, error = %e, "datagram refused");
                self.stats.datagrams_refused += 1;
            }
        }
    }

    /// `participant` is heard again after an outage (`outage.rs`): the
    /// video sent to and from it meanwhile is lost, so every such stream
    /// goes on at a keyframe, which the next adaptation pass asks the
    /// publisher for, rather than with delta frames the receiver cannot
    /// decode (a browser asks for a keyframe itself only after a second or
    /// more of a frozen picture: `bench/bench rural --profile dropout`);
    /// and what it sent into the outage is not asked for again
    /// (`nack_pause.rs`).
    fn link_returned(&mut self, participant: &str) {
        tracing::debug!(participant, "heard again after an outage");
        for p in self.participants.values_mut() {
            let subscriber = p.id == participant;
            if subscriber {
                p.pause_video_nacks();
            }
            for t in &mut p.tracks_out {
                if let Some(video) = t.video.as_mut().filter(|_| subscriber || t.origin == participant) {
                    video.rewriter.drop_current();
                }
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
                        let id = p.new_track_id();
                        p.tracks_out.push(TrackOut::new(origin.clone(), mid, kind, id));
                    }
                }
            }
            Propagate::Media {
                origin,
                layer,
                proven,
                data,
            } => {
                let mut keyframe_for = None;
                log_frame_held(&origin, layer, self.now, &data);
                // Read at the relay's clock as the frame is handed on: a
                // keyframe's first packet can come well before its last.
                // Only a keyframe above the lowest layer can switch a
                // subscriber up.
                let switch_up_to = layer.filter(|&l| data.is_keyframe() && l > Layer::LOW);
                let (behind, publisher_rtt) = match (self.participants.get_mut(&origin), switch_up_to) {
                    (Some(p), Some(l)) => (p.behind_layers(&data, l, self.now), p.stats.rtt),
                    (Some(p), None) => (LayerSet::EMPTY, p.stats.rtt),
                    (None, _) => (LayerSet::EMPTY, None),
                };
                for other in self.room_peers(&origin) {
                    if let Some(p) = self.participants.get_mut(&other) {
                        if let Some(wanted) = p.forward(&origin, layer, proven, behind, &data, publisher_rtt) {
                            keyframe_for = Some(wanted);
                        }
                        self.dirty.insert(other);
                    }
                }
                if let (Some(wanted), Some(publisher)) = (keyframe_for, self.participants.get_mut(&origin)) {
                    publisher.request_keyframe(self.now, data.mid, wanted, KeyframeRequestKind::Pli);
                    self.dirty.insert(origin);
                }
            }
            Propagate::Keyframe { subscriber, req } => {
                // The subscriber lost its decoder state: it needs a keyframe
                // (`VideoRewriter::keyframe_to_restart`).
                let source = self.participants.get(&subscriber).and_then(|s| {
                    s.tracks_out.iter().find_map(|t| match t.state {
                        OutState::Open(mid) if mid == req.mid => {
                            let layer = t.video.as_ref().and_then(|v| v.rewriter.keyframe_to_restart());
                            Some((t.origin.clone(), t.mid_in, layer.unwrap_or(Layer::LOW)))
                        }
                        _ => None,
                    })
                });
                if let Some((origin, mid_in, layer)) = source {
                    if let Some(publisher) = self.participants.get_mut(&origin) {
                        publisher.request_keyframe(self.now, mid_in, layer, req.kind);
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

/// A video frame held at the relay this long was most likely waiting for a
/// lost packet's retransmission: a frame's own packets follow its first
/// within tens of milliseconds, unless it is a large keyframe on a slow link.
const HELD_LOGGED_FROM: Duration = Duration::from_millis(250);

/// Logs a frame str0m handed on long after its first packet came: on a
/// satellite link these holds, of one round trip or more, are where the
/// subscriber's frozen time comes from (decision 0028), so a run's log must
/// show them. One line per frame: every frame behind a lost packet waits
/// with it, so one hold is a burst of lines, the first the longest held.
fn log_frame_held(origin: &str, layer: Option<Layer>, now: Instant, data: &MediaData) {
    let held = now.saturating_duration_since(data.network_time);
    if let Some(layer) = layer.filter(|_| held >= HELD_LOGGED_FROM) {
        tracing::debug!(participant = %origin, layer = layer.index(), held_ms = held.as_millis() as u64, "frame handed on late");
    }
}
