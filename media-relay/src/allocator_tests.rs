//! Tests for `allocator.rs`, on a simulated clock with estimates updated
//! every 100 ms as a congestion controller would.

use std::time::{Duration, Instant};

use super::*;
use crate::testutil::{Rng, SimClock};

const TICK: Duration = Duration::from_millis(100);
/// Layer rates of a typical 3-layer VP8 simulcast camera.
const RATES: [Option<u64>; 3] = [Some(150_000), Some(500_000), Some(1_500_000)];

fn camera(id: u64) -> VideoTrack {
    VideoTrack {
        id: TrackId(id),
        layers: RATES,
        priority: Priority::Normal,
        max_layer: Some(Layer::HIGH),
    }
}

fn target(allocs: &[Allocation], id: u64) -> Target {
    allocs
        .iter()
        .find(|a| a.track == TrackId(id))
        .expect("track allocated")
        .target
}

/// Estimate (before audio) at which `video_bps` fits with the upgrade headroom.
fn with_headroom(video_bps: u64, audio_tracks: u64) -> u64 {
    (video_bps as f64 * 1.2) as u64 + 40_000 * audio_tracks + 100
}

/// Just enough for `video_bps` of video once audio is served: what a new
/// track is placed with (no upgrade headroom at first sight).
fn fitting(video_bps: u64, audio_tracks: u64) -> u64 {
    video_bps + 40_000 * audio_tracks + 100
}

struct Sim {
    clock: SimClock,
    alloc: Allocator,
    tracks: Vec<VideoTrack>,
    audio: usize,
    /// (time since start, allocations) after every change.
    changes: Vec<(Duration, Vec<Allocation>)>,
    last: Vec<Allocation>,
    start: Instant,
}

impl Sim {
    fn new(tracks: Vec<VideoTrack>, audio: usize) -> Sim {
        let clock = SimClock::new();
        let start = clock.now;
        Sim {
            clock,
            alloc: Allocator::new(AllocatorConfig::default()),
            tracks,
            audio,
            changes: Vec::new(),
            last: Vec::new(),
            start,
        }
    }

    fn update(&mut self, estimate: u64) -> Vec<Allocation> {
        let allocs = self.alloc.update(self.clock.now, estimate, &self.tracks, self.audio);
        if allocs != self.last {
            self.changes.push((self.clock.now - self.start, allocs.clone()));
            self.last = allocs.clone();
        }
        allocs
    }

    /// Feeds `estimate` every 100 ms for `span`; returns the last allocation.
    fn run(&mut self, estimate: u64, span: Duration) -> Vec<Allocation> {
        let end = self.clock.now + span;
        let mut allocs = self.update(estimate);
        while self.clock.now + TICK <= end {
            self.clock.advance(TICK);
            allocs = self.update(estimate);
        }
        allocs
    }

    /// Runs until the allocation of `id` becomes `want`; returns how long that took.
    fn time_until(&mut self, estimate: u64, id: u64, want: Target, limit: Duration) -> Option<Duration> {
        let from = self.clock.now;
        loop {
            if target(&self.update(estimate), id) == want {
                return Some(self.clock.now - from);
            }
            if self.clock.now - from >= limit {
                return None;
            }
            self.clock.advance(TICK);
        }
    }
}

#[test]
fn audio_is_reserved_before_video() {
    // 200 kbit/s of video fits 150k * 1.1 with headroom without audio...
    let mut alone = Sim::new(vec![camera(1)], 0);
    assert_eq!(target(&alone.update(240_000), 1), Target::Layer(Layer::LOW));
    // ...but not once two audio tracks have taken their 80 kbit/s.
    let mut with_audio = Sim::new(vec![camera(1)], 2);
    assert_eq!(
        target(&with_audio.update(240_000), 1),
        Target::Paused(PauseReason::Bandwidth)
    );
    // A tiny estimate still leaves audio alone: video paused, nothing else to cut.
    assert_eq!(
        target(&with_audio.update(30_000), 1),
        Target::Paused(PauseReason::Bandwidth)
    );
    // The reserve is configurable.
    let cfg = AllocatorConfig {
        audio_reserve_bps: 10_000,
        ..AllocatorConfig::default()
    };
    let mut a = Allocator::new(cfg);
    assert_eq!(
        target(&a.update(Instant::now(), 240_000, &[camera(1)], 2), 1),
        Target::Layer(Layer::LOW)
    );
}

#[test]
fn goes_down_within_a_second_of_a_drop() {
    let mut sim = Sim::new(vec![camera(1)], 1);
    assert_eq!(
        target(&sim.run(3_000_000, Duration::from_secs(1)), 1),
        Target::Layer(Layer::HIGH)
    );
    // 1 Mbit/s: the 1.5 Mbit/s layer no longer fits, but would fit twice
    // the estimate, so the estimate may only be wobbling: the hold applies.
    let took = sim
        .time_until(1_000_000, 1, Target::Layer(Layer::MID), Duration::from_secs(5))
        .unwrap();
    assert!(took <= Duration::from_secs(1), "took {took:?}");
    assert!(took >= AllocatorConfig::default().down_hold, "no hold at all: {took:?}");
    // A collapse below the floor pauses video within a second too.
    let took = sim
        .time_until(
            100_000,
            1,
            Target::Paused(PauseReason::Bandwidth),
            Duration::from_secs(5),
        )
        .unwrap();
    assert!(took <= Duration::from_secs(1), "took {took:?}");
}

#[test]
fn a_collapse_goes_down_at_once() {
    // 600 kbit/s under a 1.5 Mbit/s layer: not even twice the estimate
    // would carry it. Waiting out the hold would only queue more of it.
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(3_000_000, Duration::from_secs(1));
    assert_eq!(target(&sim.update(600_000), 1), Target::Layer(Layer::MID));
    // The same from the middle layer to below the floor: paused at once.
    assert_eq!(target(&sim.update(100_000), 1), Target::Paused(PauseReason::Bandwidth));
}

#[test]
fn a_collapse_the_caller_knows_of_goes_down_at_once_however_deep() {
    // 1 Mbit/s under a 1.5 Mbit/s layer is within twice the estimate: the
    // hold would apply, but the caller knows the link is collapsing.
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(3_000_000, Duration::from_secs(1));
    assert_eq!(target(&sim.update(1_000_000), 1), Target::Layer(Layer::HIGH), "held");
    sim.alloc.link_collapsing();
    assert_eq!(target(&sim.update(1_000_000), 1), Target::Layer(Layer::MID));
}

#[test]
fn only_a_collapse_is_told_as_one() {
    // An ordinary shortfall: told as none on the update that goes down.
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(3_000_000, Duration::from_secs(1));
    let mut went_down = None;
    for _ in 0..20 {
        sim.clock.advance(TICK);
        if target(&sim.update(1_000_000), 1) == Target::Layer(Layer::MID) {
            went_down = Some(sim.alloc.went_down_on_collapse());
            break;
        }
    }
    assert_eq!(went_down, Some(false), "an ordinary shortfall, held");

    // Not twice the estimate: a collapse, told on that update only.
    sim.run(3_000_000, Duration::from_secs(5));
    assert_eq!(target(&sim.update(3_000_000), 1), Target::Layer(Layer::HIGH));
    assert_eq!(target(&sim.update(600_000), 1), Target::Layer(Layer::MID));
    assert!(sim.alloc.went_down_on_collapse(), "not twice the estimate");
    sim.update(600_000);
    assert!(!sim.alloc.went_down_on_collapse(), "only the update that went down");

    // The caller knew of a collapse.
    sim.run(3_000_000, Duration::from_secs(5));
    assert_eq!(target(&sim.update(3_000_000), 1), Target::Layer(Layer::HIGH));
    sim.alloc.link_collapsing();
    assert_eq!(target(&sim.update(1_000_000), 1), Target::Layer(Layer::MID));
    assert!(sim.alloc.went_down_on_collapse(), "the caller knew of a collapse");
}

#[test]
fn a_short_dip_does_not_go_down() {
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(3_000_000, Duration::from_secs(1));
    sim.run(1_000_000, Duration::from_millis(300));
    let allocs = sim.run(3_000_000, Duration::from_secs(2));
    assert_eq!(target(&allocs, 1), Target::Layer(Layer::HIGH));
    assert_eq!(sim.changes.len(), 1, "{:?}", sim.changes);
}

#[test]
fn goes_up_only_after_the_hold_time() {
    let mut sim = Sim::new(vec![camera(1)], 1);
    assert_eq!(
        target(&sim.run(with_headroom(500_000, 1), Duration::from_secs(1)), 1),
        Target::Layer(Layer::MID)
    );
    let plenty = with_headroom(1_500_000, 1);
    let raised_at = sim.clock.now;
    sim.update(plenty);
    assert_eq!(sim.alloc.poll_timeout(), Some(raised_at + Duration::from_secs(3)));
    let took = sim
        .time_until(plenty, 1, Target::Layer(Layer::HIGH), Duration::from_secs(10))
        .unwrap();
    assert_eq!(took, Duration::from_secs(3));
    assert_eq!(sim.alloc.poll_timeout(), None);
}

#[test]
fn headroom_is_required_to_go_up() {
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(with_headroom(500_000, 1), Duration::from_secs(1));
    // Enough for HIGH at face value, not with 20 % headroom: stays at MID.
    let allocs = sim.run(1_500_000 + 40_000 + 10_000, Duration::from_secs(10));
    assert_eq!(target(&allocs, 1), Target::Layer(Layer::MID));
}

#[test]
fn an_upgrade_takes_what_held_for_the_whole_hold_time() {
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(with_headroom(165_000, 1), Duration::from_secs(1));
    // HIGH is affordable for only part of the window, MID throughout.
    sim.run(with_headroom(1_500_000, 1), Duration::from_secs(1));
    sim.run(with_headroom(500_000, 1), Duration::from_millis(500));
    let allocs = sim.run(with_headroom(1_500_000, 1), Duration::from_millis(1600));
    assert_eq!(target(&allocs, 1), Target::Layer(Layer::MID));
}

#[test]
fn a_probe_confirms_headroom_at_once() {
    let mut sim = Sim::new(vec![camera(1)], 1);
    let enough_for_mid = with_headroom(500_000, 1);
    sim.run(enough_for_mid, Duration::from_secs(1));
    // A probe with nothing to upgrade is used up, not saved for later.
    sim.alloc.probe_succeeded();
    sim.update(enough_for_mid);
    let plenty = with_headroom(1_500_000, 1);
    sim.clock.advance(TICK);
    assert_eq!(target(&sim.update(plenty), 1), Target::Layer(Layer::MID));
    // A probe while an upgrade waits takes it without the hold time.
    sim.alloc.probe_succeeded();
    sim.clock.advance(TICK);
    assert_eq!(target(&sim.update(plenty), 1), Target::Layer(Layer::HIGH));
    assert_eq!(sim.alloc.poll_timeout(), None);
}

#[test]
fn pauses_below_the_floor_and_resumes_by_itself() {
    let mut sim = Sim::new(vec![camera(1)], 1);
    assert_eq!(
        target(&sim.run(400_000, Duration::from_secs(1)), 1),
        Target::Layer(Layer::LOW)
    );
    let paused = sim.run(150_000, Duration::from_secs(2));
    assert_eq!(
        paused[0],
        Allocation {
            track: TrackId(1),
            target: Target::Paused(PauseReason::Bandwidth),
            bitrate_bps: 0
        }
    );
    let took = sim
        .time_until(400_000, 1, Target::Layer(Layer::LOW), Duration::from_secs(10))
        .unwrap();
    assert_eq!(took, Duration::from_secs(3));
    assert_eq!(sim.last[0].bitrate_bps, 150_000);
}

#[test]
fn a_probe_does_not_resume_paused_video_the_hold_does() {
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(400_000, Duration::from_secs(1));
    let paused = sim.run(150_000, Duration::from_secs(2));
    assert_eq!(target(&paused, 1), Target::Paused(PauseReason::Bandwidth));
    // The estimate rises past the floor and a probe says so at once: the
    // video stays paused until the estimate has held for `up_hold`.
    sim.update(400_000);
    sim.alloc.probe_succeeded();
    sim.clock.advance(TICK);
    assert_eq!(target(&sim.update(400_000), 1), Target::Paused(PauseReason::Bandwidth));
    let took = sim
        .time_until(400_000, 1, Target::Layer(Layer::LOW), Duration::from_secs(10))
        .unwrap();
    assert!(took >= Duration::from_millis(2_800), "resumed after {took:?}");
}

#[test]
fn oscillating_estimate_does_not_flap() {
    // Swinging between plenty and little every second: one step down, then
    // it never holds long enough to go back up.
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(3_000_000, Duration::from_secs(1));
    for _ in 0..30 {
        sim.run(400_000, Duration::from_secs(1));
        sim.run(3_000_000, Duration::from_secs(1));
    }
    assert_eq!(sim.changes.len(), 2, "{:?}", sim.changes);

    // Jitter of ±10 % around what MID needs: nothing changes at all.
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(with_headroom(500_000, 1), Duration::from_secs(1));
    for _ in 0..100 {
        sim.run(500_000 + 40_000 - 50_000, Duration::from_millis(300));
        sim.run(500_000 + 40_000 + 50_000, Duration::from_millis(300));
    }
    assert_eq!(sim.changes.len(), 1, "{:?}", sim.changes);
}

#[test]
fn two_tracks_share_fairly() {
    let tracks = vec![camera(1), camera(2)];
    // Room for two floors but not one floor plus a MID: both LOW, not MID + paused.
    let mut sim = Sim::new(tracks.clone(), 2);
    let allocs = sim.update(fitting(2 * 165_000 + 300_000, 2));
    assert_eq!(
        (target(&allocs, 1), target(&allocs, 2)),
        (Target::Layer(Layer::LOW), Target::Layer(Layer::LOW))
    );
    // One upgrade's worth more: the first track by id gets it, then both.
    let mut sim = Sim::new(tracks.clone(), 2);
    let allocs = sim.update(fitting(165_000 + 500_000, 2));
    assert_eq!(
        (target(&allocs, 1), target(&allocs, 2)),
        (Target::Layer(Layer::MID), Target::Layer(Layer::LOW))
    );
    let mut sim = Sim::new(tracks, 2);
    let allocs = sim.update(fitting(2 * 500_000, 2));
    assert_eq!(
        (target(&allocs, 1), target(&allocs, 2)),
        (Target::Layer(Layer::MID), Target::Layer(Layer::MID))
    );
    // Too little for two floors: one track shows, the other is paused.
    let allocs = sim.run(40_000 * 2 + 200_000, Duration::from_secs(2));
    assert_eq!(
        (target(&allocs, 1), target(&allocs, 2)),
        (Target::Layer(Layer::LOW), Target::Paused(PauseReason::Bandwidth))
    );
}

#[test]
fn high_priority_track_is_upgraded_first() {
    let mut screen = camera(9);
    screen.priority = Priority::High;
    let mut sim = Sim::new(vec![camera(1), screen], 1);
    let allocs = sim.update(fitting(165_000 + 1_500_000, 1));
    assert_eq!(
        (target(&allocs, 1), target(&allocs, 9)),
        (Target::Layer(Layer::LOW), Target::Layer(Layer::HIGH))
    );
}

#[test]
fn track_changes_take_effect_at_once() {
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(with_headroom(1_500_000, 1), Duration::from_secs(1));
    // The subscriber shrinks the tile: down at once, no hold.
    sim.tracks[0].max_layer = Some(Layer::LOW);
    assert_eq!(
        target(&sim.update(with_headroom(1_500_000, 1)), 1),
        Target::Layer(Layer::LOW)
    );
    // ...and hides it.
    sim.tracks[0].max_layer = None;
    assert_eq!(
        target(&sim.update(3_000_000), 1),
        Target::Paused(PauseReason::NotWanted)
    );
    // The publisher stops its top layer while it is forwarded.
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(3_000_000, Duration::from_secs(1));
    sim.tracks[0].layers[2] = None;
    assert_eq!(target(&sim.update(3_000_000), 1), Target::Layer(Layer::MID));
    sim.tracks[0].layers = [None; 3];
    assert_eq!(target(&sim.update(3_000_000), 1), Target::Paused(PauseReason::NoLayers));
    // A new track starts at once at what fits with headroom.
    sim.tracks.push(camera(2));
    assert_eq!(target(&sim.update(3_000_000), 2), Target::Layer(Layer::HIGH));
    sim.tracks.remove(0);
    assert_eq!(sim.update(3_000_000).len(), 1);
}

#[test]
fn only_a_higher_layer_published_is_still_shown() {
    let mut track = camera(1);
    track.layers = [None, None, Some(300_000)];
    track.max_layer = Some(Layer::LOW);
    let mut sim = Sim::new(vec![track], 0);
    assert_eq!(target(&sim.update(1_000_000), 1), Target::Layer(Layer::HIGH));
}

#[test]
fn a_video_paused_for_want_of_layers_resumes_at_once_when_one_arrives() {
    let mut sim = Sim::new(vec![camera(1)], 1);
    sim.run(3_000_000, Duration::from_secs(5));
    // The publisher's uplink goes silent (an outage): paused, no layers.
    sim.tracks[0].layers = [None; 3];
    sim.run(3_000_000, Duration::from_secs(5));
    assert_eq!(target(&sim.last, 1), Target::Paused(PauseReason::NoLayers));
    // Its lowest layer comes back: shown on the next pass, no upgrade hold.
    sim.tracks[0].layers = [Some(150_000), None, None];
    sim.clock.advance(TICK);
    assert_eq!(target(&sim.update(3_000_000), 1), Target::Layer(Layer::LOW));
    // A pause for this subscriber's own bandwidth still waits out the hold.
    sim.run(100_000, Duration::from_secs(2));
    assert_eq!(target(&sim.last, 1), Target::Paused(PauseReason::Bandwidth));
    let resumed = sim.time_until(3_000_000, 1, Target::Layer(Layer::LOW), Duration::from_secs(10));
    assert!(
        resumed.is_some_and(|d| d >= AllocatorConfig::default().up_hold),
        "{resumed:?}"
    );
}

#[test]
fn desired_rate_is_everything_at_the_top_with_the_upgrade_headroom() {
    let mut alloc = Allocator::new(AllocatorConfig::default());
    let mut hidden = camera(3);
    hidden.max_layer = None;
    let tracks = [camera(1), camera(2), hidden];
    let desired = alloc.desired_bps(&tracks, 2);
    assert_eq!(desired, 80_000 + 3_600_000);
    // An estimate at the desired rate is enough to take the top layers, so
    // probing toward it (and no further) finds out whether they fit.
    let t0 = Instant::now();
    alloc.update(t0, desired, &tracks, 2);
    let at_top = alloc.update(t0 + Duration::from_secs(10), desired, &tracks, 2);
    assert!(
        at_top.iter().take(2).all(|a| a.target == Target::Layer(Layer::HIGH)),
        "{at_top:?}"
    );
}

#[test]
fn wanted_layers_fold_all_subscribers() {
    let (a, b, c) = (TrackId(1), TrackId(2), TrackId(3));
    let wanted = wanted_layers([(a, Layer::LOW), (b, Layer::HIGH), (a, Layer::HIGH), (a, Layer::LOW)]);
    assert_eq!(wanted[&a].iter().collect::<Vec<_>>(), vec![Layer::LOW, Layer::HIGH]);
    assert_eq!(wanted[&b].iter().collect::<Vec<_>>(), vec![Layer::HIGH]);
    assert!(!wanted.contains_key(&c), "nobody takes track 3");

    // Straight from allocations: paused tracks contribute nothing.
    let allocs = [
        Allocation {
            track: a,
            target: Target::Layer(Layer::MID),
            bitrate_bps: 500_000,
        },
        Allocation {
            track: b,
            target: Target::Paused(PauseReason::Bandwidth),
            bitrate_bps: 0,
        },
    ];
    let wanted = wanted_layers(allocs.iter().filter_map(|x| Some((x.track, x.layer()?))));
    assert_eq!(wanted.len(), 1);
    assert!(wanted[&a].contains(Layer::MID));
}

#[test]
fn deterministic_for_the_same_inputs() {
    let run = || {
        let mut sim = Sim::new(vec![camera(1), camera(2)], 2);
        let mut x = 1_000_000u64;
        for i in 0..200u64 {
            x = (x * 7 + i * 13_001) % 3_000_000;
            sim.run(x, Duration::from_millis(200));
        }
        sim.changes
    };
    assert_eq!(run(), run());
}

#[test]
fn arbitrary_inputs_never_panic_and_settle_within_the_estimate() {
    let mut rng = Rng::new(0xA110C);
    let mut clock = SimClock::new();
    let mut alloc = Allocator::new(AllocatorConfig::default());
    let rate = |rng: &mut Rng| match rng.below(6) {
        0 => None,
        1 => Some(u64::MAX),
        2 => Some(0),
        _ => Some(rng.below(3_000_000)),
    };
    for _ in 0..5_000 {
        let tracks: Vec<VideoTrack> = (0..rng.below(4))
            .map(|id| VideoTrack {
                id: TrackId(id),
                layers: [rate(&mut rng), rate(&mut rng), rate(&mut rng)],
                priority: if rng.below(3) == 0 {
                    Priority::High
                } else {
                    Priority::Normal
                },
                max_layer: Layer::new(rng.below(4) as usize),
            })
            .collect();
        let estimate = if rng.below(10) == 0 {
            u64::MAX
        } else {
            rng.below(5_000_000)
        };
        let audio = rng.below(3) as usize;
        if rng.below(20) == 0 {
            alloc.probe_succeeded();
        }
        let allocs = alloc.update(clock.now, estimate, &tracks, audio);
        assert_eq!(allocs.len(), tracks.len());
        let _ = alloc.desired_bps(&tracks, audio);
        // Whatever happened before, once the down hold has passed with the
        // same inputs the video fits in what audio leaves.
        clock.advance(AllocatorConfig::default().down_hold);
        let settled = alloc.update(clock.now, estimate, &tracks, audio);
        let video = settled.iter().fold(0u64, |sum, a| sum.saturating_add(a.bitrate_bps));
        assert!(
            video <= estimate.saturating_sub(40_000 * audio as u64),
            "{settled:?} over {estimate}"
        );
        clock.advance(Duration::from_millis(rng.below(1500)));
    }
}

#[test]
fn a_new_track_starts_at_what_fits_now_without_upgrade_headroom() {
    // A fresh 300 kbit/s estimate: audio plus a 240 kbit/s lowest layer fit,
    // though not with an upgrade's 20 % headroom. The first picture must not
    // wait for the estimate to grow.
    let mut low = camera(1);
    low.layers = [Some(200_000), Some(900_000), None];
    let mut sim = Sim::new(vec![low], 1);
    let allocs = sim.update(300_000);
    assert_eq!(target(&allocs, 1), Target::Layer(Layer::LOW));
}

/// Passes of `update` every tick for `for_`, with `note_if_sent` before
/// each: the subscriber's estimate, what the publisher sends, and what it
/// would send if its uplink carried everything asked for.
fn run_if_sent(
    alloc: &mut Allocator,
    t: &mut Instant,
    for_: Duration,
    estimate: u64,
    sent: &VideoTrack,
    if_sent: &VideoTrack,
) -> Vec<Allocation> {
    let end = *t + for_;
    let mut last = Vec::new();
    while *t < end {
        let affordable = alloc.affordable(estimate, std::slice::from_ref(if_sent), 1);
        alloc.note_if_sent(*t, &affordable);
        last = alloc.update(*t, estimate, std::slice::from_ref(sent), 1);
        *t += TICK;
    }
    last
}

/// Plenty for the top layer with headroom.
fn plenty() -> u64 {
    with_headroom(1_500_000, 1) * 2
}

/// Every layer arriving, on plenty of estimate, for `for_`.
fn all_layers_for(alloc: &mut Allocator, t: &mut Instant, for_: Duration) -> Vec<Allocation> {
    run_if_sent(alloc, t, for_, plenty(), &camera(1), &camera(1))
}

/// An allocator that saw `estimate` for 5 s while the publisher's uplink
/// carried only its lowest layer, and the clock after.
fn after_lowest_only(estimate: u64) -> (Allocator, Instant, VideoTrack) {
    let mut alloc = Allocator::new(AllocatorConfig::default());
    let mut t = Instant::now();
    let mut lowest = camera(1);
    lowest.layers = [RATES[0], None, None];
    let last = run_if_sent(
        &mut alloc,
        &mut t,
        Duration::from_secs(5),
        estimate,
        &lowest,
        &camera(1),
    );
    assert_eq!(target(&last, 1), Target::Layer(Layer::LOW));
    (alloc, t, lowest)
}

#[test]
fn a_layer_the_link_carried_before_it_arrived_is_taken_as_it_arrives() {
    // This subscriber's link would have carried the top layer all along.
    let (mut alloc, mut t, _) = after_lowest_only(plenty());
    // The publisher's uplink recovers: the top layer is taken at once.
    let now = all_layers_for(&mut alloc, &mut t, TICK);
    assert_eq!(target(&now, 1), Target::Layer(Layer::HIGH));
}

#[test]
fn a_layer_arriving_as_the_estimate_rises_still_waits_out_the_hold() {
    // This subscriber's own link carried only the lowest layer so far.
    let (mut alloc, mut t, _) = after_lowest_only(with_headroom(150_000, 1));
    // Its estimate rises just as the top layer arrives: the usual hold.
    let soon = all_layers_for(&mut alloc, &mut t, Duration::from_secs(2));
    assert!(
        matches!(target(&soon, 1), Target::Layer(l) if l < Layer::HIGH),
        "{soon:?}"
    );
    let held = all_layers_for(&mut alloc, &mut t, Duration::from_secs(2));
    assert_eq!(target(&held, 1), Target::Layer(Layer::HIGH));
}

/// After `after_lowest_only(estimate)`, a probe confirms an estimate that
/// carries the top layer, which the publisher had stopped: it is asked for,
/// and takes a moment to come. The allocator and clock then, and the
/// publisher's track as it still is (lowest layer only).
fn with_a_probe_on_the_way(estimate: u64) -> (Allocator, Instant, VideoTrack) {
    let (mut alloc, mut t, lowest) = after_lowest_only(estimate);
    alloc.probe_succeeded();
    run_if_sent(
        &mut alloc,
        &mut t,
        Duration::from_millis(500),
        plenty(),
        &lowest,
        &camera(1),
    );
    (alloc, t, lowest)
}

/// [`with_a_probe_on_the_way`], and the target as the top layer arrives.
fn on_arrival_after_a_probe(estimate: u64) -> Target {
    let (mut alloc, mut t, _) = with_a_probe_on_the_way(estimate);
    target(&all_layers_for(&mut alloc, &mut t, TICK), 1)
}

#[test]
fn a_layer_arriving_after_a_probe_confirmed_the_estimate_is_taken_as_it_arrives() {
    assert_eq!(
        on_arrival_after_a_probe(with_headroom(150_000, 1)),
        Target::Layer(Layer::HIGH)
    );
}

#[test]
fn a_probe_confirming_more_than_the_pending_upgrade_began_with_is_taken_as_the_layer_arrives() {
    // The estimate would have carried the middle layer for 5 s before the
    // probe: an upgrade pending at the middle layer. The top layer is still
    // taken at once, not after another hold (the middle layer, what the
    // estimate carried since the upgrade began, is not what the probe
    // vouched for).
    assert_eq!(
        on_arrival_after_a_probe(with_headroom(RATES[1].unwrap(), 1)),
        Target::Layer(Layer::HIGH)
    );
}

#[test]
fn an_estimate_that_fell_after_a_probe_takes_back_what_the_probe_confirmed() {
    // A probe confirms an estimate for the top layer, which is on its way...
    let (mut alloc, mut t, lowest) = with_a_probe_on_the_way(with_headroom(150_000, 1));
    // ...then the estimate falls to carry only the middle layer (not under
    // the current layer: no congestion), and climbs back, unconfirmed, as
    // the top layer arrives: the usual hold, as if no probe had come.
    let mid = with_headroom(RATES[1].unwrap(), 1);
    run_if_sent(&mut alloc, &mut t, Duration::from_secs(1), mid, &lowest, &camera(1));
    let soon = all_layers_for(&mut alloc, &mut t, TICK);
    assert!(!matches!(target(&soon, 1), Target::Layer(Layer::HIGH)), "{soon:?}");
}

#[test]
fn a_confirmation_outlives_an_upgrade_it_let_through_to_a_layer_already_there() {
    let mut alloc = Allocator::new(AllocatorConfig::default());
    let mut t = Instant::now();
    // The publisher sends its lowest and middle layers, not yet its top.
    let mut two = camera(1);
    two.layers = [RATES[0], RATES[1], None];
    let low = with_headroom(RATES[0].unwrap(), 1);
    run_if_sent(&mut alloc, &mut t, Duration::from_secs(5), low, &two, &camera(1));
    // The estimate rises to carry the middle layer: an upgrade pending,
    // under its hold for now.
    let mid = with_headroom(RATES[1].unwrap(), 1);
    run_if_sent(&mut alloc, &mut t, Duration::from_secs(1), mid, &two, &camera(1));
    // A probe confirms an estimate for the top layer: the middle layer is
    // taken at once...
    alloc.probe_succeeded();
    let now = run_if_sent(&mut alloc, &mut t, TICK, plenty(), &two, &camera(1));
    assert_eq!(target(&now, 1), Target::Layer(Layer::MID));
    run_if_sent(
        &mut alloc,
        &mut t,
        Duration::from_millis(500),
        plenty(),
        &two,
        &camera(1),
    );
    // ...and the top layer, arriving, too.
    let top = all_layers_for(&mut alloc, &mut t, TICK);
    assert_eq!(target(&top, 1), Target::Layer(Layer::HIGH));
}

#[test]
fn congestion_forgets_what_the_link_carried_before() {
    let (mut alloc, mut t, lowest) = after_lowest_only(plenty());
    // The subscriber's link collapses below its current layer for a moment.
    run_if_sent(&mut alloc, &mut t, Duration::from_secs(1), 50_000, &lowest, &camera(1));
    // Back up as the top layer arrives: the link has not proven itself since.
    let soon = all_layers_for(&mut alloc, &mut t, TICK);
    assert!(!matches!(target(&soon, 1), Target::Layer(Layer::HIGH)), "{soon:?}");
}
