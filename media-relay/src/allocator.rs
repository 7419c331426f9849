//! Per-subscriber bandwidth allocation: which simulcast layer of each video
//! track a subscriber gets, or whether its video is paused, from that
//! subscriber's bandwidth estimate.
//!
//! The rules, in order of importance on a rural link:
//!
//! 1. **Audio first.** A fixed reserve per audio track is taken off the
//!    estimate before video sees any of it.
//! 2. **A floor per video track.** A track whose lowest layer (plus margin)
//!    does not fit is paused, with a [`PauseReason`] the client can show; it
//!    comes back by itself when the estimate allows.
//! 3. **Fair sharing.** Every track gets its lowest layer before any track
//!    gets a second one; then upgrades go one step at a time, round-robin,
//!    high-priority tracks (active speaker, screen share) first.
//! 4. **Hysteresis.** Down when the current layers have not fitted the
//!    estimate for `down_hold` (about half a second: congestion hurts audio
//!    too), or at once when they would not fit twice the estimate
//!    (`collapse`: the link collapsed, `bench/bench rural --profile
//!    step-down`). Up only when the estimate has held the upgrade *with
//!    headroom* for `up_hold`, or when a bandwidth probe confirmed it (an upgrade; a
//!    video paused for this subscriber's bandwidth always waits out the
//!    hold, one paused because its publisher sent nothing does not). The gap between
//!    the two thresholds is what keeps an oscillating estimate from flapping.
//!
//! The share is computed as a prefix of one fixed sequence of steps
//! (floors, then upgrades), stopping at the first step that does not fit.
//! That makes the result monotone in the budget: more bandwidth never takes a
//! layer away from any track. Hysteresis relies on it: going down to
//! `min(current, plan)` and up to `max(current, plan with headroom)` both stay
//! within the estimate.
//!
//! [`wanted_layers`] folds every subscriber's choice per publisher track, so
//! the publisher can be told to stop encoding layers nobody takes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::layer::{Layer, LayerSet, MAX_LAYERS};

/// A published track, as the room names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrackId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Priority {
    #[default]
    Normal,
    /// Upgraded before normal tracks: the active speaker's camera, a screen share.
    High,
}

/// One video track a subscriber receives, as the allocator needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    pub id: TrackId,
    /// Bitrate per layer in bit/s; `None` for a layer the publisher does not
    /// send. For a layer the publisher has paused (because no one took it),
    /// pass its nominal rate from the encoding parameters, not 0, or it can
    /// never be chosen again.
    pub layers: [Option<u64>; MAX_LAYERS],
    pub priority: Priority,
    /// The highest layer worth sending (from the size the subscriber renders
    /// it at); `None` when the subscriber does not want this video at all.
    pub max_layer: Option<Layer>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AllocatorConfig {
    /// Taken off the estimate per audio track before any video (Opus at
    /// 24–32 kbit/s plus RTP/UDP/IP overhead at 50 packets/s).
    pub audio_reserve_bps: u64,
    /// A track's floor is its lowest layer's rate times this.
    pub floor_headroom: f64,
    /// An upgrade must fit the estimate divided by this.
    pub up_headroom: f64,
    /// How long an upgrade must keep fitting before it is taken.
    pub up_hold: Duration,
    /// How long the current layers may exceed the estimate before going down.
    pub down_hold: Duration,
    /// Down at once, without the hold, when the current layers would not
    /// fit even this many times the estimate: no wobble of an estimate is
    /// that deep, it is the link collapsing, and every frame of the old
    /// layers sent meanwhile queues ahead of the lower layer's keyframe.
    pub collapse: f64,
}

impl Default for AllocatorConfig {
    fn default() -> AllocatorConfig {
        AllocatorConfig {
            audio_reserve_bps: 40_000,
            floor_headroom: 1.1,
            up_headroom: 1.2,
            up_hold: Duration::from_secs(3),
            down_hold: Duration::from_millis(500),
            collapse: 2.0,
        }
    }
}

/// Why a track's video is not being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseReason {
    /// The estimate is below the track's floor once audio is served.
    Bandwidth,
    /// The subscriber does not want this video (`max_layer` is `None`).
    NotWanted,
    /// The publisher sends no layer of it.
    NoLayers,
}

impl PauseReason {
    /// The name used on the wire and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            PauseReason::Bandwidth => "bandwidth",
            PauseReason::NotWanted => "not_wanted",
            PauseReason::NoLayers => "no_layers",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Layer(Layer),
    Paused(PauseReason),
}

/// The decision for one video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    pub track: TrackId,
    pub target: Target,
    /// Rate of the chosen layer, 0 when paused.
    pub bitrate_bps: u64,
}

impl Allocation {
    pub fn layer(&self) -> Option<Layer> {
        match self.target {
            Target::Layer(l) => Some(l),
            Target::Paused(_) => None,
        }
    }
}

/// `None` is paused; it sorts below every layer.
type Level = Option<Layer>;
type Plan = BTreeMap<TrackId, Level>;

/// The layers a track may use, lowest first, with the cumulative cost of
/// being at each (never decreasing, the first one raised to the floor).
fn ladder(cfg: &AllocatorConfig, track: &VideoTrack) -> Vec<(Layer, u64)> {
    let Some(max) = track.max_layer else {
        return Vec::new();
    };
    let available: Vec<(Layer, u64)> = Layer::ALL
        .iter()
        .filter_map(|&l| track.layers[l.index()].map(|rate| (l, rate)))
        .collect();
    let mut usable: Vec<(Layer, u64)> = available.iter().copied().filter(|&(l, _)| l <= max).collect();
    if usable.is_empty() {
        // Only layers above what the subscriber asked for: the lowest beats nothing.
        usable.extend(available.first());
    }
    let mut cost = 0;
    for (i, (_, rate)) in usable.iter_mut().enumerate() {
        let need = if i == 0 {
            (*rate as f64 * cfg.floor_headroom).round() as u64
        } else {
            *rate
        };
        cost = cost.max(need);
        *rate = cost;
    }
    usable
}

/// The share of `budget` among `tracks`: floors first, then upgrades one step
/// per track per round, high priority first, stopping at the first step that
/// does not fit.
fn plan(cfg: &AllocatorConfig, budget: u64, tracks: &[VideoTrack]) -> Plan {
    let mut steps = Vec::new();
    for track in tracks {
        let ladder = ladder(cfg, track);
        for (round, &(layer, cost)) in ladder.iter().enumerate() {
            let step_cost = cost - if round == 0 { 0 } else { ladder[round - 1].1 };
            let group = match (round, track.priority) {
                (0, _) => 0,
                (_, Priority::High) => 1,
                (_, Priority::Normal) => 2,
            };
            let rank = if round == 0 {
                std::cmp::Reverse(track.priority)
            } else {
                std::cmp::Reverse(Priority::Normal)
            };
            steps.push(((group, round, rank, track.id), layer, step_cost));
        }
    }
    steps.sort_by_key(|&(key, _, _)| key);

    let mut result: Plan = tracks.iter().map(|t| (t.id, None)).collect();
    let mut left = budget;
    for ((_, _, _, id), layer, cost) in steps {
        if cost > left {
            break;
        }
        left -= cost;
        result.insert(id, Some(layer));
    }
    result
}

/// An upgrade waiting for its hold time.
#[derive(Debug, Clone)]
struct PendingUp {
    since: Instant,
    /// The lowest plan seen since `since`, per track: what the estimate has
    /// supported the whole time.
    sustained: Plan,
    /// The lowest plan seen since the latest update at which a bandwidth
    /// probe confirmed the estimate while this was pending: what the probe
    /// vouched for and the estimate has kept since, which may be more than
    /// `sustained` (the estimate rose since the upgrade began, and the
    /// probe showed the rise was real).
    confirmed: Option<Plan>,
}

impl PendingUp {
    /// `prev` carried on with this pass's `plan`: its lowest level per track
    /// since it began (and since its latest confirmation: an estimate that
    /// fell after a probe has taken back part of what the probe showed), or
    /// a fresh start at the first sight or when the set of tracks changed.
    fn carry(prev: Option<PendingUp>, now: Instant, plan: &Plan) -> PendingUp {
        match prev {
            Some(mut p) if p.sustained.keys().eq(plan.keys()) => {
                let lowered = p.sustained.iter_mut().chain(p.confirmed.iter_mut().flatten());
                for (id, level) in lowered {
                    *level = (*level).min(plan[id]);
                }
                p
            }
            _ => PendingUp {
                since: now,
                sustained: plan.clone(),
                confirmed: None,
            },
        }
    }
}

/// The allocation state of one subscriber.
#[derive(Debug, Clone)]
pub struct Allocator {
    cfg: AllocatorConfig,
    current: Plan,
    down_since: Option<Instant>,
    up: Option<PendingUp>,
    /// The same as `up`, for the layers the subscriber would take if every
    /// layer its publishers were asked for arrived (absent ones at their
    /// nominal rate): how long this subscriber's link has proven it could
    /// carry a layer before the layer came (see [`Self::note_if_sent`]).
    up_if_sent: Option<PendingUp>,
    probe_confirmed: bool,
    /// Told by [`Self::link_collapsing`] since the last update.
    collapse_known: bool,
    /// The last update went down because the link collapsed.
    went_down_on_collapse: bool,
    /// Tracks whose publisher sent no layer at the last update.
    without_layers: BTreeSet<TrackId>,
}

impl Allocator {
    pub fn new(cfg: AllocatorConfig) -> Allocator {
        Allocator {
            cfg,
            current: Plan::new(),
            down_since: None,
            up: None,
            up_if_sent: None,
            probe_confirmed: false,
            collapse_known: false,
            went_down_on_collapse: false,
            without_layers: BTreeSet::new(),
        }
    }

    pub fn config(&self) -> &AllocatorConfig {
        &self.cfg
    }

    /// A bandwidth probe succeeded: the pending upgrade, if any, is taken at
    /// the next [`Self::update`] without waiting out the hold time.
    pub fn probe_succeeded(&mut self) {
        self.probe_confirmed = true;
    }

    /// The link is collapsing, whatever the estimate's depth under the
    /// current layers: the next [`Self::update`] goes down without waiting
    /// out the hold. (The caller knows from the congestion controller: its
    /// current estimate fell under half the averaged one it reports.)
    pub fn link_collapsing(&mut self) {
        self.collapse_known = true;
    }

    /// Whether the last [`Self::update`] went down because the link
    /// collapsed (the current layers would not fit twice the estimate, or
    /// [`Self::link_collapsing`] said so), not after an ordinary shortfall
    /// held for `down_hold`. The caller stops a collapsed link's layers at
    /// once and lets an ordinary shortfall's flow until the lower layer's
    /// keyframe (decision 0025).
    pub fn went_down_on_collapse(&self) -> bool {
        self.went_down_on_collapse
    }

    /// When a pending change falls due; call [`Self::update`] then with the
    /// latest inputs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let down = self.down_since.map(|t| t + self.cfg.down_hold);
        let up = self.up.as_ref().map(|u| u.since + self.cfg.up_hold);
        down.into_iter().chain(up).min()
    }

    /// The estimate at which the subscriber would take everything: audio,
    /// and each video's top layer with the upgrade headroom. The I/O layer
    /// hands it to the congestion controller as the rate worth probing for.
    ///
    /// With the headroom, because str0m stops probing once its estimate is
    /// above the desired rate: without it, an estimate that settled between
    /// the top layer's cost and that cost with headroom left every viewer
    /// on the lower layer for the whole call (`tests/browser/rural.test.js`:
    /// 240p both ways at a 1.15 Mbit/s estimate on a 50 Mbit/s link).
    pub fn desired_bps(&self, video: &[VideoTrack], audio_tracks: usize) -> u64 {
        let top: u64 = video
            .iter()
            .filter_map(|t| ladder(&self.cfg, t).last().map(|&(_, c)| c))
            .fold(0, u64::saturating_add);
        let top = (top as f64 * self.cfg.up_headroom).round() as u64;
        top.saturating_add(self.audio_reserve(audio_tracks))
    }

    /// The layer of each track this estimate would carry, without
    /// hysteresis but with the upgrade headroom: what the subscriber would
    /// take now if every layer in `video` arrived.
    pub fn affordable(
        &self,
        estimate_bps: u64,
        video: &[VideoTrack],
        audio_tracks: usize,
    ) -> BTreeMap<TrackId, Option<Layer>> {
        let available = estimate_bps.saturating_sub(self.audio_reserve(audio_tracks));
        plan(&self.cfg, (available as f64 / self.cfg.up_headroom) as u64, video)
    }

    /// Notes what this subscriber's estimate would carry, with the upgrade
    /// headroom, if every layer its publishers were asked for arrived:
    /// `affordable` is [`Self::affordable`] on those layers (absent ones at
    /// their nominal rate); call before each [`Self::update`]. An upgrade to
    /// a layer that was absent is then held only for what remains of
    /// `up_hold` since the estimate first carried it: the hold tests this
    /// subscriber's link, and a link that carried the layer's cost for
    /// seconds before the publisher could send it has passed the test. (A
    /// patient's uplink coming back after a step-down: the specialist, on
    /// fiber the whole time, waited 3 s more for the patient's 480p after it
    /// arrived; `bench/bench rural --profile step-down`.)
    ///
    /// A probe confirmed at such a time (call [`Self::probe_succeeded`]
    /// first) is kept for when the layer arrives: a probe's confirmation
    /// otherwise lasts one update, and a layer the publisher had stopped
    /// takes longer than that to come back (after a step-down recovery,
    /// the patient waited out the whole 3 s hold for the specialist's 480p
    /// on an estimate probes had raised to 1.6× its cost).
    ///
    /// What is kept is the lowest level the estimate carried since the
    /// latest confirmation, not since the upgrade began: an estimate
    /// climbing back after a collapse is confirmed step by step (decision
    /// 0020), and the lowest level from before the climb would hold the
    /// layer to the whole hold again (found by reading the code; decision
    /// 0020's follow-up).
    pub fn note_if_sent(&mut self, now: Instant, affordable: &BTreeMap<TrackId, Option<Layer>>) {
        let mut pending = PendingUp::carry(self.up_if_sent.take(), now, affordable);
        if self.probe_confirmed {
            pending.confirmed = Some(affordable.clone());
        }
        // Kept while either level is above what the subscriber takes: a
        // confirmation outlives an upgrade it let through to a layer already
        // there (a publisher sending its middle layer, not yet its top).
        let above_current = |plan: &Plan| {
            self.current
                .iter()
                .any(|(id, &level)| plan.get(id).is_some_and(|&l| l > level))
        };
        let gives_more = above_current(&pending.sustained) || pending.confirmed.as_ref().is_some_and(above_current);
        self.up_if_sent = gives_more.then_some(pending);
    }

    /// What `audio_tracks` audio tracks take off the estimate before video.
    pub fn audio_reserve(&self, audio_tracks: usize) -> u64 {
        self.cfg.audio_reserve_bps.saturating_mul(audio_tracks as u64)
    }

    /// Recomputes the allocation from the latest estimate (bit/s) and the
    /// tracks the subscriber receives (ids unique). Call on every new
    /// estimate, track change, and at [`Self::poll_timeout`].
    pub fn update(
        &mut self,
        now: Instant,
        estimate_bps: u64,
        video: &[VideoTrack],
        audio_tracks: usize,
    ) -> Vec<Allocation> {
        debug_assert!(
            video
                .iter()
                .enumerate()
                .all(|(i, t)| video[..i].iter().all(|u| u.id != t.id)),
            "duplicate track ids"
        );
        let available = estimate_bps.saturating_sub(self.audio_reserve(audio_tracks));
        let keep = plan(&self.cfg, available, video);
        let upgrade = plan(&self.cfg, (available as f64 / self.cfg.up_headroom) as u64, video);

        self.follow_track_changes(video, &keep);

        let over_budget = self.current.iter().any(|(id, &level)| keep[id] < level);
        self.went_down_on_collapse = false;
        if over_budget {
            self.up = None;
            self.up_if_sent = None;
            let collapsed = self.collapse_known || {
                let beyond = plan(&self.cfg, (available as f64 * self.cfg.collapse) as u64, video);
                self.current.iter().any(|(id, &level)| beyond[id] < level)
            };
            let since = *self.down_since.get_or_insert(now);
            if collapsed || now.saturating_duration_since(since) >= self.cfg.down_hold {
                for (id, level) in self.current.iter_mut() {
                    *level = (*level).min(keep[id]);
                }
                self.down_since = None;
                self.went_down_on_collapse = collapsed;
            }
        } else {
            self.down_since = None;
            self.consider_upgrade(now, upgrade);
        }
        self.probe_confirmed = false;
        self.collapse_known = false;

        video.iter().map(|t| self.allocation(t)).collect()
    }

    /// Forgets tracks that went away; places new tracks at once at what fits
    /// the estimate now (there is no earlier level to be cautious about, and
    /// the first picture should not wait for an upgrade's headroom: on a
    /// fresh 300 kbit/s estimate that headroom kept the lowest layer out for
    /// seconds), and moves a track whose layer vanished (publisher stopped
    /// it, subscriber shrank it) to the nearest one it may use. A track
    /// whose publisher sent nothing (an outage on the publisher's uplink) is
    /// placed like a new one when a layer arrives again: this subscriber's
    /// link was not the reason for the pause, and waiting out the upgrade
    /// hold kept the picture away for 3 s more after the patient's link came
    /// back (`bench/bench rural --profile dropout`: video back 4.5 s after).
    fn follow_track_changes(&mut self, video: &[VideoTrack], fits: &Plan) {
        self.current.retain(|id, _| fits.contains_key(id));
        self.without_layers.retain(|id| fits.contains_key(id));
        for track in video {
            let ladder = ladder(&self.cfg, track);
            let returned = !ladder.is_empty() && self.without_layers.remove(&track.id);
            if ladder.is_empty() && track.max_layer.is_some() {
                self.without_layers.insert(track.id);
            }
            match self.current.get(&track.id).copied() {
                None => {
                    self.current.insert(track.id, fits[&track.id]);
                }
                Some(None) if returned => {
                    self.current.insert(track.id, fits[&track.id]);
                }
                Some(Some(layer)) if !ladder.iter().any(|&(l, _)| l == layer) => {
                    let below = ladder.iter().rev().find(|&&(l, _)| l < layer);
                    let nearest = below.or(ladder.first()).map(|&(l, _)| l);
                    self.current.insert(track.id, nearest);
                }
                Some(_) => {}
            }
        }
    }

    fn consider_upgrade(&mut self, now: Instant, upgrade: Plan) {
        let wants_more = self.current.iter().any(|(id, &level)| upgrade[id] > level);
        if !wants_more {
            self.up = None;
            return;
        }
        let pending = PendingUp::carry(self.up.take(), now, &upgrade);
        let held = now.saturating_duration_since(pending.since) >= self.cfg.up_hold;
        if held {
            for (id, level) in self.current.iter_mut() {
                *level = (*level).max(pending.sustained[id]);
            }
            return;
        }
        // A probe speeds up an upgrade, not a resume: while it would resume
        // a paused video, everything waits out the hold (fair sharing: no
        // track moves up before every track has its floor). A probe's burst
        // can fit in a bottleneck's queue and read as headroom the link does
        // not have; a resume on such a link pauses again at once (seen in
        // `adaptation.rs`: resumed on a 110 kbit/s link).
        let resumes = self
            .current
            .iter()
            .any(|(id, &level)| level.is_none() && upgrade[id].is_some());
        // Carried for the hold, or confirmed by a probe, before the layers
        // arrived (`note_if_sent`).
        let covers = |carried: &Plan| {
            upgrade
                .iter()
                .all(|(id, &level)| carried.get(id).is_some_and(|&c| c >= level))
        };
        let proven = self.up_if_sent.as_ref().is_some_and(|p| {
            (now.saturating_duration_since(p.since) >= self.cfg.up_hold && covers(&p.sustained))
                || (!resumes && p.confirmed.as_ref().is_some_and(covers))
        });
        if proven {
            for (id, level) in self.current.iter_mut() {
                *level = (*level).max(upgrade[id]);
            }
            return;
        }
        if self.probe_confirmed && !resumes {
            for (id, level) in self.current.iter_mut() {
                *level = (*level).max(upgrade[id]);
            }
            return;
        }
        self.up = Some(pending);
    }

    fn allocation(&self, track: &VideoTrack) -> Allocation {
        let level = self.current.get(&track.id).copied().flatten();
        let (target, bitrate_bps) = match level {
            Some(layer) => (Target::Layer(layer), track.layers[layer.index()].unwrap_or(0)),
            None if track.max_layer.is_none() => (Target::Paused(PauseReason::NotWanted), 0),
            None if track.layers.iter().all(Option::is_none) => (Target::Paused(PauseReason::NoLayers), 0),
            None => (Target::Paused(PauseReason::Bandwidth), 0),
        };
        Allocation {
            track: track.id,
            target,
            bitrate_bps,
        }
    }
}

/// For each publisher track, the layers at least one subscriber takes.
///
/// Feed it every subscriber's chosen layers *and* the layers their rewriters
/// still forward while a switch waits for a keyframe; a layer missing from
/// the result (or a track missing altogether) can be paused at the publisher.
/// Resuming a paused layer costs a keyframe and a ramp-up, so the caller may
/// keep the lowest layer on regardless.
pub fn wanted_layers(selected: impl IntoIterator<Item = (TrackId, Layer)>) -> BTreeMap<TrackId, LayerSet> {
    let mut wanted: BTreeMap<TrackId, LayerSet> = BTreeMap::new();
    for (track, layer) in selected {
        wanted.entry(track).or_default().insert(layer);
    }
    wanted
}

#[cfg(test)]
#[path = "allocator_tests.rs"]
mod tests;
