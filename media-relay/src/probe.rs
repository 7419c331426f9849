//! When to ask str0m for a bandwidth probe toward one subscriber.
//!
//! A subscriber on a low layer (or paused) sends the relay's estimator too
//! little traffic to learn that the link could carry more: a delay-based
//! estimate grows to about 1.5× what is actually sent, and str0m's own
//! periodic probes only start when the leg is clearly application-limited.
//! Padding up to the next layer would find out, but on a rural link whose next
//! layer never fits it would fill the patient's downlink for the whole call.
//!
//! So, while a subscriber would take more than the estimate allows, the relay
//! asks for a probe now and then: str0m sends one when the desired bitrate
//! *rises* above the estimate (an "allocation probe": a burst of a few tens of
//! milliseconds at up to twice the estimate), so the pacer lowers the desired
//! rate for one adaptation pass and restores it on the next. Each probe's
//! result sets the wait after the probe that follows it (the wait is set
//! when a probe is asked for, from the result of the one before): doubled
//! (2 s, then 4 s) if it did not raise the estimate, a second if it did. So
//! the probe right after a first gain still comes on the longer wait, and
//! those after it a second apart while they keep raising the estimate.
//! Bringing that probe forward to a second after the gain was tried and
//! left out: no faster recovery in five step-down runs (decision 0020).
//!
//! Why the wait stops at 4 s: a probe is a burst of 15 ms or a few packets,
//! so one every 4 s costs a full link almost nothing, while the wait bounds
//! how long a link that has come back goes unnoticed. With a 32 s ceiling a
//! patient whose link collapsed for 30 s and then recovered stayed on the
//! lowest layer for up to half a minute more (`bench/bench rural --profile
//! step-down`: not back on the top layer within the 12 s the run leaves).

use std::time::{Duration, Instant};

/// How long after a probe a change of the estimate is taken as the probe's
/// own result (a fall, or a gain; a gain is watched this long again after
/// each clear one): str0m finalizes a probe up to 1 s after it was sent,
/// and its feedback takes a round trip (600 ms on a satellite link).
const RESULT_WITHIN: Duration = Duration::from_secs(2);
/// A probe's result this far under the estimate it started from is not a
/// measurement of the link (see [`ProbePacer::undercut`]).
const UNDERCUT_BELOW: f64 = 0.9;

const FIRST_WAIT: Duration = Duration::from_secs(2);
const MAX_WAIT: Duration = Duration::from_secs(4);
/// The wait set after a probe that raised the estimate (it applies from the
/// probe after it: see the module doc). Probes that keep working are then a
/// second apart, which doubles the estimate every second or so.
const AFTER_GAIN_WAIT: Duration = Duration::from_secs(1);
/// A probe "worked" when the estimate rose by more than this since it.
const GAIN: f64 = 1.1;
/// A rise of the estimate by more than this in one adaptation pass, with no
/// probe's result pending, is the result of one of str0m's own probes (at
/// the start of a call, after a drop, in an application-limited stretch):
/// its delay-based estimate grows by a few percent a second.
const OWN_PROBE_JUMP: f64 = 1.5;
/// How long after the relay restarts str0m's estimator its figures are not
/// taken under the one it restarted from: the first feedback the fresh
/// estimator reads is about packets sent before the restart, a round trip
/// earlier (640 ms toward a satellite patient), and from so little it made
/// 257 and 269 kbit/s of restarts from 1.05 and 1.07 Mbit/s, and 0.7-0.9
/// Mbit/s half a second later. Allocated from, that paused the patient's
/// video for 3.2 s (`bench/bench rural --profile satellite`, decision 0027).
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct ProbePacer {
    next_at: Option<Instant>,
    wait: Duration,
    /// The desired rate was lowered on the last pass; restoring it probes.
    lowered: bool,
    /// A result has been watched since probing (re)started: it sets the
    /// wait after the next probe.
    waits_on_result: bool,
    estimate_at_probe: Option<u64>,
    /// The estimate at which [`Self::confirmed`] last reported a gain of
    /// the last probe (`None`: none yet); further gains are measured from it.
    reported: Option<u64>,
    /// When the last probe was asked for, until its result is in.
    probed_at: Option<Instant>,
    /// Until when a further rise counts as the last probe's ([`Self::confirmed`]).
    gains_until: Option<Instant>,
    /// The estimate [`Self::confirmed`] saw on the pass before.
    last_seen: Option<u64>,
    /// When, and from what figure, the relay last restarted str0m's
    /// estimator ([`Self::settling`]).
    restart: Option<(Instant, u64)>,
    /// When [`Self::undercut`]'s last cut was undone ([`Self::undone`]).
    undone_at: Option<Instant>,
}

impl Default for ProbePacer {
    fn default() -> ProbePacer {
        ProbePacer {
            next_at: None,
            wait: FIRST_WAIT,
            lowered: false,
            waits_on_result: false,
            estimate_at_probe: None,
            reported: None,
            probed_at: None,
            gains_until: None,
            last_seen: None,
            restart: None,
            undone_at: None,
        }
    }
}

impl ProbePacer {
    /// Whether the estimate has risen since the last probe, as the probe's
    /// result: the allocator may then take the upgrade without waiting out
    /// its hold time, since the link was just measured to carry it. The
    /// probe's results are watched for [`RESULT_WITHIN`] after it, and for
    /// [`RESULT_WITHIN`] after each clear gain (more than [`GAIN`] over the
    /// last figure): str0m follows a probe that found room with probes of
    /// its own at higher rates, a rise every 0.2-0.4 s for 2 s and more.
    /// The first report needs a clear gain over the estimate before the
    /// probe (the probe found room); after it, any rise over the last
    /// report is reported, since the step that reaches the next layer can
    /// be a small one (decisions 0020 and 0024). A small rise does not keep
    /// the window open, so the estimator's own slow growth does not stretch
    /// it on and on; a cut taken by [`Self::undercut`] closes it.
    ///
    /// A jump of more than [`OWN_PROBE_JUMP`] in one pass with no probe's
    /// result pending is watched as a probe's result too, from the figure
    /// before it (decision 0027). Only between two passes that both
    /// allocated from str0m's own estimate (`own`): the relay's figure also
    /// jumps when it stops going by the pacer's fallen estimate, by a bound
    /// for heavy loss or by a restart's settle second, and none of those is
    /// a probe. Nor for [`RESULT_WITHIN`] after a restart's settle second,
    /// while the restarted estimator finds its feet (its own probes at 3×
    /// and 6× are watched by [`Self::restarted`] where they are wanted).
    pub fn confirmed(&mut self, now: Instant, estimate: u64, own: bool) -> bool {
        let seen = self.last_seen.take();
        if own {
            self.last_seen = Some(estimate);
        }
        let quiet = !self.gains_pending(now) && !self.restarted_within(now, SETTLE + RESULT_WITHIN);
        if let Some(last) = seen.filter(|&l| own && quiet && estimate as f64 > l as f64 * OWN_PROBE_JUMP) {
            self.watch_result(now, last);
        }
        let Some(before) = self.estimate_at_probe else {
            return false;
        };
        if !self.gains_pending(now) {
            return false;
        }
        let last = self.reported.unwrap_or(before);
        let clear_gain = estimate as f64 > last as f64 * GAIN;
        if clear_gain || (self.reported.is_some() && estimate > last) {
            if clear_gain {
                self.gains_until = Some(now + RESULT_WITHIN);
            }
            self.reported = Some(estimate);
            return true;
        }
        false
    }

    /// The figure to restart str0m's estimator from when `estimate` has
    /// fallen well under it within [`RESULT_WITHIN`] of the last probe:
    /// the estimate from before the probe, or the highest the probe's
    /// results reached (see below). Once per probe.
    ///
    /// A probe is a burst of padding above the estimate: it can show that a
    /// link carries more, never that it carries less (the media's own
    /// feedback does that, and still does after the restart). str0m sets
    /// its delay-based estimate to a probe's result whatever it is, and the
    /// result is the lower of the rates the burst was sent and received at.
    /// A burst sent or received unevenly (toward a specialist on fiber:
    /// which of the two, on a loaded 2-core host, was not told apart) or
    /// spread by a jittery link measures low: toward that specialist,
    /// each of the four falls of the estimate by more
    /// than a quarter in a satellite run landed within 10 % of a probe
    /// result logged in the 0.7 s before it (2.26 to 1.17, 1.08 to 0.51,
    /// 1.59 to 0.91, 1.45 to 0.77 Mbit/s; `bench/bench rural --profile
    /// satellite`, str0m's probe results at trace level).
    ///
    /// After the probe's result raised the estimate ([`Self::confirmed`]),
    /// a fall within [`RESULT_WITHIN`] of its latest clear gain counts too,
    /// and the figure to restart from is the highest it reached, up to
    /// what the link carried in the last second (`carried_bps`), and never
    /// under the figure before the probe (decision 0027).
    ///
    /// Not within [`SETTLE`] and [`RESULT_WITHIN`] of the last undo
    /// ([`Self::undone`]): a second undo 0.6-0.8 s after the first, on a
    /// probe of the relay's that went out meanwhile, was followed in three
    /// runs of five by str0m's estimate falling to 0.11-0.16 Mbit/s and
    /// the patient's video pausing for 3-5 s (satellite, decision 0027).
    pub fn undercut(&mut self, now: Instant, estimate: u64, carried_bps: u64) -> Option<u64> {
        if self
            .undone_at
            .is_some_and(|t| now.saturating_duration_since(t) < SETTLE + RESULT_WITHIN)
        {
            return None;
        }
        let at = self.probed_at?;
        if now.saturating_duration_since(at) > RESULT_WITHIN && !self.gains_pending(now) {
            self.probed_at = None;
            return None;
        }
        let before = self.estimate_at_probe?;
        let target = self
            .reported
            .map_or(before, |reached| before.max(reached.min(carried_bps)));
        if (estimate as f64) < target as f64 * UNDERCUT_BELOW {
            self.probed_at = None;
            self.gains_until = None;
            return Some(target);
        }
        None
    }

    /// str0m's estimator was just restarted from `estimate` to find what a
    /// still estimate hides (`held_estimate.rs`): the restart probes at 3×
    /// and 6× the estimate, so its result is watched as a probe's. A cut
    /// it brings is undone once by [`Self::undercut`], and a gain lets the
    /// allocator take the layer at once ([`Self::confirmed`]). On a
    /// jittery satellite link such probes measured as little as a tenth of
    /// what the link was carrying (109 kbit/s while the relay sent
    /// 0.96 Mbit/s, and the video paused for 3 s; `bench/bench rural
    /// --profile satellite`).
    pub fn restarted(&mut self, now: Instant, estimate: u64) {
        self.watch_result(now, estimate);
        self.settle_from(now, estimate);
    }

    /// str0m's estimator was just restarted from `estimate`: see
    /// [`Self::settling`].
    fn settle_from(&mut self, now: Instant, estimate: u64) {
        self.restart = Some((now, estimate));
    }

    /// str0m's estimator was just restarted from `estimate` after a cut
    /// [`Self::undercut`] found, which the link disproved.
    pub fn undone(&mut self, now: Instant, estimate: u64) {
        self.undone_at = Some(now);
        self.settle_from(now, estimate);
    }

    /// Whether str0m's estimator was restarted less than `within` ago.
    fn restarted_within(&self, now: Instant, within: Duration) -> bool {
        self.restart
            .is_some_and(|(at, _)| now.saturating_duration_since(at) < within)
    }

    /// The figure str0m's estimator was restarted from, within [`SETTLE`]
    /// of the restart: the estimate to allocate from is not under it.
    pub fn settling(&self, now: Instant) -> Option<u64> {
        self.restart
            .filter(|_| self.restarted_within(now, SETTLE))
            .map(|(_, from)| from)
    }

    /// A probe (or what acts as one) went out at `now` from `estimate`:
    /// its result is watched from here.
    fn watch_result(&mut self, now: Instant, estimate: u64) {
        self.waits_on_result = true;
        self.estimate_at_probe = Some(estimate);
        self.reported = None;
        self.probed_at = Some(now);
        self.gains_until = Some(now + RESULT_WITHIN);
    }

    /// Whether a rise still counts as the last probe's: within
    /// [`RESULT_WITHIN`] of the probe or of its latest clear gain, and
    /// [`Self::undercut`] has not taken its result as a cut.
    fn gains_pending(&self, now: Instant) -> bool {
        self.gains_until.is_some_and(|until| now <= until)
    }

    /// The desired bitrate to give str0m on this pass. `wants_more`: the
    /// subscriber would take a layer the estimate does not allow yet.
    pub fn desired(&mut self, now: Instant, desired: u64, estimate: u64, wants_more: bool) -> u64 {
        if !wants_more {
            // Probing starts over, at once, when more is wanted again. A
            // result still watched is kept: str0m's own probe that let the
            // subscriber's top layer in can cut the estimate a second later
            // (decision 0027).
            let fresh = ProbePacer::default();
            self.next_at = fresh.next_at;
            self.wait = fresh.wait;
            self.lowered = fresh.lowered;
            self.waits_on_result = fresh.waits_on_result;
            return desired;
        }
        if self.lowered {
            self.lowered = false;
            self.watch_result(now, estimate);
            return desired;
        }
        if self.next_at.is_some_and(|t| now < t) {
            return desired;
        }
        if let Some(before) = self.estimate_at_probe.filter(|_| self.waits_on_result) {
            self.wait = if estimate as f64 > before as f64 * GAIN {
                AFTER_GAIN_WAIT
            } else {
                (self.wait * 2).min(MAX_WAIT)
            };
        }
        self.next_at = Some(now + self.wait);
        self.lowered = true;
        desired - desired / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: Duration = Duration::from_millis(200);
    /// What the link carried in the last second, where it does not matter.
    const CARRIED: u64 = 1_000_000;

    /// Runs passes for `secs` with a fixed estimate; returns the times (ms
    /// since start) at which the desired rate rose again, i.e. probes.
    fn probes(p: &mut ProbePacer, start: Instant, from_ms: u64, secs: u64, estimate: impl Fn(u64) -> u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut last = None;
        let mut ms = from_ms;
        while ms < from_ms + secs * 1000 {
            let d = p.desired(start + Duration::from_millis(ms), 1_000_000, estimate(ms), true);
            if last.is_some_and(|l| d > l) {
                out.push(ms);
            }
            last = Some(d);
            ms += PASS.as_millis() as u64;
        }
        out
    }

    /// A pacer that probed at `t0` + 200 ms from `estimate`.
    fn probed_at_200_ms(t0: Instant, estimate: u64) -> ProbePacer {
        let mut p = ProbePacer::default();
        p.desired(t0, 2_000_000, estimate, true);
        p.desired(t0 + PASS, 2_000_000, estimate, true);
        p
    }

    #[test]
    fn a_useless_probe_doubles_the_wait() {
        let t0 = Instant::now();
        let mut p = ProbePacer::default();
        // The estimate never moves: probes at 0.2 s, then 2 s and 4 s apart,
        // and never more than 4 s apart, so a link that comes back is found.
        let at = probes(&mut p, t0, 0, 20, |_| 300_000);
        assert_eq!(at, vec![200, 2_200, 6_200, 10_200, 14_200, 18_200]);
    }

    #[test]
    fn probes_that_keep_raising_the_estimate_come_a_second_apart() {
        let t0 = Instant::now();
        let mut p = ProbePacer::default();
        // Each probe doubles the estimate, seen 600 ms after it.
        let (mut estimate, mut last, mut at) = (300_000u64, None, Vec::new());
        for ms in (0..5_000u64).step_by(PASS.as_millis() as usize) {
            if at.last().is_some_and(|&probe| ms == probe + 600) {
                estimate *= 2;
            }
            let d = p.desired(t0 + Duration::from_millis(ms), 10_000_000, estimate, true);
            if last.is_some_and(|l| d > l) {
                at.push(ms);
            }
            last = Some(d);
        }
        // The probe after the first gain comes on the wait set before it
        // (2 s); those after, a second apart.
        assert_eq!(at, vec![200, 2_200, 3_200, 4_200]);
    }

    #[test]
    fn a_probe_that_cut_the_estimate_is_undone_once() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(
            ProbePacer::default().undercut(t0, 100_000, CARRIED),
            None,
            "no probe yet"
        );
        let mut p = probed_at_200_ms(t0, 1_000_000);
        assert_eq!(p.undercut(at(400), 950_000, CARRIED), None, "within a tenth");
        assert_eq!(p.undercut(at(1_200), 470_000, CARRIED), Some(1_000_000));
        assert_eq!(p.undercut(at(1_400), 470_000, CARRIED), None, "once per probe");
    }

    #[test]
    fn a_restart_is_watched_as_a_probe() {
        let t0 = Instant::now();
        let mut p = ProbePacer::default();
        p.restarted(t0, 1_040_000);
        assert_eq!(
            p.undercut(t0 + Duration::from_millis(900), 109_000, CARRIED),
            Some(1_040_000)
        );
        let mut p = ProbePacer::default();
        p.restarted(t0, 460_000);
        assert!(p.confirmed(t0 + PASS, 997_000, true));
    }

    #[test]
    fn a_jump_with_no_probe_pending_is_str0m_s_probe_and_its_cut_is_undone_to_what_the_link_carried() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut p = ProbePacer::default();
        assert!(!p.confirmed(at(0), 300_000, true));
        assert!(
            !p.confirmed(at(200), 420_000, true),
            "a rise str0m's own growth could make"
        );
        assert_eq!(p.undercut(at(400), 100_000, 400_000), None, "no probe's result");
        assert!(p.confirmed(at(600), 1_136_000, true), "str0m's probe lifted it");
        assert!(
            p.confirmed(at(1_000), 1_300_000, true),
            "and a further probe of str0m's"
        );
        // 2.2 s from the jump, 1.8 s from its last clear gain: the relay
        // padded up to it, and the link carried 1.03 Mbit/s.
        assert_eq!(p.undercut(at(2_800), 251_000, 1_030_000), Some(1_030_000));
        assert_eq!(p.undercut(at(2_900), 251_000, 1_030_000), None, "once");
        // Never under the figure before the jump.
        let mut p = ProbePacer::default();
        p.confirmed(at(0), 300_000, true);
        p.confirmed(at(200), 1_136_000, true);
        assert_eq!(p.undercut(at(400), 100_000, 200_000), Some(300_000));
        // Nor forgotten when the gain let the top layer in.
        let mut p = ProbePacer::default();
        p.confirmed(at(0), 300_000, true);
        p.confirmed(at(200), 1_136_000, true);
        p.desired(at(200), 1_136_000, 1_136_000, false);
        assert_eq!(p.undercut(at(1_200), 237_000, 1_070_000), Some(1_070_000));
        // Nor after the window of its last clear gain.
        let mut p = ProbePacer::default();
        p.confirmed(at(0), 300_000, true);
        p.confirmed(at(200), 1_136_000, true);
        assert_eq!(p.undercut(at(2_400), 251_000, 1_030_000), None);
    }

    #[test]
    fn a_jump_is_a_probe_only_between_two_of_str0m_s_own_figures_and_not_soon_after_a_restart() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // The relay's figure was the pacer's fallen one, or bounded for
        // loss, on the pass before (or on this one).
        let mut p = ProbePacer::default();
        p.confirmed(at(0), 300_000, false);
        assert!(!p.confirmed(at(200), 1_000_000, true));
        assert!(!p.confirmed(at(400), 3_000_000, false));
        assert!(!p.confirmed(at(600), 3_000_000, true));
        // A restart's settle second and the 2 s after it.
        let mut p = ProbePacer::default();
        p.settle_from(at(0), 1_000_000);
        p.confirmed(at(2_800), 250_000, true);
        assert!(!p.confirmed(at(2_999), 700_000, true));
        assert!(p.confirmed(at(3_200), 1_100_000, true));
    }

    #[test]
    fn no_second_undo_while_the_first_restart_settles() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut p = probed_at_200_ms(t0, 1_000_000);
        assert_eq!(p.undercut(at(600), 400_000, CARRIED), Some(1_000_000));
        p.undone(at(600), 1_000_000);
        // The relay's next probe, and a cut after it 2.2 s after the undo.
        p.desired(at(1_000), 2_000_000, 1_000_000, true);
        p.desired(at(1_200), 2_000_000, 1_000_000, true);
        p.desired(at(2_200), 2_000_000, 1_000_000, true);
        p.desired(at(2_400), 2_000_000, 1_000_000, true);
        assert_eq!(p.undercut(at(2_800), 400_000, CARRIED), None);
        // 3 s after the undo, a probe's cut is undone again.
        let mut p = probed_at_200_ms(at(3_600), 1_000_000);
        p.undone(at(600), 1_000_000);
        assert_eq!(p.undercut(at(4_000), 400_000, CARRIED), Some(1_000_000));
    }

    #[test]
    fn a_restart_settles_for_a_second_from_its_figure() {
        let t0 = Instant::now();
        let mut p = ProbePacer::default();
        assert_eq!(p.settling(t0), None);
        p.settle_from(t0, 1_045_000);
        assert_eq!(p.settling(t0 + Duration::from_millis(600)), Some(1_045_000));
        p.desired(t0 + Duration::from_millis(800), 1_000_000, 1_045_000, false);
        assert_eq!(
            p.settling(t0 + Duration::from_millis(800)),
            Some(1_045_000),
            "kept when nothing more is wanted"
        );
        assert_eq!(p.settling(t0 + SETTLE), None);
        p.restarted(t0 + SETTLE, 460_000);
        assert_eq!(p.settling(t0 + SETTLE), Some(460_000), "a held estimate's restart too");
    }

    #[test]
    fn a_fall_long_after_a_probe_is_the_link_s() {
        let t0 = Instant::now();
        let mut p = probed_at_200_ms(t0, 1_000_000);
        let later = t0 + PASS + RESULT_WITHIN + Duration::from_millis(1);
        assert_eq!(p.undercut(later, 400_000, CARRIED), None);
    }

    #[test]
    fn a_clear_gain_after_a_probe_is_confirmed_once_and_each_further_rise_soon_after() {
        let t0 = Instant::now();
        let mut p = ProbePacer::default();
        assert!(!p.confirmed(t0, 300_000, true), "no probe yet");
        p.desired(t0, 1_000_000, 300_000, true);
        p.desired(t0 + PASS, 1_000_000, 300_000, true); // the probe
        let soon = t0 + PASS * 2;
        assert!(!p.confirmed(soon, 310_000, true), "within noise");
        assert!(p.confirmed(soon, 600_000, true));
        assert!(!p.confirmed(soon, 600_000, true), "reported once per rise");
        assert!(p.confirmed(soon, 630_000, true), "a further rise, however small");
        assert!(!p.confirmed(soon + PASS, 620_000, true), "a fall is no rise");
        assert!(p.confirmed(soon + PASS, 660_000, true), "a further rise");
        let late = soon + RESULT_WITHIN + PASS;
        assert!(!p.confirmed(late, 900_000, true), "not long after the probe");
        assert!(
            p.confirmed(late + PASS, 2_000_000, true),
            "but a jump is a probe of str0m's"
        );
    }

    #[test]
    fn a_gain_long_after_a_probe_or_after_its_cut_is_not_the_probe_s() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // The estimator's own growth passing a tenth 3 s on.
        let mut p = probed_at_200_ms(t0, 300_000);
        assert!(!p.confirmed(at(3_200), 340_000, true));
        let mut p = probed_at_200_ms(t0, 300_000);
        assert_eq!(p.undercut(at(600), 200_000, CARRIED), Some(300_000));
        assert!(!p.confirmed(at(800), 400_000, true), "the probe's result was the cut");
    }

    #[test]
    fn each_clear_gain_keeps_the_window_open_and_a_small_rise_does_not() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut p = probed_at_200_ms(t0, 260_000);
        assert!(p.confirmed(at(2_000), 410_000, true));
        assert!(
            p.confirmed(at(2_200), 830_000, true),
            "a clear gain, 2 s after the probe"
        );
        assert!(p.confirmed(at(3_400), 1_250_000, true), "2 s after the probe and more");
        assert!(
            p.confirmed(at(5_400), 1_300_000, true),
            "within 2 s of the last clear gain"
        );
        assert!(
            !p.confirmed(at(5_600), 1_400_000, true),
            "a small rise kept the window where it was"
        );
    }

    #[test]
    fn nothing_to_gain_means_no_probes_and_a_fresh_start() {
        let t0 = Instant::now();
        let mut p = ProbePacer::default();
        probes(&mut p, t0, 0, 20, |_| 300_000);
        assert_eq!(
            p.desired(t0 + Duration::from_secs(20), 900_000, 2_000_000, false),
            900_000
        );
        // Wanting more again later starts over at once, with the short wait.
        let at = probes(&mut p, t0, 21_000, 3, |_| 300_000);
        assert_eq!(at, vec![21_200, 23_200]);
    }
}
