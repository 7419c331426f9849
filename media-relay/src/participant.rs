//! One participant of a consult as the relay sees it: its `str0m::Rtc` (ICE-lite,
//! DTLS-SRTP, one per peer), the tracks it publishes, the tracks it receives
//! from the others, and where their SDP renegotiation stands.
//!
//! Why this is separate from the room: everything here concerns one peer and
//! one `Rtc`; the engine only moves things *between* participants.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpOffer, SdpPendingOffer};
use str0m::media::{
    Direction, Frequency, KeyframeRequest, KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid, Rid,
};
use str0m::{Event, IceConnectionState, Output, Rtc};

use crate::allocator::{Allocator, PauseReason, TrackId};
use crate::engine::{RelayEvent, Transmit};
use crate::layer::{Layer, LayerSet};
use crate::nack_pause::NackPause;
use crate::publish::PublishedVideo;
use crate::rewrite::{Decision, PacketInfo, RewriterConfig, VideoRewriter};
use crate::rtp::Unwrapper;
use crate::send_queue::{self, EstimateTrend, KeyframeWritten, QueueNow, WrittenLog};
use crate::stats::StatsCollector;
use crate::temporal_chain::{FrameLayers, TemporalChain, Verdict};
use crate::vp8::PictureId;
use crate::vp8_packetize::{vp8_extra, FrameDescriptor, Temporal, Vp8Sender};

impl Participant {
    /// A fresh id for a track this participant receives, for the allocator.
    pub fn new_track_id(&mut self) -> TrackId {
        self.next_track_id += 1;
        TrackId(self.next_track_id)
    }
}

/// How long after a report of heavy loss toward the relay the participant's
/// uplink counts as congested, so that only its lowest layer is repaired
/// (`nack_pause.rs`): a few reports, so one clean report in the middle of a
/// collapse does not let the higher layers' NACKs through.
const CONGESTION_REMEMBERED: Duration = Duration::from_secs(1);

/// A track the participant sends to the relay.
#[derive(Debug)]
pub(crate) struct TrackIn {
    pub mid: Mid,
    pub kind: MediaKind,
    /// Simulcast layers, their rates and keyframe throttle; video only.
    pub video: Option<PublishedVideo>,
    /// Video: whose NACKs are paused after an outage (`nack_pause.rs`).
    pub nack_pause: NackPause,
}

/// Another participant's track, as sent to this one.
#[derive(Debug)]
pub(crate) struct TrackOut {
    pub origin: String,
    pub mid_in: Mid,
    pub kind: MediaKind,
    pub state: OutState,
    /// Layer switching for this subscriber; video only.
    pub video: Option<VideoOut>,
    /// The wallclock the last frame was written with ([`write_time`]).
    last_written_at: Option<Instant>,
}

/// One video track toward one subscriber: which layer it gets and the
/// timestamp rewriting that makes layer switches seamless.
#[derive(Debug)]
pub(crate) struct VideoOut {
    pub id: TrackId,
    pub rewriter: VideoRewriter,
    /// Extends the rewriter's 32-bit timestamps for str0m's `MediaTime`.
    out_time: Unwrapper,
    /// Packetizes and numbers VP8 frames, with their picture id and
    /// temporal layer (decision 0019); other codecs go through str0m's
    /// writer.
    vp8: Vp8Sender,
    /// Who numbers this track's packets, once a frame is written. The two
    /// counters would collide on the one outgoing stream, so a publisher
    /// that changes codec mid-call is not forwarded on this track.
    written_by: Option<WrittenBy>,
    /// The pause last reported to the subscriber, so each change is told once.
    pub told_paused: Option<PauseReason>,
    /// The allocator's pause on the last adaptation pass (what
    /// `told_paused` says apart from a wait for a keyframe).
    pub allocator_paused: Option<PauseReason>,
    /// Why the subscriber gets none of this video until its next keyframe
    /// goes out, where that can take more than a second: frames were
    /// skipped for a full send queue (`Bandwidth`), or the layer it had
    /// was dropped when the publisher's uplink stopped carrying it
    /// (collapsed, or the layer stalled: `NoLayers`). Also `NoLayers`
    /// while the layer it has is held for a retransmission and kept
    /// (decision 0026): then the next frame of it ends the wait too.
    /// The adaptation pass tells it as a pause (`adapt::told_pause`).
    pub until_keyframe: Option<PauseReason>,
    /// When a keyframe was written after frames were skipped for a full
    /// send queue: that wait is told over [`SKIP_TOLD_OVER_AFTER`] later if
    /// the picture was neither skipped nor dropped again (`adapt.rs`).
    pub keyframe_after_skip_at: Option<Instant>,
    /// The last keyframe written toward the subscriber: it may take longer
    /// than the queue limit to leave (`send_queue.rs`).
    last_keyframe: Option<KeyframeWritten>,
    /// The frames written toward the subscriber, to tell how much video its
    /// send queue holds (`send_queue.rs`).
    written: WrittenLog,
    /// The publisher's round trip to the relay, the least queue limit
    /// (`send_queue::limit_for_publisher`).
    publisher_rtt: Option<Duration>,
    /// Which frames of the forwarded layer still decode after a gap.
    chain: TemporalChain,
}

/// Who numbers the packets of an outgoing video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WrittenBy {
    /// The relay, cutting VP8 frames itself (`vp8_packetize`).
    Relay,
    /// str0m's frame writer (H.264).
    Str0m,
}

const CODEC_CHANGED: &str = "the publisher changed codec on a track whose packets the other side numbers";

impl TrackOut {
    pub fn new(origin: String, mid_in: Mid, kind: MediaKind, id: TrackId) -> TrackOut {
        let video = (kind == MediaKind::Video).then(|| VideoOut {
            id,
            rewriter: VideoRewriter::new(RewriterConfig {
                // str0m picks the SSRC of the outgoing stream, and packets
                // are numbered as they are cut (`vp8`); the timestamp, the
                // picture id and TL0PICIDX are the rewriter's to keep
                // continuous across switches.
                ssrc: 0,
                clock_rate: 90_000,
                first_seq: 0,
                first_timestamp: rand_u32(id),
                first_picture_id: rand_u32(id) as u16 & 0x7fff,
                first_tl0picidx: 0,
            }),
            out_time: Unwrapper::for_timestamp(),
            // Below 2^15 so the extended number starts in the first roll-over
            // (str0m warns of anything else).
            vp8: Vp8Sender::new((rand_u32(id) >> 17) as u16),
            written_by: None,
            told_paused: None,
            allocator_paused: None,
            until_keyframe: None,
            keyframe_after_skip_at: None,
            last_keyframe: None,
            written: WrittenLog::default(),
            publisher_rtt: None,
            chain: TemporalChain::default(),
        });
        TrackOut {
            origin,
            mid_in,
            kind,
            state: OutState::ToOpen,
            video,
            last_written_at: None,
        }
    }
}

/// A start timestamp that differs per track (RFC 3550 wants it random; the
/// exact value matters to nobody, so no RNG dependency).
fn rand_u32(id: TrackId) -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ (id.0 as u32).wrapping_mul(0x9E37_79B9)
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
        /// The simulcast layer of a video frame (`LOW` without simulcast).
        layer: Option<Layer>,
        /// The layers of the track a viewer on another layer may be switched
        /// to on their keyframe (`PublishedVideo::proven`).
        proven: LayerSet,
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
    /// The relay address this peer was given (its `Rtc`'s local candidate).
    pub announced: std::net::SocketAddr,
    /// The relay's ICE-TCP candidate for this peer, when TCP is on.
    pub announced_tcp: Option<std::net::SocketAddr>,
    /// The peer's first offer has been answered; only then may we offer.
    pub negotiated: bool,
    pub pending: Option<SdpPendingOffer>,
    pub tracks_in: Vec<TrackIn>,
    pub tracks_out: Vec<TrackOut>,
    pub timeout: Option<Instant>,
    /// ICE consent lost or the `Rtc` failed: the engine removes it.
    pub dead: bool,
    /// ICE and DTLS are up (str0m's `Event::Connected`): only then is
    /// media forwarded to it. str0m takes what is written before and sends
    /// it all at once when DTLS completes: seconds of backlog on a
    /// satellite link, which derailed the browser's playout clock for the
    /// whole call (decision 0009).
    pub connected: bool,
    /// Which layer of each received video fits this participant's downlink.
    pub allocator: Allocator,
    /// The latest send-side (relay → participant) estimate str0m reported,
    /// bit/s: the average of its estimator's values over the last 3 s. What
    /// the relay goes by is [`Participant::estimate_now`].
    pub estimate_bps: Option<u64>,
    /// The (minimum, desired) rates last given to str0m's BWE.
    pub bwe_target: (u64, u64),
    /// When to ask str0m for a bandwidth probe toward this participant.
    pub probe: crate::probe::ProbePacer,
    pub next_track_id: u64,
    pub stats: StatsCollector,
    /// Whether the participant's link has gone silent and come back, for
    /// the estimate (`outage.rs`).
    pub outage: crate::outage::OutageWatch,
    /// Whether the estimate toward it is falling: how much video its send
    /// queue may hold (`send_queue.rs`).
    pub estimate_trend: EstimateTrend,
    /// Whether str0m's estimate toward it is standing still under a layer
    /// it could take (`held_estimate.rs`).
    pub held_estimate: crate::held_estimate::HeldEstimate,
}

impl Participant {
    /// The estimate toward this participant to allocate and pace video by
    /// ([`estimate_now`]).
    pub fn estimate_now(&self) -> Option<u64> {
        estimate_now(self.estimate_bps, self.stats.pacer_estimate_bps)
    }

    /// Whether [`Self::estimate_now`] goes by the pacer's fallen estimate
    /// rather than the one str0m reports.
    pub fn pacer_governs(&self) -> bool {
        pacer_governs(self.estimate_bps, self.stats.pacer_estimate_bps)
    }

    /// The rate str0m's pacer sends at now, as far as the relay knows: the
    /// lower of str0m's reported estimate and the pacer's own figure (the
    /// same as the lower of [`Self::estimate_now`] and the pacer's). A send
    /// queue is judged by how long it takes to leave at this rate
    /// (`send_queue.rs`): on a collapse the pacer slows a few hundred
    /// milliseconds before it is under half the reported average (when the
    /// relay starts to allocate by it, decision 0011), and judged by that
    /// average the queue filled with the old layer meanwhile
    /// (bench rural, step-down: pacer at 596 and 510 kbit/s while the relay
    /// still judged by 1.18 and 0.95 Mbit/s, writing 480p at 0.95 Mbit/s for
    /// another 0.3 s).
    pub fn pacing_estimate(&self) -> Option<u64> {
        lower_of(self.estimate_bps, self.stats.pacer_estimate_bps)
    }

    /// Whether [`Self::estimate_now`] is the pacer's: the link toward this
    /// participant is collapsing.
    pub fn link_collapsing(&self) -> bool {
        pacer_governs(self.estimate_bps, self.stats.pacer_estimate_bps)
    }

    /// Restarts str0m's estimator toward this participant at `bps`.
    pub fn restart_estimator(&mut self, bps: u64) {
        self.rtc.bwe().reset(Bitrate::bps(bps));
        self.stats.pacer_estimate_bps = Some(bps);
    }

    /// Moves the `Rtc`'s clock to `now` (its timers, and the time its next
    /// output is stamped with).
    pub fn tick(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(str0m::Input::Timeout(now)) {
            tracing::warn!(participant = %self.id, error = %e, "rtc failed on timeout");
            self.dead = true;
        }
    }

    /// The participant's link just came back after an outage: its video is
    /// not to be NACKed for a while (`nack_pause.rs`). Called before str0m
    /// sees the first datagram after the outage, which reveals the gap.
    pub fn pause_video_nacks(&mut self) {
        for track in &mut self.tracks_in {
            if track.video.is_some() {
                track.nack_pause.pause();
                tell_nack_changes(&mut self.rtc, &self.id, track);
            }
        }
    }

    /// Reads, per layer of each simulcast video it publishes, the RTP time
    /// of the newest media packet str0m has received (`packet_flow.rs`).
    pub fn note_newest_media(&mut self, now: Instant) {
        for track in &mut self.tracks_in {
            let Some(video) = track.video.as_mut().filter(|v| v.is_simulcast()) else {
                continue;
            };
            for layer in (0..video.layer_count()).filter_map(Layer::new) {
                if let Some((ssrc, newest)) = newest_media(&mut self.rtc, track.mid, video.rid_of(layer)) {
                    video.note_newest_media(layer, ssrc, newest, now);
                }
            }
        }
    }

    /// The layers of this participant's video whose frames str0m holds
    /// back at `now` for a retransmission
    /// (`PublishedVideo::behind_layers`), from the newest media str0m has
    /// on each layer's stream; and `layer` too if `data`, its frame being
    /// handed on now, was itself held (`PublishedVideo::frame_was_held`).
    pub fn behind_layers(&mut self, data: &MediaData, layer: Layer, now: Instant) -> LayerSet {
        let mid = data.mid;
        let Some(video) = self
            .tracks_in
            .iter()
            .find(|t| t.mid == mid)
            .and_then(|t| t.video.as_ref())
        else {
            return LayerSet::EMPTY;
        };
        let mut newest = |l: Layer| newest_media(&mut self.rtc, mid, video.rid_of(l)).map(|(_, newest)| newest);
        let mut behind = video.behind_layers(now, &mut newest);
        if PublishedVideo::frame_was_held(now, data.network_time, data.time.numer(), newest(layer)) {
            behind.insert(layer);
        }
        behind
    }

    /// Applies the NACK rule that follows the participant's uplink
    /// (congested or not: `nack_pause.rs`) to str0m, where it changed. Run
    /// on each stats report (every 250 ms), which is what sets and ends a
    /// congestion.
    fn tell_nack_rules(&mut self, now: Instant) {
        let congested = self.stats.heavy_loss_in_within(now, CONGESTION_REMEMBERED);
        for track in &mut self.tracks_in {
            if track.video.as_ref().is_some_and(PublishedVideo::is_simulcast) {
                track.nack_pause.set_congested(congested);
                tell_nack_changes(&mut self.rtc, &self.id, track);
            }
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
                    proto: t.proto,
                    destination: t.destination,
                    contents: t.contents.to_vec(),
                }),
                Output::Event(e) => self.on_event(e, events, propagate),
            }
        }
        self.dead = true;
    }

    fn on_event(&mut self, event: Event, events: &mut VecDeque<RelayEvent>, propagate: &mut Vec<Propagate>) {
        self.stats.on_event(&event);
        if let Event::PeerStats(s) = &event {
            tracing::trace!(
                participant = %self.id,
                pacer_bps = s.bwe_tx.map(|b| b.as_u64()),
                loss_in = s.ingress_loss_fraction,
                loss_out = s.egress_loss_fraction,
                rtt_ms = self.stats.rtt.map(|r| r.as_millis() as u64),
                sent = self.stats.bitrate_out_bps,
                "peer stats"
            );
            // At once, not at the next adaptation pass: every NACK sent for
            // a congested uplink meanwhile costs it.
            self.tell_nack_rules(s.timestamp);
        }
        match event {
            Event::Connected => {
                self.connected = true;
                events.push_back(RelayEvent::ParticipantConnected {
                    participant: self.id.clone(),
                });
            }
            // An ICE-lite side never restarts ICE itself: once consent is
            // lost the peer must rejoin through signaling.
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => self.dead = true,
            // Our own send-only m-lines also announce themselves here; only
            // what the peer sends is a published track.
            Event::MediaAdded(m) if matches!(m.direction, Direction::RecvOnly | Direction::SendRecv) => {
                let video = (m.kind == MediaKind::Video).then(|| {
                    let rids = m.simulcast.map(|s| s.recv.iter().map(|l| l.rid).collect());
                    PublishedVideo::new(rids.unwrap_or_default())
                });
                self.tracks_in.push(TrackIn {
                    mid: m.mid,
                    kind: m.kind,
                    video,
                    nack_pause: NackPause::default(),
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
                let mut proven = LayerSet::ALL;
                let layer = match &mut track.video {
                    None => None,
                    Some(video) => {
                        // A RID the offer did not announce is not ours to forward.
                        let Some(layer) = video.layer_of(data.rid) else { return };
                        video.record_frame(data.network_time, layer, data.data.len(), data.time.numer());
                        proven = video.proven();
                        if data.is_keyframe() {
                            tracing::debug!(participant = %self.id, layer = layer.index(), bytes = data.data.len(), "keyframe received");
                            video.keyframes.keyframe_received(layer);
                        }
                        Some(layer)
                    }
                };
                if let Some(layer) = layer {
                    let (first, last) = (**data.seq_range.start(), **data.seq_range.end());
                    if track.nack_pause.on_frame(layer, first, last) {
                        tell_nack_changes(&mut self.rtc, &self.id, track);
                    }
                }
                propagate.push(Propagate::Media {
                    origin: self.id.clone(),
                    layer,
                    proven,
                    data: Box::new(data),
                });
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                self.estimate_bps = Some(estimate.as_u64());
            }
            Event::KeyframeRequest(req) => propagate.push(Propagate::Keyframe {
                subscriber: self.id.clone(),
                req,
            }),
            _ => {}
        }
    }

    /// Writes another participant's media onto the matching outgoing track.
    /// A video frame goes through the track's rewriter: only the chosen
    /// layer passes, a switch waits for that layer's keyframe, and the
    /// timestamp continues across switches. Returns the layer whose keyframe
    /// a pending switch waits for, so the engine can ask the publisher.
    /// Nothing passes before this participant is connected (decision 0009).
    /// `publisher_rtt`: the origin's round trip to the relay, the least
    /// video its send queue may hold (`send_queue::limit_for_publisher`).
    /// `proven`: the layers a subscriber on another layer may be switched
    /// to on their keyframe (`publish.rs`, `FIRST_PROOF`), and whose
    /// keyframe is worth asking for; a subscriber with no picture yet takes
    /// any. `behind`: the layers str0m holds back for a retransmission (the
    /// frame's own too, when it was itself held:
    /// `PublishedVideo::frame_was_held`); a subscriber is not switched up
    /// from one, nor onto one.
    pub fn forward(
        &mut self,
        origin: &str,
        layer: Option<Layer>,
        proven: LayerSet,
        behind: LayerSet,
        data: &MediaData,
        publisher_rtt: Option<Duration>,
    ) -> Option<Layer> {
        // Nothing is queued for a peer that cannot receive yet; its video
        // starts at the first keyframe after it connects (the rewriter
        // has not started, so it waits for one and asks for it).
        if !self.connected {
            return None;
        }
        let estimate = self.pacing_estimate();
        let track = self
            .tracks_out
            .iter_mut()
            .find(|t| matches!(t.state, OutState::Open(_)) && t.origin == origin && t.mid_in == data.mid)?;
        let OutState::Open(mid) = track.state else { return None };
        let limit = self.estimate_trend.queue_limit();
        let at = write_time(track.last_written_at, data.network_time);
        if let Some(video) = &mut track.video {
            video.publisher_rtt = publisher_rtt.or(video.publisher_rtt);
            let limit = send_queue::limit_for_publisher(limit, video.publisher_rtt);
            if video_queue_congested(&mut self.rtc, mid, at, (estimate, limit), video) {
                // Skipping a frame breaks the chain of delta frames: the
                // stream goes on at the next keyframe, asked for once the
                // queue drains (a keyframe asked for now would only join
                // the queue).
                if video.rewriter.current().is_some() {
                    tracing::debug!(participant = %self.id, origin, "send queue full: video skipped until a keyframe");
                }
                video.rewriter.drop_current();
                video.until_keyframe = Some(PauseReason::Bandwidth);
                video.keyframe_after_skip_at = None;
                self.stats.video_frames_skipped += 1;
                return None;
            }
        }
        // Whether the frame can be written at all, asked before the rewriter
        // takes it: a switch the rewriter made on a keyframe that was then
        // not written (no writer during a renegotiation, a payload type the
        // peer did not take) would send the new layer's delta frames on the
        // old layer's picture, which a browser decodes without complaint:
        // garbage at the old resolution, and no keyframe request, for the
        // rest of the call.
        // (The peer may have negotiated another payload type for the same
        // codec.)
        let Some(pt) = self.rtc.writer(mid).and_then(|w| w.match_params(data.params)) else {
            // A frame left out breaks the chain of delta frames; the
            // keyframe is asked for once frames can be written again.
            if let Some(video) = &mut track.video {
                video.rewriter.drop_current();
            }
            return None;
        };
        let vp8 = vp8_extra(&data.codec_extra);
        let (time, forwarded) = match (&mut track.video, layer) {
            (Some(video), Some(layer)) => {
                // str0m hands on a frame past a gap it gave up on (loss it
                // could not repair, NACKs paused after an outage) marked not
                // contiguous. One that refers to a picture the subscriber
                // never got, a browser decodes without complaint into a
                // smeared picture: it is skipped, or, when a base-layer
                // frame may be missing, the layer goes on at its next
                // keyframe (`temporal_chain.rs`).
                if video.rewriter.current() == Some(layer) {
                    let layers = FrameLayers::of(vp8);
                    match video.chain.judge(layers, data.is_keyframe(), data.contiguous) {
                        Verdict::Forward if !data.contiguous && !data.is_keyframe() => {
                            tracing::debug!(participant = %self.id, origin, temporal_id = layers.map(|l| l.temporal_id), "video frame past a gap: its base layer is whole, going on");
                        }
                        Verdict::Forward => {}
                        Verdict::Skip => {
                            tracing::debug!(participant = %self.id, origin, temporal_id = layers.map(|l| l.temporal_id), "video frame past a gap skipped: its layer waits for a sync frame");
                            return None;
                        }
                        Verdict::Restart => {
                            tracing::debug!(participant = %self.id, origin, keyframe = data.is_keyframe(), "video frame past a gap: restarting on a keyframe");
                            video.rewriter.drop_current();
                        }
                    }
                }
                let incoming = data.time.rebase(Frequency::NINETY_KHZ);
                let current = video.rewriter.current();
                let switch_point = is_switch_point(current, proven, behind, layer);
                if data.is_keyframe()
                    && !switch_point
                    && may_switch_to(current, proven, layer)
                    && video.rewriter.awaiting_keyframe() == Some(layer)
                {
                    let held = if behind.contains(layer) {
                        "the keyframe itself"
                    } else {
                        "the layer it leaves"
                    };
                    tracing::debug!(participant = %self.id, origin, layer = layer.index(), held, "keyframe passed over: held for a retransmission");
                }
                let packet = PacketInfo {
                    // Frames, not packets: the layer stands for the source
                    // and the frame's first sequence number for its place.
                    ssrc: layer.index() as u32,
                    seq: **data.seq_range.start() as u16,
                    timestamp: incoming.numer() as u32,
                    keyframe_start: data.is_keyframe() && switch_point,
                    // str0m extends the ids; the wire has 15 and 8 bits.
                    picture_id: vp8
                        .and_then(|e| e.picture_id)
                        .map(|p| PictureId::Long(p as u16 & 0x7fff)),
                    tl0picidx: vp8.and_then(|e| e.tl0_picture_id).map(|t| t as u8),
                };
                match video.rewriter.rewrite(at, layer, &packet) {
                    Decision::Forward(f) => {
                        if packet.keyframe_start {
                            video.chain.started(FrameLayers::of(vp8));
                            tracing::debug!(participant = %self.id, origin, layer = layer.index(), bytes = data.data.len(), "keyframe forwarded");
                            video.last_keyframe = Some(KeyframeWritten {
                                at,
                                bytes: data.data.len(),
                            });
                        }
                        let time =
                            MediaTime::new(video.out_time.unwrap(f.timestamp.into()) as u64, Frequency::NINETY_KHZ);
                        (time, Some(f))
                    }
                    Decision::Drop(_) => return keyframe_to_ask(video, proven),
                }
            }
            _ => (data.time, None),
        };
        let written = match (&mut track.video, forwarded, vp8) {
            (Some(video), Some(f), Some(extra)) => {
                let desc = FrameDescriptor {
                    non_reference: extra.discardable,
                    picture_id: f.picture_id,
                    // Without a picture id Chrome takes every frame to have
                    // the same one, and drops each base-layer delta frame as
                    // already seen: temporal fields only with an id.
                    temporal: f.picture_id.and(f.tl0picidx).map(|tl0picidx| Temporal {
                        tl0picidx,
                        temporal_id: extra.layer_index,
                        layer_sync: extra.sync,
                    }),
                };
                match self.rtc.direct_api().stream_tx_by_mid(mid, None) {
                    Some(_) if video.written_by == Some(WrittenBy::Str0m) => Err(CODEC_CHANGED.to_string()),
                    Some(stream) => {
                        if video.vp8.write(stream, pt, at, f.timestamp, &data.data, &desc) {
                            video.written_by = Some(WrittenBy::Relay);
                            Ok(())
                        } else {
                            Err("empty VP8 frame".to_string())
                        }
                    }
                    None => Err("no send stream".to_string()),
                }
            }
            (Some(video), _, _) if video.written_by == Some(WrittenBy::Relay) => Err(CODEC_CHANGED.to_string()),
            _ => match self.rtc.writer(mid) {
                Some(writer) => {
                    let written = writer.write(pt, at, time, data.data.clone()).map_err(|e| e.to_string());
                    if let (Ok(()), Some(video)) = (&written, &mut track.video) {
                        video.written_by = Some(WrittenBy::Str0m);
                    }
                    written
                }
                None => Err("no writer".to_string()),
            },
        };
        match &written {
            Ok(()) => track.last_written_at = Some(at),
            Err(e) => tracing::debug!(participant = %self.id, error = %e, "write failed"),
        }
        let video = track.video.as_mut()?;
        match written {
            Ok(()) => {
                video.written.record(at, data.data.len());
                if video.rewriter.current().is_some() {
                    match wait_after_write(video.until_keyframe, data.is_keyframe()) {
                        WaitAfterWrite::Over => video.until_keyframe = None,
                        WaitAfterWrite::SkipKeyframeOut => {
                            video.keyframe_after_skip_at.get_or_insert(at);
                        }
                        WaitAfterWrite::Stands => {}
                    }
                }
            }
            // As above: the stream goes on at the next keyframe.
            Err(_) => video.rewriter.drop_current(),
        }
        keyframe_to_ask(video, proven)
    }

    /// The outgoing video tracks whose send queue is too deep
    /// (`send_queue.rs`): the adaptation pass holds their keyframe requests
    /// until the queue drains.
    pub fn congested_video(&mut self, now: Instant) -> Vec<Mid> {
        let (estimate, limit) = (self.pacing_estimate(), self.estimate_trend.queue_limit());
        let rtc = &mut self.rtc;
        self.tracks_out
            .iter()
            .filter_map(|t| match (t.state, &t.video) {
                (OutState::Open(mid), Some(v)) => Some((mid, v)),
                _ => None,
            })
            .filter(|&(mid, video)| {
                let limit = send_queue::limit_for_publisher(limit, video.publisher_rtt);
                video_queue_congested(rtc, mid, now, (estimate, limit), video)
            })
            .map(|(mid, _)| mid)
            .collect()
    }

    /// Asks this participant for a keyframe of `layer` on one of its
    /// published tracks, unless one was asked for very recently (then the
    /// request waits for [`crate::keyframe::KeyframeRequests::handle_timeout`]).
    pub fn request_keyframe(&mut self, now: Instant, mid_in: Mid, layer: Layer, kind: KeyframeRequestKind) {
        let Some(track) = self.tracks_in.iter_mut().find(|t| t.mid == mid_in) else {
            return;
        };
        let Some(video) = &mut track.video else { return };
        if video.keyframes.request(now, layer, self.stats.rtt) {
            tracing::debug!(participant = %self.id, layer = layer.index(), "keyframe requested");
            let rid = video.rid_of(layer);
            if let Some(mut writer) = self.rtc.writer(mid_in) {
                // Fails when the peer negotiated no PLI/FIR; nothing more to do then.
                let _ = writer.request_keyframe(rid, kind);
            }
        }
    }

    /// Sends the keyframe requests whose quiet period has ended.
    pub fn send_deferred_keyframe_requests(&mut self, now: Instant) {
        for track in &mut self.tracks_in {
            let Some(video) = &mut track.video else { continue };
            let due = video.keyframes.handle_timeout(now, self.stats.rtt);
            for layer in due.iter() {
                tracing::debug!(participant = %self.id, layer = layer.index(), "keyframe requested after its quiet period");
                let rid = video.rid_of(layer);
                if let Some(mut writer) = self.rtc.writer(track.mid) {
                    let _ = writer.request_keyframe(rid, KeyframeRequestKind::Pli);
                }
            }
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

    /// Our offer was answered: the tracks in it are open (or gone).
    pub fn offer_answered(&mut self) {
        self.tracks_out.retain(|t| !matches!(t.state, OutState::Stopping(_)));
        for track in &mut self.tracks_out {
            if let OutState::Negotiating(mid) = track.state {
                track.state = OutState::Open(mid);
            }
        }
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

/// Tells str0m which layers of `track` to NACK, where that changed
/// (`nack_pause.rs`).
fn tell_nack_changes(rtc: &mut Rtc, participant: &str, track: &mut TrackIn) {
    let Some(video) = &track.video else { return };
    for (layer, suppress) in track.nack_pause.changes(video.layer_count()) {
        tracing::debug!(
            participant,
            layer = layer.index(),
            suppress,
            "NACKs of a layer suppressed or resumed"
        );
        if let Some(stream) = rtc.direct_api().stream_rx_by_mid(track.mid, video.rid_of(layer)) {
            stream.suppress_nack(suppress);
        }
    }
}

/// The wallclock to hand str0m with a frame: when it arrived, but never
/// earlier than the last frame written on the same track.
///
/// str0m queues what is written in wallclock order until its next poll
/// (`queue_position` in its media module), so a frame that arrived late
/// (held by str0m's receive side until a lost packet was retransmitted, as
/// on a lossy satellite uplink) and was written in the same pass after a
/// newer frame went out *before* it. At a layer switch that put the 240p
/// keyframe the relay had started the picture with after the 480p keyframe
/// it then switched on, and the subscriber decoded every 480p delta frame on
/// the 240p picture, without an error or a keyframe request, until the next
/// 480p keyframe: the relay forwarded 480p while the patient's browser
/// showed 240p for 11 s and 48 s (`bench/bench rural --profile satellite`, two
/// of five runs; "two keyframes decoded at once" in its samples).
fn write_time(last: Option<Instant>, arrived: Instant) -> Instant {
    last.map_or(arrived, |l| l.max(arrived))
}

/// How far under str0m's reported estimate the value its pacer follows must
/// be for the relay to go by it ([`estimate_now`]).
const PACER_FELL_BELOW: f64 = 0.5;

/// How long after the keyframe that followed a skip for a full send queue
/// the viewer is told its video is back, if it was neither skipped nor
/// dropped again meanwhile. Told at once, a link too small for any video (80 kbit/s) got
/// "paused, back, paused" within a second: the keyframe asked for once the
/// queue drained was written, and the frames after it were skipped again
/// (`tests/interop.rs`, 3 of 6 runs of the suite).
pub const SKIP_TOLD_OVER_AFTER: Duration = Duration::from_secs(1);

/// The keyframe a subscriber's video waits for, if it is worth asking the
/// publisher for: not that of a layer yet to prove itself while the
/// subscriber has a picture (`publish.rs`, `FIRST_PROOF`), which would not
/// be switched to, and would load the publisher's uplink as it starts.
pub(crate) fn keyframe_to_ask(video: &VideoOut, proven: LayerSet) -> Option<Layer> {
    video
        .rewriter
        .awaiting_keyframe()
        .filter(|&l| may_switch_to(video.rewriter.current(), proven, l))
}

/// The SSRC of the stream of `rid` on `mid`, and the RTP time (extended)
/// of the last packet str0m took as media on it.
fn newest_media(rtc: &mut Rtc, mid: Mid, rid: Option<Rid>) -> Option<(u32, u64)> {
    let mut api = rtc.direct_api();
    let stream = api.stream_rx_by_mid(mid, rid)?;
    Some((*stream.ssrc(), stream.last_time()?.numer()))
}

/// Whether a keyframe of `layer` may start it for this subscriber: any
/// layer while it has no picture, a lower or the same one always, a higher
/// one once proven (`publish.rs`, `FIRST_PROOF`).
fn may_switch_to(current: Option<Layer>, proven: LayerSet, layer: Layer) -> bool {
    proven.contains(layer) || current.is_none_or(|c| layer <= c)
}

/// Whether a keyframe of `layer` switches a subscriber now on `current`
/// (`None`: no picture): [`may_switch_to`], unless it would switch it up
/// over frames held for a retransmission, or onto a keyframe so held
/// ([`switch_up_over_held_frames`]; `behind`:
/// `PublishedVideo::behind_layers`, read as the keyframe is handed on).
fn is_switch_point(current: Option<Layer>, proven: LayerSet, behind: LayerSet, layer: Layer) -> bool {
    may_switch_to(current, proven, layer) && !switch_up_over_held_frames(current, layer, behind)
}

/// Whether a keyframe of `layer` would switch the subscriber up from a
/// layer whose frames str0m is holding back for a retransmission. The held
/// frames would never be shown, and the picture would jump over the time
/// they cover: a freeze of up to the publisher's round trip (a satellite
/// patient's 240p held 0.65 s as the relay switched the specialist to the
/// 480p, frozen 0.30 s: `bench/bench rural --profile satellite`). The
/// keyframe is passed over and another asked for at once; it comes a round
/// trip later, when such a hold is most likely over (decision 0028).
///
/// The same when the keyframe was itself held (`behind` holds its own
/// layer: `PublishedVideo::frame_was_held`, its first packet long ago and
/// newer media of the layer already in): the subscriber has been shown the layer it leaves up to about now,
/// and the keyframe is older by the hold. Its timestamp can only continue
/// from the last one written (`rewrite.rs`), so the new layer would play
/// up to a hold later than it arrives, until the browser's clock estimate
/// catches up (a satellite patient's 480p keyframe held 0.39 s: the
/// specialist's buffer delay from 0.68 to 1.17 s, back only 30 s later,
/// and a freeze of 0.21 s at the switch; decision 0029).
fn switch_up_over_held_frames(current: Option<Layer>, layer: Layer, behind: LayerSet) -> bool {
    current.is_some_and(|c| layer > c && (behind.contains(c) || behind.contains(layer)))
}

/// The estimate to allocate and pace video by, from str0m's reported one
/// (an average of its estimator's last 3 s) and the one its pacer follows
/// now: the reported one, unless the pacer's is under half of it. Then the
/// link has just collapsed: the pacer already sends at that rate, and every
/// frame of a layer chosen for the average queues ahead of the lower
/// layer's keyframe (bench rural, step-down: the average still said 1.5
/// Mbit/s 0.5 s after the link fell to 250 kbit/s). Smaller dips, as each
/// overuse brings, are left to the average and the allocator's hold.
fn estimate_now(reported: Option<u64>, pacer: Option<u64>) -> Option<u64> {
    if pacer_governs(reported, pacer) {
        pacer
    } else {
        reported.or(pacer)
    }
}

/// The lower of two figures where both are known, else the one that is.
fn lower_of(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether [`estimate_now`] goes by the pacer's estimate: it fell under
/// half the reported one.
fn pacer_governs(reported: Option<u64>, pacer: Option<u64>) -> bool {
    matches!((reported, pacer), (Some(r), Some(p)) if (p as f64) < r as f64 * PACER_FELL_BELOW)
}

/// Whether str0m's send queue of the video stream on `mid` is too deep to
/// add to (`send_queue.rs`).
/// `estimate`: the rate the queue leaves at ([`Participant::pacing_estimate`])
/// and the queue limit that applies now.
fn video_queue_congested(
    rtc: &mut Rtc,
    mid: Mid,
    now: Instant,
    (estimate_bps, limit): (Option<u64>, Duration),
    video: &VideoOut,
) -> bool {
    let Some(first_unsent) = rtc
        .direct_api()
        .stream_tx_by_mid(mid, None)
        .and_then(|s| s.queue_info())
        .map(|q| q.first_unsent())
    else {
        return false;
    };
    // str0m's byte figure counts probe padding too: count the video alone.
    let queue = QueueNow {
        first_unsent,
        bytes: first_unsent.map_or(0, |f| video.written.unsent_since(f)),
    };
    send_queue::congested(now, queue, estimate_bps, video.last_keyframe, limit)
}

/// What a frame written on a subscriber's current layer does to the wait
/// told as a pause ([`VideoOut::until_keyframe`]).
#[derive(Debug, PartialEq, Eq)]
enum WaitAfterWrite {
    /// Over: the picture moves again.
    Over,
    /// The keyframe after a skip is out; the wait is told over once video
    /// has gone on from it for a while (`adapt.rs`, `skip_wait`).
    SkipKeyframeOut,
    /// Stands: a delta frame after a skip's keyframe (`skip_wait` tells
    /// that wait over).
    Stands,
}

/// The wait a pause was told for is over once a keyframe is on its way
/// (`adapt::told_pause`); after a skip, once video has gone on from it for
/// a while. A layer held for a retransmission and kept (decision 0026)
/// was never dropped: any of its frames ends the wait.
fn wait_after_write(until_keyframe: Option<PauseReason>, keyframe: bool) -> WaitAfterWrite {
    match until_keyframe {
        Some(PauseReason::Bandwidth) if keyframe => WaitAfterWrite::SkipKeyframeOut,
        Some(PauseReason::Bandwidth) => WaitAfterWrite::Stands,
        _ => WaitAfterWrite::Over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_layers_frame_ends_its_pause_and_a_skip_waits_for_its_keyframe() {
        // Held for a retransmission and kept: its next frame, keyframe or not.
        assert_eq!(
            wait_after_write(Some(PauseReason::NoLayers), false),
            WaitAfterWrite::Over
        );
        assert_eq!(
            wait_after_write(Some(PauseReason::NoLayers), true),
            WaitAfterWrite::Over
        );
        // After a skip: its keyframe starts the wait's last second; the
        // delta frames after it leave the rest to `skip_wait`.
        assert_eq!(
            wait_after_write(Some(PauseReason::Bandwidth), false),
            WaitAfterWrite::Stands
        );
        assert_eq!(
            wait_after_write(Some(PauseReason::Bandwidth), true),
            WaitAfterWrite::SkipKeyframeOut
        );
        assert_eq!(wait_after_write(None, false), WaitAfterWrite::Over);
    }

    #[test]
    fn the_pacers_estimate_counts_only_once_it_fell_below_half_the_reported_one() {
        assert_eq!(estimate_now(Some(1_500_000), Some(1_300_000)), Some(1_500_000), "a dip");
        assert_eq!(
            estimate_now(Some(1_500_000), Some(2_000_000)),
            Some(1_500_000),
            "a rise"
        );
        assert_eq!(
            estimate_now(Some(1_500_000), Some(300_000)),
            Some(300_000),
            "a collapse"
        );
        assert_eq!(estimate_now(None, Some(300_000)), Some(300_000));
        assert_eq!(estimate_now(Some(300_000), None), Some(300_000));
        assert!(pacer_governs(Some(1_500_000), Some(300_000)));
        assert!(!pacer_governs(None, Some(300_000)), "no average yet: no collapse");
        assert!(!pacer_governs(Some(1_500_000), Some(1_300_000)));
    }

    #[test]
    fn a_send_queue_is_judged_at_the_rate_the_pacer_sends_now() {
        // Measured on a collapse (bench rural, step-down): the reported
        // average 1.18 Mbit/s, the pacer already at 596 kbit/s, not yet
        // under half the average, so the allocator still goes by 1.18.
        let (reported, pacer) = (Some(1_180_000), Some(596_000));
        assert_eq!(estimate_now(reported, pacer), Some(1_180_000));
        let pacing = lower_of(estimate_now(reported, pacer), pacer);
        assert_eq!(pacing, Some(596_000));
        // 20 kB of 480p queued for 100 ms: 0.24 s to leave at the pacer's
        // rate, over the 200 ms a falling estimate allows; 0.12 s at the
        // average's, which would have let more of the old layer in.
        let now = Instant::now();
        let queue = QueueNow {
            first_unsent: Some(now - Duration::from_millis(100)),
            bytes: 20_000,
        };
        let limit = send_queue::VIDEO_QUEUE_LIMIT_FALLING;
        assert!(send_queue::congested(now, queue, pacing, None, limit));
        assert!(!send_queue::congested(now, queue, reported, None, limit));
        // While the pacer runs ahead of the average (the estimate rising),
        // the average stays the judge.
        assert_eq!(lower_of(Some(1_000_000), Some(1_400_000)), Some(1_000_000));
        assert_eq!(lower_of(None, Some(300_000)), Some(300_000));
        assert_eq!(lower_of(Some(300_000), None), Some(300_000));
    }

    #[test]
    fn a_subscriber_is_not_switched_up_over_frames_held_for_a_retransmission() {
        let (low, mid) = (Layer::LOW, Layer::MID);
        let held_low: LayerSet = [low].into_iter().collect();
        let none = LayerSet::EMPTY;
        let all = LayerSet::ALL;
        assert!(!is_switch_point(Some(low), all, held_low, mid), "up over a hold");
        assert!(is_switch_point(Some(low), all, none, mid));
        assert!(
            is_switch_point(Some(mid), all, all, low),
            "down: the held layer may be what no longer fits"
        );
        assert!(
            is_switch_point(None, all, held_low, mid),
            "no picture: any keyframe starts it"
        );
        let held_mid: LayerSet = [mid].into_iter().collect();
        assert!(
            !is_switch_point(Some(low), all, held_mid, mid),
            "up onto a keyframe that was itself held"
        );
        assert!(
            is_switch_point(None, all, held_mid, mid),
            "no picture: a held keyframe starts it too"
        );
        let held_high: LayerSet = [Layer::HIGH].into_iter().collect();
        assert!(
            is_switch_point(Some(low), all, held_high, mid),
            "only the layer it leaves and its own count"
        );
        let proven_low: LayerSet = [low].into_iter().collect();
        assert!(
            !is_switch_point(Some(low), proven_low, none, mid),
            "not proven, as before"
        );

        // On the rewriter: the 240p flows, the 480p is the target; its
        // keyframe during a hold of the 240p is dropped and still awaited,
        // the next one switches.
        let mut rewriter = VideoRewriter::new(RewriterConfig {
            ssrc: 1,
            clock_rate: 90_000,
            first_seq: 0,
            first_timestamp: 0,
            first_picture_id: 0,
            first_tl0picidx: 0,
        });
        let t0 = Instant::now();
        let frame = |layer: Layer, seq: u16, keyframe_start: bool| PacketInfo {
            ssrc: layer.index() as u32,
            seq,
            timestamp: 3000 * u32::from(seq),
            keyframe_start,
            picture_id: None,
            tl0picidx: None,
        };
        rewriter.set_target(Some(low));
        assert!(matches!(
            rewriter.rewrite(t0, low, &frame(low, 1, true)),
            Decision::Forward(_)
        ));
        rewriter.set_target(Some(mid));
        let key = is_switch_point(rewriter.current(), all, held_low, mid);
        assert!(matches!(
            rewriter.rewrite(t0, mid, &frame(mid, 2, key)),
            Decision::Drop(_)
        ));
        assert_eq!(
            (rewriter.current(), rewriter.awaiting_keyframe()),
            (Some(low), Some(mid))
        );
        let key = is_switch_point(rewriter.current(), all, none, mid);
        assert!(matches!(
            rewriter.rewrite(t0, mid, &frame(mid, 3, key)),
            Decision::Forward(_)
        ));
        assert_eq!(rewriter.current(), Some(mid));
    }

    #[test]
    fn frames_are_written_in_the_order_they_arrive_whatever_their_arrival_time() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        assert_eq!(write_time(None, ms(100)), ms(100));
        assert_eq!(write_time(Some(ms(100)), ms(133)), ms(133), "in order: its own time");
        // Released 619 ms late, after a frame that arrived at 700 ms: not
        // earlier than that one, or str0m would send it first.
        assert_eq!(write_time(Some(ms(700)), ms(81)), ms(700));
    }
}
