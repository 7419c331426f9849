//! One published video track as the allocator sees it: which RID is which
//! simulcast layer, what each layer costs, which keyframe requests are due,
//! and which layers the publisher was last told to send.
//!
//! A layer can be missing for two reasons, and they must be told apart. If we
//! told the publisher to stop it (nobody took it), it is still available: it
//! costs its nominal rate and comes back when asked. If the publisher stopped
//! it *by itself* — a browser drops its upper encodings when its own uplink or
//! CPU is short, as on a patient's 3G — a subscriber switched to it would wait
//! for a keyframe that never comes and see a frozen picture. So a layer asked
//! for and not arriving within [`ABSENT_AFTER`] is offered to nobody for a
//! while (a back-off that doubles while it stays away), and is available again
//! the moment it arrives.
//!
//! Layer order: a client lists its RIDs in `a=simulcast:send` from lowest to
//! highest resolution (Cerca's web client sends `q;h;f`, as Chrome's own
//! examples do). A track without simulcast is one layer, [`Layer::LOW`], so
//! its video can still be paused when even that does not fit.

use std::time::{Duration, Instant};

use str0m::media::Rid;

use crate::keyframe::{KeyframeConfig, KeyframeRequests};
use crate::layer::{Layer, LayerSet, MAX_LAYERS};
use crate::packet_flow::PacketFlow;
use crate::rate::RateMeter;

/// What a layer is assumed to cost while it is not arriving (paused at the
/// publisher, or not started yet), in bit/s, by how many layers the track
/// has: three as a 640×360 camera at quarter, half and full resolution; two
/// as Cerca's web client sends a 640×480 camera (half and full, at most 200
/// and 1000 kbit/s); one as a plain camera at a modest rate.
pub const NOMINAL_BPS: [u64; MAX_LAYERS] = [150_000, 500_000, 1_200_000];
const NOMINAL_TWO_BPS: [u64; 2] = [200_000, 1_000_000];
const NOMINAL_ONE_BPS: u64 = 200_000;

/// The nominal rate of layer `i` of a track with `count` layers.
pub fn nominal_bps(count: usize, i: usize) -> u64 {
    match count {
        0 | 1 => NOMINAL_ONE_BPS,
        2 => NOMINAL_TWO_BPS[i.min(1)],
        _ => NOMINAL_BPS[i.min(MAX_LAYERS - 1)],
    }
}

/// What a publisher is asked to keep layers under (bit/s; `None`: its own
/// limit). The lowest layer at the weakest subscriber's share, so that one
/// gets a picture at all; the top layer at the strongest subscriber's, so
/// that one can take it at all (`adapt.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerCaps {
    pub low: Option<u64>,
    pub top: Option<u64>,
}

/// `bps`, but not over `cap`.
fn capped(bps: u64, cap: Option<u64>) -> u64 {
    cap.map_or(bps, |c| bps.min(c))
}

/// A camera layer arriving at fewer frames a second than this, over
/// [`FPS_WINDOW`], is a slideshow, not video: it is left out as if absent, so
/// a viewer is told the sender's network paused it (an EDGE uplink) rather
/// than shown a picture that moves every few seconds. (A screen share would
/// need its own rule; the web client sends none.)
pub const MIN_FPS: usize = 5;
/// How long a higher layer that just started costs at least its nominal rate.
pub const RAMP_UP: Duration = Duration::from_secs(3);
/// How long after a track's caps last changed its top layer is priced at
/// its cap whatever it measures: an encoder follows a cap within a second
/// or so, and the rate meter a moment later.
pub const CAP_FOLLOWED_WITHIN: Duration = Duration::from_secs(3);
const FPS_WINDOW: Duration = Duration::from_secs(2);
/// A lowest layer judged a slideshow within this long is offered again only
/// once it has arrived for [`PROOF`] with no gap longer than two frames at
/// [`MIN_FPS`]. Offered on its first frame, an EDGE uplink's layer that
/// trickled back was resumed for a second or two at 0-1 fps before it was
/// judged a slideshow again (`bench/bench rural --profile edge`: 6 of 55
/// seconds below 5 fps and not shown as paused); proofs of three frames and
/// of 600 ms were fooled by the bursts and short good stretches of such an
/// uplink (92.7 % and 94.5 % of seconds passing, against 98.2 % and 96.4 %
/// with 1.5 s). A layer that was merely absent (an outage, a publisher that
/// stopped it) is taken back on its first frame: on a 3G uplink after an
/// outage, frames come back with gaps, and a proof held the patient's video
/// paused for 10 s (`--profile dropout`).
const SLIDESHOW_MEMORY: Duration = Duration::from_secs(10);
const PROOF: Duration = Duration::from_millis(1500);
/// A viewer on a lower layer is switched up to a higher layer arriving for
/// the first time in the call only once that layer has arrived this long
/// with no gap longer than two frames at [`MIN_FPS`] ([`Self::proven`]).
/// At the start of a call a browser's first uplink estimate can
/// overshoot (1.12 Mbit/s on a 1 Mbit/s rural-4g uplink): it starts its
/// 480p, and stops it within about half a second as the estimate falls. A
/// viewer switched to it on its first keyframe saw a freeze until the relay
/// judged it stalled and the 240p's keyframe came (`bench/bench rural
/// --profile rural-4g`: 0.56-0.65 s in three of seven runs, limit 0.5 s).
/// Only the first arrival: a layer that has proved itself once and comes
/// back later (after a step-down) is switched to at once, as every second
/// counts toward the top layer there. The layer is still offered and its
/// cost counted meanwhile, so the subscriber's estimate is lifted toward
/// it as for any switch up waiting for a keyframe.
const FIRST_PROOF: Duration = Duration::from_secs(1);
/// ...and only while, over that second, it brings at least this share of
/// the frames the lowest layer does. A browser's 480p that starts on a
/// tight uplink estimate (about 200-250 kbit/s of a satellite patient's
/// first 0.5 Mbit/s) runs at 13-28 fps, its encoder dropping frames, and
/// drops more after the keyframe a switch asks for: switched to then, the
/// specialist's picture froze 0.20-0.27 s at the switch in three of six
/// such runs, and in none of five where the 480p had 400 kbit/s or more
/// (`bench/bench rural --profile satellite`; decision 0031). One frame of
/// slack: the two layers' frames of one instant arrive apart.
const FIRST_PROOF_PACE: f64 = 0.9;
/// A layer that has arrived this long without keeping that pace proves
/// itself anyway: a publisher whose higher layer never keeps up would
/// otherwise have it sent, offered and paid for all call and never shown.
const FIRST_PROOF_PACE_FOR: Duration = Duration::from_secs(10);

/// Drops the arrival times older than [`FPS_WINDOW`].
fn forget_before_window(frames: &mut std::collections::VecDeque<Instant>, now: Instant) {
    while frames
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) > FPS_WINDOW)
    {
        frames.pop_front();
    }
}

/// Whether frames have arrived over the whole of the last `span` with no
/// gap longer than two frames at [`MIN_FPS`] (`frames`: arrival times,
/// oldest first).
fn steady_for(frames: &std::collections::VecDeque<Instant>, now: Instant, span: Duration) -> bool {
    let max_gap = Duration::from_secs(2) / MIN_FPS as u32;
    let mut later = now;
    for &t in frames.iter().rev() {
        if later.saturating_duration_since(t) > max_gap {
            return false;
        }
        if now.saturating_duration_since(t) >= span {
            return true;
        }
        later = t;
    }
    false
}

/// A layer asked for and silent this long is one the publisher cannot send now.
pub const ABSENT_AFTER: Duration = Duration::from_millis(1500);
/// How long such a layer is first left out; doubled while it stays away, up
/// to [`ABSENT_BACKOFF_MAX`]. Asking again is how a publisher whose uplink
/// came back finds out: a browser probes its uplink when a layer is switched
/// back on, but not while the layer is off. So the wait stays short: with a
/// 32 s ceiling, a patient whose uplink collapsed for 30 s and then recovered
/// sent only the lowest layer for the rest of the call (`bench/bench rural
/// --profile step-down`); asking every 8 s or so costs a link that is still
/// short one probe burst.
const ABSENT_BACKOFF: Duration = Duration::from_secs(4);
const ABSENT_BACKOFF_MAX: Duration = Duration::from_secs(8);

/// A higher layer asked for, silent this long while a lower layer of the same
/// track goes on ([`LOWER_STILL_ARRIVING`]), has stalled: the publisher's
/// uplink stopped carrying it (a browser's encoder dropping the top layer's
/// frames on a congested uplink), and a subscriber on it sees a frozen
/// picture. It is offered to nobody until its next frame, so such a
/// subscriber moves down at once instead of after [`ABSENT_AFTER`]. Measured
/// with `bench/bench rural --all`: a specialist switched to the patient's
/// 480p as it stalled saw a 1.85 s freeze on rural-4g and 2.77 s on
/// satellite, most of it the 1.5 s wait. With the rule, `--profile
/// step-down` (the patient's uplink cut to 250 kbit/s, its browser dropping
/// 480p): the specialist's view adapted in 2.00, 1.88 and 1.25 s in three
/// runs, against 2.02-2.13 s in twelve before.
///
/// The wait is at least twice the publisher's round trip plus
/// [`STALL_MARGIN`]: the relay forwards whole frames in order, so one lost
/// packet holds a layer's frames for a retransmission's round trip while
/// the other layers go on (640 ms on a satellite uplink), two if the
/// retransmission is lost too, and that hold must not read as a stall.
/// With one round trip, three satellite holds in one run were taken for
/// stalls: each switch to 240p then waited 0.8 s for its keyframe, three
/// freezes of 1.7 s (`--profile satellite`). A layer whose packets stopped
/// too ([`PACKETS_SILENT`], `packet_flow.rs`) is not held: it has stalled
/// after [`STALL_AFTER`] whatever the round trip.
const STALL_AFTER: Duration = Duration::from_millis(500);
const STALL_MARGIN: Duration = Duration::from_millis(300);
/// No new media packet on a layer for this long while a lower layer goes
/// on (a 30 fps layer sends one every 33 ms or less): its publisher stopped
/// sending it.
const PACKETS_SILENT: Duration = Duration::from_millis(500);
/// A publisher whose uplink lost [`crate::stats::SEVERE_LOSS`] of its
/// packets in two reports in a row within this long has more sent than its
/// uplink carries: its higher layers are offered to nobody, as if stalled,
/// and its subscribers move to the lowest layer, the one whose losses the
/// relay still NACKs (`nack_pause.rs`). Without it they stayed on the top
/// layer until its frames stopped: a browser stops its top layer about
/// 0.9 s after such a fall, and the stall rule needs 0.5 s more. On
/// `bench/bench rural --profile step-down` the patient's video at the
/// specialist adapted 1.25-2.13 s after the fall (target 2 s) in about
/// twenty runs; with this rule, 0.86-1.27 s in five (decision 0015).
const UPLINK_COLLAPSE_REMEMBERED: Duration = Duration::from_secs(1);
/// How recently a lower layer must have arrived for a silent higher one to
/// count as stalled rather than the whole publisher being quiet (an
/// outage, handled by [`ABSENT_AFTER`] and `outage.rs`).
const LOWER_STILL_ARRIVING: Duration = Duration::from_millis(250);

/// A layer's frames are taken to be held back for a retransmission once
/// the last one handed on came (its first packet) this long ago, or
/// [`BEHIND_INTERVALS`] of its recent frame intervals if that is longer (a
/// 5 fps layer is not held between two frames), while str0m has newer
/// media of it.
const BEHIND_AFTER: Duration = Duration::from_millis(150);
const BEHIND_INTERVALS: u32 = 3;
/// Past this the layer is no longer taken to be behind: its held frames
/// are older than a picture worth waiting for (a satellite hold for one
/// retransmission is 0.57-0.83 s), and a switch away from it is better
/// than a frozen picture.
const BEHIND_AT_MOST: Duration = Duration::from_secs(1);

/// A layer nobody takes any more is kept on at the publisher this long after
/// it was last taken. Stopping it at once made the patient's top layer flap
/// on a 4G uplink (`bench/bench rural --profile rural-4g`: on 29 % of the
/// time), and each restart costs a keyframe burst on that uplink and a ramp
/// from a low rate, while the subscriber that dipped comes back within
/// seconds.
pub const STOP_HOLD: Duration = Duration::from_secs(10);

/// Whether the publisher sends a layer it was asked for.
#[derive(Debug, Clone)]
struct Presence {
    /// Since when the publisher has been asked to send this layer.
    asked_since: Option<Instant>,
    /// Left out of allocation until then.
    absent_until: Option<Instant>,
    backoff: Duration,
}

impl Default for Presence {
    fn default() -> Presence {
        Presence {
            asked_since: None,
            absent_until: None,
            backoff: ABSENT_BACKOFF,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PublishedVideo {
    /// RID per layer, lowest first; empty without simulcast.
    rids: Vec<Rid>,
    meters: [RateMeter; MAX_LAYERS],
    presence: [Presence; MAX_LAYERS],
    /// Arrival times of the last [`FPS_WINDOW`] of frames, per layer, and
    /// since when each layer has been arriving.
    frames: [std::collections::VecDeque<Instant>; MAX_LAYERS],
    arriving_since: [Option<Instant>; MAX_LAYERS],
    /// The RTP time (extended, as str0m gives it) of the last frame str0m
    /// handed on, per layer.
    last_frame_rtp: [Option<u64>; MAX_LAYERS],
    pub keyframes: KeyframeRequests,
    /// The layers the publisher was last asked to send (all, at first).
    told_active: LayerSet,
    /// The bitrates the publisher was last asked to keep layers under,
    /// and when they last changed.
    caps: LayerCaps,
    caps_told_at: Option<Instant>,
    /// When a subscriber last took each layer.
    last_taken: [Option<Instant>; MAX_LAYERS],
    /// When the lowest layer was last judged a slideshow.
    low_slideshow_at: Option<Instant>,
    /// The last frame of the lowest layer up to which it was a slideshow
    /// (under [`MIN_FPS`] over the window's frames before it).
    low_slideshow_until: Option<Instant>,
    /// The lowest layer, and those that have once arrived for [`FIRST_PROOF`]
    /// at the lowest layer's pace ([`FIRST_PROOF_PACE`]).
    proven: LayerSet,
    /// The publisher's round trip to the relay, as str0m last measured it.
    publisher_rtt: Option<Duration>,
    /// Whether each layer's packets still arrive.
    packets: PacketFlow,
    /// When the publisher's uplink was last seen collapsed
    /// ([`UPLINK_COLLAPSE_REMEMBERED`]).
    uplink_collapsed_at: Option<Instant>,
}

impl PublishedVideo {
    /// `rids` as the publisher listed them in its offer, lowest first; only
    /// the first [`MAX_LAYERS`] are used.
    pub fn new(rids: Vec<Rid>) -> PublishedVideo {
        PublishedVideo {
            rids: rids.into_iter().take(MAX_LAYERS).collect(),
            meters: Default::default(),
            presence: Default::default(),
            frames: Default::default(),
            arriving_since: [None; MAX_LAYERS],
            last_frame_rtp: [None; MAX_LAYERS],
            caps: LayerCaps::default(),
            caps_told_at: None,
            last_taken: [None; MAX_LAYERS],
            low_slideshow_at: None,
            low_slideshow_until: None,
            proven: [Layer::LOW].into_iter().collect(),
            publisher_rtt: None,
            packets: PacketFlow::default(),
            uplink_collapsed_at: None,
            keyframes: KeyframeRequests::new(KeyframeConfig::default()),
            told_active: LayerSet::ALL,
        }
    }

    pub fn is_simulcast(&self) -> bool {
        !self.rids.is_empty()
    }

    /// The layer a frame with this RID belongs to; `None` for a RID the
    /// publisher did not announce.
    pub fn layer_of(&self, rid: Option<Rid>) -> Option<Layer> {
        match rid {
            None if self.rids.is_empty() => Some(Layer::LOW),
            None => None,
            Some(rid) => self.rids.iter().position(|r| *r == rid).and_then(Layer::new),
        }
    }

    pub fn rid_of(&self, layer: Layer) -> Option<Rid> {
        self.rids.get(layer.index()).copied()
    }

    pub fn layer_count(&self) -> usize {
        self.rids.len().max(1)
    }

    /// [`PublishedVideo::record`] for a frame str0m handed on, with its
    /// RTP time (for [`PublishedVideo::behind_layers`]).
    pub fn record_frame(&mut self, now: Instant, layer: Layer, bytes: usize, rtp_time: u64) {
        self.record(now, layer, bytes);
        self.last_frame_rtp[layer.index()] = Some(rtp_time);
    }

    /// One frame of `layer` arrived.
    fn record(&mut self, now: Instant, layer: Layer, bytes: usize) {
        let i = layer.index();
        let last_frame = self.meters[i].last_seen();
        self.meters[i].record(now, bytes);
        let comeback = self.frames[i]
            .back()
            .is_none_or(|&t| now.saturating_duration_since(t) > FPS_WINDOW);
        if comeback {
            self.arriving_since[i] = Some(now);
            if let Some(last) = last_frame.filter(|_| i == 0) {
                let slideshow = self.was_slideshow_when_it_stopped(last);
                tracing::debug!(
                    away_ms = now.saturating_duration_since(last).as_millis() as u64,
                    slideshow,
                    "the lowest layer is back after a gap"
                );
                if slideshow {
                    self.low_slideshow_at = Some(now);
                }
            }
        }
        let frames = &mut self.frames[i];
        frames.push_back(now);
        forget_before_window(frames, now);
    }

    /// Whether the lowest layer, whose last frame before a gap came at
    /// `last_frame`, was a slideshow within [`SLIDESHOW_MEMORY`] before
    /// it: if so, it still is one when it comes back, however long it was
    /// away (the memory counts from its last frame, not from the
    /// comeback). Counted from the last judgement, a trickle that stopped
    /// for 10 s was offered again on its first frame, to resume and
    /// re-pause the viewer's video. Six `bench/bench rural --profile edge`
    /// runs logged 16 comebacks, after 2.0-9.9 s away, so that case was not
    /// seen there. Video that moved and then stopped (an outage) is not
    /// carried over, even at 6-9 fps, whose draining window is judged a
    /// slideshow after its last frame: only a rate under [`MIN_FPS`] over
    /// the frames up to the last one counts (`too_slow`).
    fn was_slideshow_when_it_stopped(&self, last_frame: Instant) -> bool {
        self.low_slideshow_until
            .is_some_and(|until| last_frame.saturating_duration_since(until) < SLIDESHOW_MEMORY)
    }

    /// Whether a layer has been arriving for a while, but as a slideshow;
    /// or, a slideshow lately, has not yet shown that it moves again. Also
    /// notes when a layer has first arrived for [`FIRST_PROOF`] at the
    /// lowest layer's pace.
    fn too_slow(&mut self, now: Instant, i: usize) -> bool {
        let keeps_pace = self.keeps_pace_with_lowest(now, i)
            || self.arriving_since[i].is_some_and(|t| now.saturating_duration_since(t) >= FIRST_PROOF_PACE_FOR);
        let frames = &mut self.frames[i];
        forget_before_window(frames, now);
        let settled = self.arriving_since[i].is_some_and(|t| now.saturating_duration_since(t) >= FPS_WINDOW);
        if settled && !frames.is_empty() && frames.len() < MIN_FPS * FPS_WINDOW.as_secs() as usize {
            // A layer that stopped drains the window too: remembered as a
            // slideshow only while it still trickles in (every outage
            // counted as one held the patient's video paused for 1.5-3 s
            // after the link returned: `--profile dropout`).
            let trickling = frames
                .back()
                .is_some_and(|&t| now.saturating_duration_since(t) <= FPS_WINDOW / 2);
            if trickling && i == 0 {
                self.low_slideshow_at = Some(now);
                // The window's frames all came before the last one: their
                // rate over the part of the window up to it (at least
                // half of it, as the layer still trickles).
                let last = frames.back().copied().unwrap_or(now);
                let span = FPS_WINDOW.saturating_sub(now.saturating_duration_since(last));
                if (frames.len() as f64) < MIN_FPS as f64 * span.as_secs_f64() {
                    self.low_slideshow_until = Some(last);
                }
            }
            return true;
        }
        if !self.proven.contains(Layer::ALL[i]) && steady_for(frames, now, FIRST_PROOF) && keeps_pace {
            self.proven.insert(Layer::ALL[i]);
        }
        // Only the lowest layer: its absence pauses the viewer's video, and
        // a viewer is told of each pause and resume. A higher layer that
        // comes back is taken at once (after a step-down, every second
        // counts toward the top layer) and left again if it falters.
        let lately = self
            .low_slideshow_at
            .is_some_and(|t| now.saturating_duration_since(t) < SLIDESHOW_MEMORY);
        i == 0 && lately && !steady_for(frames, now, PROOF)
    }

    /// Whether layer `i` brought, over the last [`FIRST_PROOF`], at least
    /// [`FIRST_PROOF_PACE`] of the lowest layer's frames in that time, give
    /// or take one.
    fn keeps_pace_with_lowest(&self, now: Instant, i: usize) -> bool {
        let recent = |frames: &std::collections::VecDeque<Instant>| {
            frames
                .iter()
                .filter(|&&t| now.saturating_duration_since(t) < FIRST_PROOF)
                .count() as f64
        };
        recent(&self.frames[i]) + 1.0 >= FIRST_PROOF_PACE * recent(&self.frames[0])
    }

    /// Whether a frame of this video handed on at `now` was itself held
    /// back (for a retransmission): its first packet came more than
    /// [`BEHIND_AFTER`] before, and str0m already has media of its layer
    /// newer than it (`newest`, RTP time, as for
    /// [`PublishedVideo::behind_layers`]). A large frame merely still
    /// arriving has nothing newer behind it. Judged from the frame itself,
    /// not from the layer: the frames held behind it are handed on, and
    /// recorded, in the same pass. No upper bound: the longer the hold,
    /// the further a switch onto it would move the picture (decision 0029).
    pub fn frame_was_held(now: Instant, arrived: Instant, rtp_time: u64, newest: Option<u64>) -> bool {
        now.saturating_duration_since(arrived) > BEHIND_AFTER && newest.is_some_and(|n| n > rtp_time)
    }

    /// The publisher's latest round trip, for telling a stalled layer from
    /// one held for a retransmission.
    pub fn note_publisher_rtt(&mut self, rtt: Option<Duration>) {
        if rtt.is_some() {
            self.publisher_rtt = rtt;
        }
    }

    /// When the publisher's uplink was last seen losing
    /// [`crate::stats::SEVERE_LOSS`] of its packets in two reports in a row.
    pub fn note_uplink_collapse(&mut self, at: Option<Instant>) {
        self.uplink_collapsed_at = at;
    }

    /// Whether the publisher's uplink collapsed lately
    /// ([`UPLINK_COLLAPSE_REMEMBERED`]).
    pub fn uplink_collapsed(&self, now: Instant) -> bool {
        self.uplink_collapsed_at
            .is_some_and(|at| now.saturating_duration_since(at) < UPLINK_COLLAPSE_REMEMBERED)
    }

    /// Whether higher layer `i`, asked for, is on an uplink that collapsed
    /// lately ([`UPLINK_COLLAPSE_REMEMBERED`]).
    fn on_collapsed_uplink(&self, now: Instant, i: usize) -> bool {
        i > 0 && self.told_active.contains(Layer::ALL[i]) && self.uplink_collapsed(now)
    }

    /// The RTP time (extended) of the newest media packet str0m has received
    /// on `layer`'s stream `ssrc`, read at `at`.
    pub fn note_newest_media(&mut self, layer: Layer, ssrc: u32, newest: u64, at: Instant) {
        self.packets.note(layer, ssrc, newest, at);
    }

    /// Whether higher layer `i` has stalled (see [`STALL_AFTER`]).
    fn stalled(&self, now: Instant, i: usize) -> bool {
        let Some(seen) = self.meters[i].last_seen() else {
            return false;
        };
        // Packets still coming (or not known): maybe held for a retransmission.
        let maybe_held = !self.packets.silent_for(Layer::ALL[i], now, PACKETS_SILENT);
        let wait = if maybe_held {
            STALL_AFTER.max(self.publisher_rtt.unwrap_or_default() * 2 + STALL_MARGIN)
        } else {
            STALL_AFTER
        };
        let lower_arriving = self.meters[..i]
            .iter()
            .filter_map(RateMeter::last_seen)
            .any(|t| now.saturating_duration_since(t) <= LOWER_STILL_ARRIVING);
        // A layer asked for again after a stop, and not yet back, did not
        // stall: whether it comes is `ABSENT_AFTER`'s question.
        let seen_since_asked = self.presence[i].asked_since.is_none_or(|asked| seen >= asked);
        i > 0
            && self.told_active.contains(Layer::ALL[i])
            && seen_since_asked
            && lower_arriving
            && now.saturating_duration_since(seen) >= wait
    }

    /// The higher layers that have stalled ([`STALL_AFTER`]) while their
    /// packets still arrive: str0m holds their frames for a retransmission,
    /// and hands them on, in order, once it is in or given up on. A
    /// subscriber on one keeps it until then or until the lower layer's
    /// keyframe, whichever comes first (`adapt.rs`, decision 0026). Holds
    /// too short to be stalls: [`PublishedVideo::behind_layers`].
    pub fn held_layers(&self, now: Instant) -> LayerSet {
        (1..self.layer_count().min(MAX_LAYERS))
            .filter(|&i| self.stalled(now, i) && self.packets.arriving(Layer::ALL[i], now, PACKETS_SILENT))
            .map(|i| Layer::ALL[i])
            .collect()
    }

    /// The layers whose frames str0m is holding back at `now`, most often
    /// for a retransmission (or a large frame still arriving), long before
    /// such a hold counts as a stall ([`PublishedVideo::held_layers`]):
    /// str0m has media of the layer after the last frame it handed on
    /// (`newest`: the RTP time of the last packet str0m took as media on
    /// the layer's stream, a retransmission included), and that frame came
    /// more than [`BEHIND_AFTER`] ago, or [`BEHIND_INTERVALS`] of its frame
    /// intervals, and not more than [`BEHIND_AT_MOST`]. A subscriber on one
    /// is not switched up meanwhile (`participant.rs`, decision 0028); for a
    /// keyframe that was itself held see [`PublishedVideo::frame_was_held`].
    pub fn behind_layers(&self, now: Instant, mut newest: impl FnMut(Layer) -> Option<u64>) -> LayerSet {
        (0..self.layer_count().min(MAX_LAYERS))
            .map(|i| Layer::ALL[i])
            .filter(|&layer| {
                let i = layer.index();
                self.frame_overdue(now, i)
                    && matches!((newest(layer), self.last_frame_rtp[i]), (Some(n), Some(f)) if n > f)
            })
            .collect()
    }

    /// Whether the layer's last frame came more than [`BEHIND_AFTER`], or
    /// [`BEHIND_INTERVALS`] of its recent frame intervals, before `now`,
    /// and not more than [`BEHIND_AT_MOST`].
    fn frame_overdue(&self, now: Instant, i: usize) -> bool {
        let frames = &self.frames[i];
        let (Some(&first), Some(&last)) = (frames.front(), frames.back()) else {
            return false;
        };
        let gaps = frames.len().saturating_sub(1).max(1) as u32;
        let interval = last.saturating_duration_since(first) / gaps;
        let overdue = now.saturating_duration_since(last);
        overdue > BEHIND_AFTER.max(interval * BEHIND_INTERVALS) && overdue <= BEHIND_AT_MOST
    }

    /// The layers the publisher was last asked to send.
    pub fn told_active(&self) -> LayerSet {
        self.told_active
    }

    /// The caps the publisher was last asked to keep its layers under.
    pub fn caps(&self) -> LayerCaps {
        self.caps
    }

    /// Records the caps the publisher was just asked to keep its layers under.
    pub fn tell_caps(&mut self, now: Instant, caps: LayerCaps) {
        if caps != self.caps {
            self.caps_told_at = Some(now);
        }
        self.caps = caps;
    }

    /// The top layer of a track with more than one: the one
    /// [`LayerCaps::top`] is for.
    pub fn top_layer(&self) -> Option<Layer> {
        let count = self.layer_count().min(MAX_LAYERS);
        (count > 1).then(|| Layer::ALL[count - 1])
    }

    /// The cap on layer `i`, if asked for: the lowest layer's, or the top
    /// layer's. An encoder follows its cap within a second or so, faster
    /// than the measurement would, so a layer costs no more than it (a
    /// measured one: [`Self::cap_on_measured`]).
    fn cap_of(&self, i: usize) -> Option<u64> {
        match i {
            0 => self.caps.low,
            _ if self.top_layer().is_some_and(|l| l.index() == i) => self.caps.top,
            _ => None,
        }
    }

    /// The cap measured layer `i` costs no more than. The top layer's only
    /// for [`CAP_FOLLOWED_WITHIN`] after the track's caps last changed:
    /// past that, a top layer measured over its cap is one the publisher
    /// does not follow it for (a delayed `setParameters`), and pricing it
    /// at the cap would switch a subscriber up onto more than its link
    /// takes. The lowest layer's always: its cap is a weak subscriber's
    /// whole picture, and its keyframes measured over it would pause that
    /// picture.
    fn cap_on_measured(&self, now: Instant, i: usize) -> Option<u64> {
        let followed = self
            .caps_told_at
            .is_some_and(|t| now.saturating_duration_since(t) < CAP_FOLLOWED_WITHIN);
        self.cap_of(i).filter(|_| i == 0 || followed)
    }

    /// `caps` as (RID, bit/s) pairs, for telling the publisher.
    pub fn rid_caps(&self, caps: LayerCaps) -> Vec<(String, u64)> {
        [(Some(Layer::LOW), caps.low), (self.top_layer(), caps.top)]
            .into_iter()
            .filter_map(|(layer, cap)| Some((self.rid_of(layer?)?.to_string(), cap?)))
            .collect()
    }

    /// The layers to ask the publisher for, given those subscribers take
    /// now: those, plus any taken within [`STOP_HOLD`] (and still asked for).
    pub fn layers_to_keep(&mut self, now: Instant, taken: LayerSet) -> LayerSet {
        let mut keep = taken;
        for layer in Layer::ALL {
            let i = layer.index();
            if taken.contains(layer) {
                self.last_taken[i] = Some(now);
            } else if self.told_active.contains(layer)
                && self.last_taken[i].is_some_and(|t| now.saturating_duration_since(t) < STOP_HOLD)
            {
                keep.insert(layer);
            }
        }
        keep
    }

    /// Records what the publisher has just been asked to send.
    pub fn tell_active(&mut self, now: Instant, set: LayerSet) {
        for layer in Layer::ALL {
            let presence = &mut self.presence[layer.index()];
            if !set.contains(layer) {
                presence.asked_since = None;
            } else if !self.told_active.contains(layer) {
                presence.asked_since = Some(now);
            }
        }
        self.told_active = set;
    }

    /// Cost per layer for the allocator: measured where the layer arrives;
    /// nominal where we told the publisher to stop it (or it is just
    /// starting); `None` where the publisher does not send it, or where it
    /// was asked for and did not come (see the module doc).
    pub fn layer_rates(&mut self, now: Instant) -> [Option<u64>; MAX_LAYERS] {
        let count = self.layer_count();
        let mut rates = [None; MAX_LAYERS];
        for layer in Layer::ALL.into_iter().take(count) {
            let i = layer.index();
            let stalled = self.stalled(now, i);
            let collapsed = self.on_collapsed_uplink(now, i);
            let cap = self.cap_of(i);
            let cap_on_measured = self.cap_on_measured(now, i);
            let presence = &mut self.presence[i];
            if stalled || collapsed {
                if presence.absent_until.is_none_or(|t| now >= t) {
                    tracing::debug!(
                        layer = i,
                        stalled,
                        collapsed,
                        packets_silent = self.packets.silent_for(layer, now, PACKETS_SILENT),
                        "higher layer stalled, or its uplink collapsed: offered to nobody"
                    );
                    presence.absent_until = Some(now + presence.backoff);
                }
                continue;
            }
            if let Some(measured) = self.meters[i].bps(now).filter(|&r| r > 0) {
                presence.absent_until = None;
                presence.backoff = ABSENT_BACKOFF;
                if self.too_slow(now, i) {
                    continue;
                }
                // A higher layer that just started (call start, or back
                // after a stop) measures low while its encoder ramps up to
                // its rate: taken at that figure, it looked cheap enough for
                // a 200 kbit/s patient, then grew to 800 kbit/s in the
                // send queue (bench rural: a second of video skipped at the
                // start of every step-down run). So it costs at least its
                // nominal rate until it has been arriving for `RAMP_UP`.
                let ramping =
                    i > 0 && self.arriving_since[i].is_some_and(|t| now.saturating_duration_since(t) < RAMP_UP);
                let measured = if ramping {
                    measured.max(capped(nominal_bps(count, i), cap))
                } else {
                    measured
                };
                rates[i] = Some(capped(measured, cap_on_measured));
                continue;
            }
            if presence.absent_until.is_some_and(|t| now < t) {
                continue;
            }
            if self.told_active.contains(layer) {
                let asked = *presence.asked_since.get_or_insert(now);
                let quiet_since = self.meters[i].last_seen().map_or(asked, |seen| seen.max(asked));
                if now.saturating_duration_since(quiet_since) >= ABSENT_AFTER {
                    presence.absent_until = Some(now + presence.backoff);
                    presence.backoff = (presence.backoff * 2).min(ABSENT_BACKOFF_MAX);
                    continue;
                }
            }
            rates[i] = Some(capped(nominal_bps(count, i), cap));
        }
        rates
    }

    /// `rates` (from [`Self::layer_rates`]) with each layer left out as
    /// absent put back at its nominal cost: what a subscriber could take if
    /// the publisher's uplink carried everything it was asked for. Used to
    /// keep asking for such a layer while a subscriber could take it, since
    /// a browser finds out that its uplink has come back only while the
    /// layer is on (`adapt.rs`).
    pub fn rates_if_sent(&self, now: Instant, rates: [Option<u64>; MAX_LAYERS]) -> [Option<u64>; MAX_LAYERS] {
        let count = self.layer_count();
        let mut out = rates;
        for (i, rate) in out.iter_mut().enumerate().take(count) {
            let nominal = nominal_bps(count, i);
            if rate.is_none() && self.presence[i].absent_until.is_some_and(|t| now < t) {
                *rate = Some(capped(nominal, self.cap_of(i)));
            }
            // A capped top layer at its own rate: what a subscriber is
            // probed toward, so that its estimate keeps finding room and the
            // cap can rise with it. Probed toward the cap, a subscriber
            // taking the capped layer wanted no more than it had.
            if i > 0 && self.cap_of(i).is_some() {
                *rate = rate.map(|r| r.max(nominal));
            }
        }
        out
    }

    /// The layers a viewer on another layer may be switched to on their
    /// keyframe: the lowest always; a higher one once it has arrived for
    /// [`FIRST_PROOF`], keeping [`FIRST_PROOF_PACE`] of the lowest layer's
    /// frame rate, at least once in the call (judged every adaptation
    /// pass).
    pub fn proven(&self) -> LayerSet {
        self.proven
    }

    /// RIDs of the layers in `set`, for telling the publisher what to send.
    pub fn rids_in(&self, set: LayerSet) -> Vec<String> {
        Layer::ALL
            .into_iter()
            .filter(|l| set.contains(*l))
            .filter_map(|l| self.rid_of(l))
            .map(|r| r.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rids_map_to_layers_in_offer_order() {
        let v = PublishedVideo::new(vec!["q".into(), "h".into(), "f".into()]);
        assert_eq!(v.layer_of(Some("q".into())), Some(Layer::LOW));
        assert_eq!(v.layer_of(Some("f".into())), Some(Layer::HIGH));
        assert_eq!(v.layer_of(Some("x".into())), None);
        assert_eq!(v.layer_of(None), None);
        assert_eq!(v.rid_of(Layer::MID), Some("h".into()));
    }

    #[test]
    fn a_track_without_simulcast_is_one_low_layer() {
        let mut v = PublishedVideo::new(Vec::new());
        assert_eq!(v.layer_of(None), Some(Layer::LOW));
        let rates = v.layer_rates(Instant::now());
        assert_eq!(rates, [Some(nominal_bps(1, 0)), None, None]);
    }

    #[test]
    fn unmeasured_layers_cost_their_nominal_rate() {
        let mut v = PublishedVideo::new(vec!["q".into(), "h".into()]);
        assert_eq!(v.layer_rates(Instant::now()), [Some(200_000), Some(1_000_000), None]);
        let mut three = PublishedVideo::new(vec!["q".into(), "h".into(), "f".into()]);
        assert_eq!(three.layer_rates(Instant::now()), NOMINAL_BPS.map(Some));
    }

    #[test]
    fn capped_layers_cost_no_more_than_their_caps() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let caps = LayerCaps {
            low: Some(120_000),
            top: Some(700_000),
        };
        let mut two = PublishedVideo::new(vec!["h".into(), "f".into()]);
        two.tell_caps(t0, caps);
        assert_eq!(
            two.layer_rates(at(0)),
            [Some(120_000), Some(700_000), None],
            "unmeasured"
        );
        assert_eq!(
            two.rid_caps(caps),
            vec![("h".to_string(), 120_000), ("f".to_string(), 700_000)]
        );
        // Arriving over the cap (the encoder not yet down to it), and the
        // top layer still ramping, when it costs at least its nominal rate.
        let over_caps = |v: &mut PublishedVideo, from: u64, to: u64| {
            for ms in (from..to).step_by(33) {
                v.record(at(ms), Layer::LOW, 1000);
                v.record(at(ms), Layer::MID, 4000);
            }
        };
        over_caps(&mut two, 0, 1000);
        assert_eq!(two.layer_rates(at(1000)), [Some(120_000), Some(700_000), None]);
        // Still over it well after the cap changed: a top layer its
        // publisher does not keep under the cap costs what it measures;
        // the lowest layer its cap still.
        over_caps(&mut two, 1000, 4000);
        let rates = two.layer_rates(at(4000));
        assert_eq!(rates[0], Some(120_000));
        assert!(rates[1].is_some_and(|r| r > 900_000), "{rates:?}");
        // Probed toward at its own rate while capped, not at the cap.
        let unmeasured = PublishedVideo::new(vec!["h".into(), "f".into()]);
        let mut capped_top = unmeasured.clone();
        capped_top.tell_caps(t0, caps);
        let rates = capped_top.layer_rates(at(0));
        assert_eq!(capped_top.rates_if_sent(at(0), rates)[1], Some(NOMINAL_TWO_BPS[1]));
        // The middle of three layers is never capped; the top is the third.
        let mut three = PublishedVideo::new(vec!["q".into(), "h".into(), "f".into()]);
        three.tell_caps(t0, caps);
        assert_eq!(
            three.layer_rates(at(0)),
            [Some(120_000), Some(NOMINAL_BPS[1]), Some(700_000)]
        );
        assert_eq!(
            three.rid_caps(caps),
            vec![("q".to_string(), 120_000), ("f".to_string(), 700_000)]
        );
        // A single layer is the lowest, never a top.
        let one = PublishedVideo::new(vec!["h".into()]);
        assert_eq!(one.rid_caps(caps), vec![("h".to_string(), 120_000)]);
    }

    #[test]
    fn a_layer_the_publisher_stopped_by_itself_is_offered_to_nobody_until_it_returns() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = PublishedVideo::new(vec!["q".into(), "h".into(), "f".into()]);
        // Every layer asked for; only q and h arrive (the sender's uplink is short).
        for ms in (0..3000).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
            v.record(at(ms), Layer::MID, 2000);
            if ms == 0 {
                assert_eq!(v.layer_rates(at(0))[2], Some(NOMINAL_BPS[2]), "starting: nominal");
            }
        }
        let rates = v.layer_rates(at(3000));
        assert!(rates[0].is_some() && rates[1].is_some(), "{rates:?}");
        assert_eq!(rates[2], None, "asked for 3 s and never came");
        // Still left out during the back-off, even when no longer asked for.
        let mut low_and_mid = LayerSet::EMPTY;
        low_and_mid.insert(Layer::LOW);
        low_and_mid.insert(Layer::MID);
        v.tell_active(at(3000), low_and_mid);
        assert_eq!(v.layer_rates(at(5000))[2], None);
        // After it, a layer we told to stop is available again at its nominal rate...
        assert_eq!(v.layer_rates(at(7100))[2], Some(NOMINAL_BPS[2]));
        // ...asked for again and still absent: left out for twice as long.
        v.tell_active(at(7100), LayerSet::ALL);
        assert_eq!(v.layer_rates(at(8700))[2], None);
        assert_eq!(v.layer_rates(at(16_000))[2], None);
        // The moment it arrives it counts, at its measured rate.
        for ms in (16_000..17_000).step_by(33) {
            v.record(at(ms), Layer::HIGH, 5000);
        }
        assert!(v.layer_rates(at(17_000))[2].is_some_and(|r| r > 500_000));
    }

    /// Two layers (h, f) that both arrived at 30 fps for the first 4 s.
    fn two_layers_for_four_seconds(at: impl Fn(u64) -> Instant) -> PublishedVideo {
        let mut v = PublishedVideo::new(vec!["h".into(), "f".into()]);
        for ms in (0..4000).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
            v.record(at(ms), Layer::MID, 3000);
        }
        v
    }

    #[test]
    fn a_higher_layers_first_arrival_is_switched_to_once_it_has_arrived_for_a_second() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let low_only: LayerSet = [Layer::LOW].into_iter().collect();
        let mut v = PublishedVideo::new(vec!["h".into(), "f".into()]);
        v.layer_rates(t0); // the first adaptation pass asks for both
        assert_eq!(v.proven(), low_only, "the lowest layer always");
        // h from the start; f starts at 1000 ms, as a browser's 480p does
        // once its uplink estimate allows it. A pass every 198 ms.
        for ms in (0..3000).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
            if ms >= 1000 {
                v.record(at(ms), Layer::MID, 3000);
            }
            if ms % 198 != 0 {
                continue;
            }
            let rates = v.layer_rates(at(ms));
            let arriving = ms.saturating_sub(1000);
            if ms >= 1000 {
                assert!(rates[1].is_some(), "{ms} ms: still offered, and its cost counted");
            }
            if arriving < 1000 {
                assert!(
                    !v.proven().contains(Layer::MID),
                    "{ms} ms: f arriving for {arriving} ms"
                );
            } else if arriving >= 1000 + 198 {
                assert!(v.proven().contains(Layer::MID), "{ms} ms: f proved itself");
            }
        }
        // Proved once, it stays so across a gap (a step-down's recovery).
        for ms in (3000..6000).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
            if ms % 198 == 0 {
                v.layer_rates(at(ms));
            }
        }
        assert!(v.proven().contains(Layer::MID));

        // A first start that stops within half a second never proves itself.
        let brief = h_with_f(t0, 3000, |ms| (1000..1500).contains(&ms), |_, _| {});
        assert_eq!(brief.proven(), low_only);

        // A 480p starved by its encoder's budget: 24 fps beside the 240p's
        // 30 does not prove itself; once it keeps pace, it does.
        let starved = h_with_f(
            t0,
            6000,
            |ms| !(ms < 3000 && (ms / 33) % 5 == 0),
            |ms, v| {
                if ms < 3000 {
                    assert_eq!(v.proven(), low_only, "{ms} ms: f at 24 fps");
                }
            },
        );
        assert!(starved.proven().contains(Layer::MID), "f back at 30 fps");

        // 26 of the 240p's 30 frames (within one of 90 %) is pace enough.
        let close = h_with_f(t0, 1600, |ms| (ms / 33) % 8 != 0, |_, _| {});
        assert!(close.proven().contains(Layer::MID), "26-27 of 30 frames");

        // A 480p that never keeps pace proves itself after 10 s of arrival.
        let slow = h_with_f(
            t0,
            12_000,
            |ms| (ms / 33) % 3 != 0,
            |ms, v| {
                if ms < 9_900 {
                    assert_eq!(v.proven(), low_only, "{ms} ms: f at 20 fps");
                }
            },
        );
        assert!(slow.proven().contains(Layer::MID), "proved after 10 s at any pace");
    }

    /// h at 30 fps from `t0` until `until_ms`, f beside it on the frames
    /// `f_sends` keeps (by ms); an adaptation pass every 198 ms, after each
    /// of which `after_pass` looks.
    fn h_with_f(
        t0: Instant,
        until_ms: u64,
        f_sends: impl Fn(u64) -> bool,
        mut after_pass: impl FnMut(u64, &PublishedVideo),
    ) -> PublishedVideo {
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = PublishedVideo::new(vec!["h".into(), "f".into()]);
        v.layer_rates(t0);
        for ms in (0..until_ms).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
            if f_sends(ms) {
                v.record(at(ms), Layer::MID, 3000);
            }
            if ms % 198 == 0 {
                v.layer_rates(at(ms));
                after_pass(ms, &v);
            }
        }
        v.layer_rates(at(until_ms));
        v
    }

    #[test]
    fn a_frame_handed_on_after_newer_media_of_its_layer_arrived_was_held() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let held = PublishedVideo::frame_was_held;
        // A 480p keyframe at RTP time 1 s, its first packet in at 1000 ms,
        // handed on at 1660 ms once its lost packet came back: str0m had
        // the layer's frames up to 1.6 s by then.
        assert!(held(at(1660), at(1000), 90 * 1000, Some(90 * 1600)));
        // A hold of two round trips counts too: no upper bound.
        assert!(held(at(2400), at(1000), 90 * 1000, Some(90 * 2350)));
        // A large keyframe merely still arriving: nothing newer behind it.
        assert!(!held(at(1300), at(1000), 90 * 1000, Some(90 * 1000)));
        // Newer media, but handed on within 150 ms: not a hold worth a pass.
        assert!(!held(at(1150), at(1000), 90 * 1000, Some(90 * 1100)));
        // Nothing known of the stream.
        assert!(!held(at(1660), at(1000), 90 * 1000, None));
    }

    #[test]
    fn a_higher_layer_that_stalls_while_the_lower_goes_on_is_left_out_until_its_next_frame() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = two_layers_for_four_seconds(at);
        v.note_publisher_rtt(Some(Duration::from_millis(60)));
        assert!(v.layer_rates(at(3999))[1].is_some());
        // f stops (its encoder's frames no longer fit the uplink) while h goes on.
        for ms in (4000..6000).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
            let rates = v.layer_rates(at(ms));
            let quiet = ms - 3993;
            if quiet < 500 {
                assert!(rates[1].is_some(), "{ms} ms: f briefly quiet");
            } else if quiet >= 500 + 33 {
                assert_eq!(
                    rates[1], None,
                    "{ms} ms: f stalled {quiet} ms ago, well before ABSENT_AFTER"
                );
            }
        }
        // Its next frame makes it available again.
        v.record(at(6000), Layer::MID, 3000);
        v.record(at(6000), Layer::LOW, 600);
        assert!(v.layer_rates(at(6001))[1].is_some());
    }

    #[test]
    fn a_layer_held_for_a_retransmission_on_a_long_round_trip_is_not_stalled() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = two_layers_for_four_seconds(at);
        // A satellite uplink: a lost packet holds f for about a round trip.
        v.note_publisher_rtt(Some(Duration::from_millis(640)));
        for ms in (4000..6000).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
            let rates = v.layer_rates(at(ms));
            let quiet = ms - 3993;
            if quiet < 2 * 640 + 300 {
                assert!(rates[1].is_some(), "{ms} ms: {quiet} ms is two retransmissions' wait");
            } else if quiet >= 2 * 640 + 300 + 33 {
                assert_eq!(rates[1], None, "{ms} ms: {quiet} ms is more than two");
            }
        }
    }

    #[test]
    fn a_layer_whose_packets_stopped_too_has_stalled_whatever_the_round_trip() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = two_layers_for_four_seconds(at);
        v.note_publisher_rtt(Some(Duration::from_millis(640)));
        // Read every 200 ms: both layers' newest media moves until f stops.
        for ms in (0..4000).step_by(200) {
            v.note_newest_media(Layer::LOW, 1, 90 * ms, at(ms));
            v.note_newest_media(Layer::MID, 2, 90 * ms, at(ms));
        }
        for ms in (4000..6000).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
            if ms % 200 < 33 {
                v.note_newest_media(Layer::LOW, 1, 90 * ms, at(ms));
                v.note_newest_media(Layer::MID, 2, 90 * 3800, at(ms));
            }
            let rates = v.layer_rates(at(ms));
            let quiet = ms - 3993;
            if quiet < 500 {
                assert!(rates[1].is_some(), "{ms} ms: f briefly quiet");
            } else if quiet >= 500 + 33 {
                // Last moved at the 3800 ms read: silent for 500 ms from 4300.
                assert_eq!(rates[1], None, "{ms} ms: no new packet either, {quiet} ms");
            }
        }
        // New media that keeps coming while frames do not is a
        // retransmission's hold: the round-trip rule stands.
        let mut held = two_layers_for_four_seconds(at);
        held.note_publisher_rtt(Some(Duration::from_millis(640)));
        for ms in (0..5500).step_by(200) {
            held.note_newest_media(Layer::MID, 2, 90 * ms, at(ms));
        }
        for ms in (4000..5500).step_by(33) {
            held.record(at(ms), Layer::LOW, 600);
            assert!(held.layer_rates(at(ms))[1].is_some(), "{ms} ms: held");
        }
    }

    #[test]
    fn a_layer_stalled_while_its_packets_still_arrive_is_held_not_gone() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = two_layers_for_four_seconds(at);
        v.note_publisher_rtt(Some(Duration::from_millis(640)));
        // Frames of f stop at 3993 ms; its packets go on (a retransmission's
        // hold), read every 200 ms, while h's frames go on.
        for ms in (0..4000).step_by(200) {
            v.note_newest_media(Layer::MID, 2, 90 * ms, at(ms));
        }
        for ms in (4000..6000).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
            if ms % 200 < 33 {
                v.note_newest_media(Layer::MID, 2, 90 * ms, at(ms));
            }
            let held = v.held_layers(at(ms)).contains(Layer::MID);
            let stalled = v.layer_rates(at(ms))[1].is_none();
            assert_eq!(held, stalled, "{ms} ms: a stall with packets arriving is a hold");
        }
        assert!(
            v.held_layers(at(5999)).contains(Layer::MID),
            "stalled by 2 × 640 + 300 ms"
        );
        assert!(!v.held_layers(at(5999)).contains(Layer::LOW), "the lowest layer never");

        // Its packets stop too: gone, not held.
        for ms in (6000..6600).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
            assert_eq!(v.layer_rates(at(ms))[1], None);
        }
        assert!(!v.held_layers(at(6600)).contains(Layer::MID), "silent since 5800 ms");

        // Nothing known of its packets: not taken for a hold.
        let mut unknown = two_layers_for_four_seconds(at);
        unknown.note_publisher_rtt(Some(Duration::from_millis(640)));
        for ms in (4000..6000).step_by(33) {
            unknown.record(at(ms), Layer::LOW, 600);
        }
        assert_eq!(unknown.layer_rates(at(6000))[1], None);
        assert!(unknown.held_layers(at(6000)).is_empty());
    }

    #[test]
    fn a_layer_is_behind_once_its_frames_stop_for_a_while_and_newer_media_waits() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Both layers at 30 fps until 3993 ms, RTP time 90 ticks a ms.
        let mut v = PublishedVideo::new(vec!["h".into(), "f".into()]);
        for ms in (0..4000).step_by(33) {
            v.record_frame(at(ms), Layer::LOW, 600, 90 * ms);
            v.record_frame(at(ms), Layer::MID, 3000, 90 * ms);
        }
        let low: LayerSet = [Layer::LOW].into_iter().collect();
        // h's later packets are in (a retransmission's hold); f has nothing
        // newer (stopped).
        let newest = |l: Layer| Some(if l == Layer::LOW { 90 * 4200 } else { 90 * 3993 });
        assert!(
            v.behind_layers(at(4100), newest).is_empty(),
            "107 ms: a frame late, not held"
        );
        assert_eq!(
            v.behind_layers(at(4200), newest),
            low,
            "over 150 ms, newer media waiting"
        );
        assert!(
            v.behind_layers(at(5100), newest).is_empty(),
            "over 1 s: not worth waiting for"
        );
        // Nothing known of the stream: not taken for a hold.
        assert!(v.behind_layers(at(4200), |_| None).is_empty());
        // The frames are handed on, up to the newest media: over, though
        // the last one came 200 ms ago.
        v.record_frame(at(4200), Layer::LOW, 600, 90 * 4200);
        assert!(v.behind_layers(at(4400), newest).is_empty());

        // A 5 fps layer is not behind between two of its frames.
        let mut slow = PublishedVideo::new(vec!["h".into()]);
        for ms in (0..2000).step_by(200) {
            slow.record_frame(at(ms), Layer::LOW, 600, 90 * ms);
        }
        let newer = |_| Some(90 * 2100);
        assert!(
            slow.behind_layers(at(2300), newer).is_empty(),
            "500 ms: under three intervals"
        );
        assert_eq!(slow.behind_layers(at(2450), newer), low, "650 ms: over three");
    }

    #[test]
    fn on_a_collapsed_uplink_only_the_lowest_layer_is_offered_while_it_lasts() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = two_layers_for_four_seconds(at);
        assert!(v.layer_rates(at(3990)).iter().take(2).all(Option::is_some));
        // Both layers still arrive (the browser has not stopped f yet),
        // but the uplink lost a quarter of its packets twice in a row.
        v.note_uplink_collapse(Some(at(3990)));
        for ms in (4000..4990).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
            v.record(at(ms), Layer::MID, 1000);
            let rates = v.layer_rates(at(ms));
            assert!(rates[0].is_some(), "{ms} ms: the lowest layer stays");
            assert_eq!(rates[1], None, "{ms} ms: f is left out");
            assert!(
                v.rates_if_sent(at(ms), rates)[1].is_some(),
                "{ms} ms: f is still asked of the publisher"
            );
        }
        // A second after the last collapsed pair of reports, f counts
        // again if it still arrives.
        v.record(at(4990), Layer::MID, 1000);
        assert!(v.layer_rates(at(4990))[1].is_some());
        // A layer not asked for is not the collapse's to take out.
        let mut low_only = LayerSet::EMPTY;
        low_only.insert(Layer::LOW);
        v.tell_active(at(5000), low_only);
        v.note_uplink_collapse(Some(at(5000)));
        assert!(
            v.layer_rates(at(5100))[1].is_some(),
            "stopped by us, still arriving: measured, not left out"
        );
    }

    #[test]
    fn a_publisher_gone_quiet_altogether_is_not_a_stalled_layer() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // An outage: every layer stops. Judged by ABSENT_AFTER, as before.
        let mut v = two_layers_for_four_seconds(at);
        assert!(v.layer_rates(at(4000 + 1000))[1].is_some(), "1 s into the outage");
        // A layer the publisher was told to stop is not stalled either.
        let mut stopped = two_layers_for_four_seconds(at);
        let mut low_only = LayerSet::EMPTY;
        low_only.insert(Layer::LOW);
        stopped.tell_active(at(4000), low_only);
        for ms in (4000..6000).step_by(33) {
            stopped.record(at(ms), Layer::LOW, 600);
        }
        assert_eq!(
            stopped.layer_rates(at(6000))[1],
            Some(NOMINAL_TWO_BPS[1]),
            "stopped by us: nominal"
        );
        // Asked for again: not back yet, but not stalled either.
        let mut both = low_only;
        both.insert(Layer::MID);
        stopped.tell_active(at(6000), both);
        stopped.record(at(6033), Layer::LOW, 600);
        assert_eq!(
            stopped.layer_rates(at(6034))[1],
            Some(NOMINAL_TWO_BPS[1]),
            "asked again: nominal until ABSENT_AFTER"
        );
    }

    #[test]
    fn an_absent_layer_costs_its_nominal_rate_if_it_were_sent() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = PublishedVideo::new(vec!["h".into(), "f".into()]);
        v.layer_rates(t0); // the first adaptation pass asks for both
        for ms in (0..3000).step_by(33) {
            v.record(at(ms), Layer::LOW, 600);
        }
        let rates = v.layer_rates(at(3000));
        assert_eq!(rates[1], None, "asked for and never came");
        let if_sent = v.rates_if_sent(at(3000), rates);
        assert_eq!(if_sent[0], rates[0], "what arrives keeps its measured rate");
        assert_eq!(if_sent[1], Some(nominal_bps(2, 1)));
        assert_eq!(if_sent[2], None, "no third layer");
    }

    #[test]
    fn a_higher_layer_that_just_started_costs_its_nominal_rate_until_it_has_ramped_up() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = PublishedVideo::new(vec!["h".into(), "f".into()]);
        // Both layers start slow (about 100 and 150 kbit/s at 30 fps), as
        // an encoder does at the start of a call.
        let mut rates = [None; MAX_LAYERS];
        for ms in (0..RAMP_UP.as_millis() as u64 + 1000).step_by(33) {
            v.record(at(ms), Layer::LOW, 400);
            v.record(at(ms), Layer::MID, 600);
            rates = v.layer_rates(at(ms));
            if ms == 1500 {
                assert!(
                    rates[0] < Some(200_000),
                    "the lowest layer at its measured rate: {rates:?}"
                );
                assert_eq!(rates[1], Some(1_000_000), "ramping: nominal");
            }
        }
        assert!(rates[1] < Some(300_000), "ramped up: measured, {rates:?}");
    }

    #[test]
    fn a_layer_arriving_as_a_slideshow_is_left_out_until_it_moves_again() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = a_slideshow_of_4_s(t0);
        // Back to 25 fps: available again after a window of it.
        for ms in (4000..6200).step_by(40) {
            v.record(at(ms), Layer::LOW, 1500);
        }
        assert!(v.layer_rates(at(6200))[0].is_some());
    }

    /// A lowest layer that arrived at 3 frames a second for 4 s (an EDGE
    /// uplink), judged a slideshow at 4 s.
    fn a_slideshow_of_4_s(t0: Instant) -> PublishedVideo {
        let mut v = PublishedVideo::new(Vec::new());
        for ms in (0..4000).step_by(333) {
            v.record(t0 + Duration::from_millis(ms), Layer::LOW, 1500);
        }
        assert_eq!(v.layer_rates(t0 + Duration::from_secs(4))[0], None, "a slideshow");
        v
    }

    #[test]
    fn a_slideshow_that_trickles_back_stays_out_until_it_moves() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = a_slideshow_of_4_s(t0);
        // Silent, then one frame a second: still out, though it has not been
        // arriving long enough to be judged a slideshow afresh.
        for ms in [7000, 8000, 9000] {
            v.record(at(ms), Layer::LOW, 1500);
            assert_eq!(v.layer_rates(at(ms))[0], None, "at {ms} ms");
        }
        // A burst, as a congested uplink delivers what it held: still out.
        for ms in [11_500, 11_510, 11_520, 11_530] {
            v.record(at(ms), Layer::LOW, 1500);
        }
        assert_eq!(v.layer_rates(at(11_530))[0], None, "a burst");
        // Silent again, then moving: back once it has moved for `PROOF`.
        for ms in (14_000..15_500).step_by(40) {
            v.record(at(ms), Layer::LOW, 1500);
            assert_eq!(v.layer_rates(at(ms))[0], None, "at {ms} ms");
        }
        v.record(at(15_500), Layer::LOW, 1500);
        assert!(v.layer_rates(at(15_500))[0].is_some());
    }

    #[test]
    fn a_slideshow_that_stopped_for_long_needs_to_move_when_it_comes_back() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = a_slideshow_of_4_s(t0);
        // Away for far longer than the memory of a slideshow, each pass
        // seeing it absent; then one frame, then two a second.
        for ms in (4000..30_000).step_by(200) {
            v.layer_rates(at(ms));
        }
        // (At 30 s the absence back-off alone would leave it out; the
        // later frames are the slideshow memory's.)
        for ms in [30_000, 30_500, 31_000, 31_500] {
            v.record(at(ms), Layer::LOW, 1500);
            assert_eq!(v.layer_rates(at(ms))[0], None, "at {ms} ms");
        }
        // Moving: back once it has moved for `PROOF`.
        for ms in (32_000..33_500).step_by(40) {
            v.record(at(ms), Layer::LOW, 1500);
        }
        v.record(at(33_500), Layer::LOW, 1500);
        assert!(v.layer_rates(at(33_500))[0].is_some());
    }

    #[test]
    fn slow_video_that_stopped_for_long_is_taken_back_at_once() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = PublishedVideo::new(Vec::new());
        // 7 fps, a pass every 200 ms: moving, though its window drains
        // under 10 frames within a second of its last frame.
        for ms in (0..4000).step_by(143) {
            v.record(at(ms), Layer::LOW, 1500);
            assert!(v.layer_rates(at(ms))[0].is_some() || ms < 2000, "at {ms} ms");
        }
        for ms in (4000..34_000).step_by(200) {
            v.layer_rates(at(ms));
        }
        // Back at 7 fps: offered, not held for a proof, once it has a
        // measured rate (before that, the absence back-off decides).
        for ms in (34_000..36_000).step_by(143) {
            v.record(at(ms), Layer::LOW, 1500);
            let offered = v.layer_rates(at(ms))[0].is_some();
            assert!(
                offered || ms < 34_500,
                "an outage of slow video is not a slideshow: at {ms} ms"
            );
        }
    }

    #[test]
    fn a_layer_that_stopped_is_taken_back_on_its_first_frame() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut v = PublishedVideo::new(Vec::new());
        v.layer_rates(t0);
        // 30 fps, then an outage: each pass sees the window drain.
        for ms in (0..3000).step_by(33) {
            v.record(at(ms), Layer::LOW, 1500);
        }
        for ms in (3000..8000).step_by(200) {
            v.layer_rates(at(ms));
        }
        v.record(at(8000), Layer::LOW, 1500);
        assert!(v.layer_rates(at(8000))[0].is_some(), "an outage is not a slideshow");
    }

    #[test]
    fn a_layer_told_to_stop_keeps_its_nominal_rate() {
        let t0 = Instant::now();
        let mut v = PublishedVideo::new(vec!["q".into(), "h".into()]);
        v.layer_rates(t0); // the first adaptation pass
        let mut low = LayerSet::EMPTY;
        low.insert(Layer::LOW);
        v.tell_active(t0, low);
        let rates = v.layer_rates(t0 + Duration::from_secs(10));
        assert_eq!(rates[1], Some(nominal_bps(2, 1)), "not arriving because we said so");
        assert_eq!(rates[0], None, "asked for and silent for 10 s");
    }

    #[test]
    fn a_layer_nobody_takes_stays_on_for_the_stop_hold() {
        let t0 = Instant::now();
        let mut v = PublishedVideo::new(vec!["h".into(), "f".into()]);
        let both: LayerSet = [Layer::LOW, Layer::MID].into_iter().collect();
        let low: LayerSet = [Layer::LOW].into_iter().collect();
        assert_eq!(v.layers_to_keep(t0, both), both);
        v.tell_active(t0, both);
        // A subscriber dips to the lowest layer: the top one stays on...
        let soon = t0 + STOP_HOLD - Duration::from_millis(1);
        assert_eq!(v.layers_to_keep(soon, low), both);
        // ...until nobody has taken it for the whole hold.
        let later = t0 + STOP_HOLD;
        assert_eq!(v.layers_to_keep(later, low), low);
        v.tell_active(later, low);
        // A layer stopped is not brought back by the hold.
        assert_eq!(v.layers_to_keep(later + Duration::from_secs(1), low), low);
    }

    #[test]
    fn rids_in_names_only_the_layers_asked_for() {
        let v = PublishedVideo::new(vec!["q".into(), "h".into(), "f".into()]);
        let mut set = LayerSet::EMPTY;
        set.insert(Layer::LOW);
        set.insert(Layer::HIGH);
        assert_eq!(v.rids_in(set), vec!["q".to_string(), "f".to_string()]);
    }
}
