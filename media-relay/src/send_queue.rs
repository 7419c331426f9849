//! When a subscriber's video send queue is too deep to add to.
//!
//! str0m paces video at about 1.1× its estimate and lets up to 2 s queue
//! before it drains faster than the link can take. Frames that old are
//! useless to the viewer, and draining them delays the audio and the lower
//! layer's keyframe that would end the congestion (measured in
//! `adaptation.rs`: frames sent before a pause arrived 2.4 s later, after the
//! link had recovered). So the relay stops adding video to a queue that
//! holds more than [`VIDEO_QUEUE_LIMIT`] of it, and goes on at a keyframe once
//! it has drained.
//!
//! "More than the limit" is judged two ways, whichever trips first:
//! - by **age**: the oldest unsent packet has waited longer than the limit;
//! - by **size**: the queue would take longer than the limit to leave at the
//!   pacing rate. When the estimate falls (a step-down), this trips as soon as
//!   the estimate does. Judged by age alone, the queue first filled with half
//!   a second of the old layer's rate, which then took seconds to leave at
//!   the new one: a 3.6 s freeze on `bench/bench rural --profile step-down`.
//!
//! The latest keyframe is allowed on top: a picture the allocator chose
//! within the estimate may need more than the limit to leave whole (a 480p
//! keyframe on a 400 kbit/s estimate), and skipping the frames behind it
//! would only call for another keyframe just as large.

use std::time::{Duration, Instant};

/// The most video a subscriber's send queue may hold, as time to leave.
pub const VIDEO_QUEUE_LIMIT: Duration = Duration::from_millis(500);

/// str0m's pacing rate over its estimate (`pacer/control.rs`).
const PACING_FACTOR: f64 = 1.1;

/// How long a forwarded keyframe counts as still leaving the queue.
const KEYFRAME_ALLOWANCE_FOR: Duration = Duration::from_secs(2);

/// What str0m's send queue of one video stream holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueNow {
    pub first_unsent: Option<Instant>,
    pub bytes: usize,
}

/// The keyframe last written to the queue, if it may still be leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyframeWritten {
    pub at: Instant,
    pub bytes: usize,
}

/// Whether the queue holds more than [`VIDEO_QUEUE_LIMIT`] of video beyond
/// the latest keyframe. `estimate_bps`: the relay's estimate toward the
/// subscriber, if it has one (without, only the age counts).
pub fn congested(now: Instant, queue: QueueNow, estimate_bps: Option<u64>, keyframe: Option<KeyframeWritten>) -> bool {
    let Some(first) = queue.first_unsent else {
        return false;
    };
    let pacing_bps = estimate_bps.filter(|&e| e > 0).map(|e| e as f64 * PACING_FACTOR);
    let time_to_leave = |bytes: usize| pacing_bps.map(|bps| Duration::from_secs_f64(bytes as f64 * 8.0 / bps));
    let keyframe_bytes = keyframe
        .filter(|k| now.saturating_duration_since(k.at) < KEYFRAME_ALLOWANCE_FOR)
        .map_or(0, |k| k.bytes);
    let allowance = time_to_leave(keyframe_bytes).unwrap_or_default();
    let limit = VIDEO_QUEUE_LIMIT + allowance;
    let too_old = now.saturating_duration_since(first) > limit;
    let too_big = time_to_leave(queue.bytes).is_some_and(|t| t > limit);
    too_old || too_big
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn queue(now: Instant, age_ms: u64, bytes: usize) -> QueueNow {
        QueueNow {
            first_unsent: Some(now - ms(age_ms)),
            bytes,
        }
    }

    #[test]
    fn an_empty_queue_is_never_congested() {
        let now = Instant::now() + Duration::from_secs(10);
        let empty = QueueNow {
            first_unsent: None,
            bytes: 0,
        };
        assert!(!congested(now, empty, Some(100_000), None));
    }

    #[test]
    fn video_older_than_the_limit_is_congestion_whatever_the_estimate() {
        let now = Instant::now() + Duration::from_secs(10);
        assert!(congested(now, queue(now, 501, 1_000), Some(10_000_000), None));
        assert!(congested(now, queue(now, 501, 1_000), None, None));
        assert!(!congested(now, queue(now, 499, 1_000), None, None));
    }

    #[test]
    fn a_queue_that_cannot_leave_in_time_at_the_estimate_is_congestion_before_it_ages() {
        let now = Instant::now() + Duration::from_secs(10);
        // 250 kbit/s: 275 kbit/s pacing moves about 17 kB in 500 ms.
        assert!(congested(now, queue(now, 100, 20_000), Some(250_000), None));
        assert!(!congested(now, queue(now, 100, 15_000), Some(250_000), None));
        // The same bytes leave in time on a faster link.
        assert!(!congested(now, queue(now, 100, 20_000), Some(1_000_000), None));
    }

    #[test]
    fn the_latest_keyframe_may_take_longer_than_the_limit_to_leave() {
        let now = Instant::now() + Duration::from_secs(10);
        // A 30 kB keyframe on 400 kbit/s takes about 550 ms to leave.
        let keyframe = KeyframeWritten {
            at: now - ms(300),
            bytes: 30_000,
        };
        let q = queue(now, 600, 32_000);
        assert!(!congested(now, q, Some(400_000), Some(keyframe)));
        assert!(congested(now, q, Some(400_000), None));
        // Frames beyond the keyframe still count.
        assert!(congested(
            now,
            queue(now, 600, 30_000 + 30_000),
            Some(400_000),
            Some(keyframe)
        ));
        // And an old keyframe is no excuse.
        let long_ago = KeyframeWritten {
            at: now - ms(3_000),
            ..keyframe
        };
        assert!(congested(now, q, Some(400_000), Some(long_ago)));
    }
}
