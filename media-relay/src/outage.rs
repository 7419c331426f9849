//! A participant's link going silent and coming back: an outage (a dropped
//! cell, a tunnel, a satellite fade), as the relay sees it from the
//! datagrams that stop and resume.
//!
//! Why the relay cares: str0m's estimator toward the participant learns of
//! the outage only once the link is back, when the first feedback reports
//! every packet sent into it as lost. Its loss-based estimate remembers that
//! for a long time: after a 5 s outage on a 3G link it stayed at
//! 90–250 kbit/s, under the video floor, for the next 15–35 s while the link
//! carried 750 kbit/s as before (`bench/bench rural --profile dropout`:
//! video back 11–18 s after the link in half the runs). A browser restarts
//! its estimator on a network change for the same reason.
//!
//! So: while the participant is silent, and for a moment after it is heard
//! again (long enough for the feedback about the outage to arrive), the
//! allocator keeps the estimate from before the silence; then str0m's
//! estimator is restarted from that figure, if it had fallen below it. If
//! the link came back slower than it left, the restarted estimator finds
//! out from delay and loss as it does at the start of a call.
//!
//! And the video sent either way during the outage is lost, so what follows
//! it are delta frames nobody can decode: the engine restarts every video
//! to and from the participant on a keyframe as soon as it is heard again
//! (a browser asks for one itself only after a second or more of a frozen
//! picture).

use std::time::{Duration, Instant};

/// No datagram for this long is an outage: a connected browser sends
/// audio, video or feedback many times a second (and an ICE check every
/// couple of seconds even with nothing else to send).
pub const SILENCE: Duration = Duration::from_millis(1500);
/// After the participant is heard again, how long the feedback about the
/// packets lost in the outage may take to arrive (a round trip and a
/// feedback interval on a slow link, with margin).
pub const SETTLE: Duration = Duration::from_secs(1);

/// What the adaptation pass should do with the estimate on this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// No outage: use str0m's estimate.
    None,
    /// In or just after an outage: use this figure, from before it.
    Keep(u64),
    /// The outage is over and its feedback is in: restart str0m's
    /// estimator from this figure.
    Restart(u64),
}

#[derive(Debug, Clone, Default)]
pub struct OutageWatch {
    last_heard: Option<Instant>,
    /// The estimate as it was when the participant was last heard before
    /// the current (or latest) silence.
    estimate_before: Option<u64>,
    /// When the participant was heard again after a silence, until the
    /// settle time is over.
    back_at: Option<Instant>,
}

impl OutageWatch {
    /// A datagram arrived from the participant; `estimate` is the current
    /// send-side estimate toward it. True when it ends an outage: a silence
    /// once media flowed (before that, a slow handshake is no outage).
    pub fn heard(&mut self, now: Instant, estimate: Option<u64>) -> bool {
        let silent_for = self.last_heard.map(|t| now.saturating_duration_since(t));
        let back = silent_for.is_some_and(|d| d >= SILENCE) && self.estimate_before.is_some();
        if back {
            self.back_at = Some(now);
        }
        self.last_heard = Some(now);
        // While settling, the estimate is the one that is falling for the
        // outage: keep the figure from before it.
        if self.back_at.is_none() {
            self.estimate_before = estimate;
        }
        back
    }

    /// Called once per adaptation pass with str0m's current estimate.
    pub fn hold(&mut self, now: Instant, estimate: u64) -> Hold {
        let Some(before) = self.estimate_before else {
            return Hold::None;
        };
        let silent = self
            .last_heard
            .is_some_and(|t| now.saturating_duration_since(t) >= SILENCE);
        if silent {
            return Hold::Keep(before);
        }
        let Some(back_at) = self.back_at else {
            return Hold::None;
        };
        if now.saturating_duration_since(back_at) < SETTLE {
            return Hold::Keep(before);
        }
        self.back_at = None;
        if estimate < before {
            Hold::Restart(before)
        } else {
            Hold::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Hears the participant every 20 ms from `from` to `to` (ms).
    fn talk(w: &mut OutageWatch, t0: Instant, from: u64, to: u64, estimate: u64) {
        for ms in (from..to).step_by(20) {
            w.heard(t0 + MS * ms as u32, Some(estimate));
        }
    }

    #[test]
    fn the_datagram_that_ends_a_silence_says_so() {
        let t0 = Instant::now();
        let mut w = OutageWatch::default();
        assert!(!w.heard(t0, None), "the first datagram ends no outage");
        assert!(!w.heard(t0 + MS * 2_000, None), "nor a slow handshake");
        assert!(!w.heard(t0 + MS * 3_000, Some(300_000)));
        assert!(w.heard(t0 + MS * 4_500, Some(300_000)));
        assert!(!w.heard(t0 + MS * 4_520, Some(300_000)));
    }

    #[test]
    fn a_steady_link_holds_nothing() {
        let t0 = Instant::now();
        let mut w = OutageWatch::default();
        assert_eq!(w.hold(t0, 300_000), Hold::None, "nobody heard yet");
        talk(&mut w, t0, 0, 5_000, 600_000);
        assert_eq!(w.hold(t0 + MS * 5_000, 400_000), Hold::None);
    }

    #[test]
    fn through_an_outage_and_its_feedback_the_estimate_from_before_is_kept_then_restored() {
        let t0 = Instant::now();
        let mut w = OutageWatch::default();
        talk(&mut w, t0, 0, 20_000, 700_000);
        // Silent from 20 s: held once the silence is long enough to tell.
        assert_eq!(
            w.hold(t0 + MS * 20_500, 700_000),
            Hold::None,
            "a short gap is not an outage"
        );
        assert_eq!(w.hold(t0 + MS * 22_000, 700_000), Hold::Keep(700_000));
        // Back at 25 s; the feedback about the outage drags the estimate down.
        talk(&mut w, t0, 25_000, 25_600, 120_000);
        assert_eq!(w.hold(t0 + MS * 25_600, 120_000), Hold::Keep(700_000));
        talk(&mut w, t0, 25_600, 26_000, 90_000);
        assert_eq!(w.hold(t0 + MS * 26_000, 90_000), Hold::Restart(700_000));
        // Once: from then on str0m's estimate is used again.
        assert_eq!(w.hold(t0 + MS * 26_200, 650_000), Hold::None);
    }

    #[test]
    fn an_estimate_that_did_not_fall_is_left_alone() {
        let t0 = Instant::now();
        let mut w = OutageWatch::default();
        talk(&mut w, t0, 0, 10_000, 500_000);
        talk(&mut w, t0, 13_000, 14_000, 800_000);
        assert_eq!(w.hold(t0 + MS * 14_000, 800_000), Hold::None);
    }

    #[test]
    fn a_second_outage_keeps_the_figure_from_before_the_second() {
        let t0 = Instant::now();
        let mut w = OutageWatch::default();
        talk(&mut w, t0, 0, 10_000, 500_000);
        talk(&mut w, t0, 13_000, 14_000, 100_000);
        assert_eq!(w.hold(t0 + MS * 14_000, 100_000), Hold::Restart(500_000));
        talk(&mut w, t0, 14_000, 20_000, 400_000);
        talk(&mut w, t0, 25_000, 26_000, 80_000);
        assert_eq!(w.hold(t0 + MS * 26_000, 80_000), Hold::Restart(400_000));
    }
}
