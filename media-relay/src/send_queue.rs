//! When a subscriber's video send queue is too deep to add to.
//!
//! str0m paces video at about 1.1× its estimate and lets up to 2 s queue
//! before it drains faster than the link can take. Frames that old are
//! useless to the viewer, and draining them delays the audio and the lower
//! layer's keyframe that would end the congestion (measured in
//! `adaptation.rs`: frames sent before a pause arrived 2.4 s later, after the
//! link had recovered). So the relay stops adding video to a queue that
//! holds more than a limit of it, and goes on at a keyframe once it has
//! drained. The limit is [`VIDEO_QUEUE_LIMIT_FALLING`] while the
//! subscriber's estimate is falling, [`VIDEO_QUEUE_LIMIT_STEADY`] otherwise.
//!
//! "More than the limit" is judged two ways, whichever trips first:
//! - by **age**: the oldest unsent packet has waited longer than the limit;
//! - by **size**: the queue would take longer than the limit to leave at the
//!   pacing rate (the pacer's current figure where it is under the estimate
//!   the relay allocates by: `Participant::pacing_estimate`, decision 0013).
//!   When the estimate falls (a step-down), this trips as soon as
//!   the pacer slows. Judged by age alone, the queue first filled with half
//!   a second of the old layer's rate, which then took seconds to leave at
//!   the new one: a 3.6 s freeze on `bench/bench rural --profile step-down`.
//!
//! The size counted is the video the relay wrote since the oldest unsent
//! packet was queued ([`WrittenLog`]), not str0m's own queue figure: that
//! also counts the padding str0m holds for a probe, which never delays a
//! frame (it leaves only when no media waits). Counted in, a probe's 40 kB of
//! padding on a 300 kbit/s estimate read as a full second of queue, so after
//! a step-down the relay skipped every frame and held the lower layer's
//! keyframe request for two seconds while the queue was in fact empty of
//! video (`bench/bench rural --profile step-down`: a 2.9 s freeze).
//!
//! Why the limit is short on a falling estimate: str0m's pacer follows its
//! own estimate at once, while the estimate it reports (the one the
//! allocator sees) is an average of the last 3 s (`bwe/smoother.rs` in str0m). When a link collapses, the
//! pacer slows to the new rate a few hundred milliseconds before the relay
//! hears of it, and every frame written meanwhile must leave at that rate
//! before the lower layer's keyframe can. With a 500 ms limit that was
//! 20–40 kB of the old layer, 1–2 s at 150–250 kbit/s (`bench/bench rural
//! --profile step-down`: longest freeze 2.6 s in two runs); with 200 ms
//! on a falling estimate and the allocator's collapse rule, 1.4, 1.4 and
//! 1.6 s in three (0.7, 0.8 and 1.6 s with 200 ms always, which also
//! skipped the bursts described at [`VIDEO_QUEUE_LIMIT_STEADY`]). Without
//! congestion the pacer runs ahead of what is written and the oldest packet
//! waits a few tens of milliseconds.
//!
//! The latest keyframe is allowed on top: a picture the allocator chose
//! within the estimate may need more than the limit to leave whole (a 480p
//! keyframe on a 400 kbit/s estimate), and skipping the frames behind it
//! would only call for another keyframe just as large.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The most video a subscriber's send queue may hold, as time to leave,
/// while the subscriber's estimate is falling ([`EstimateTrend`]).
pub const VIDEO_QUEUE_LIMIT_FALLING: Duration = Duration::from_millis(200);
/// The same while it is not: a burst the pacer drains at the estimate.
/// Frames a publisher's lost packet held back come out of str0m in one
/// go once the retransmission arrives (up to a round trip of video, 0.6 s
/// on a satellite uplink), which can take more than 200 ms to leave even
/// toward a subscriber on fiber. Judged by the 200 ms limit, such bursts
/// were skipped and the specialist's picture restarted on a keyframe
/// (`bench/bench rural --all`, satellite: 15 frames skipped at five
/// moments, three of them followed by a 0.7–1 s freeze).
pub const VIDEO_QUEUE_LIMIT_STEADY: Duration = Duration::from_millis(500);

/// How far back [`EstimateTrend`] looks, and by how much the estimate must
/// be under the highest it had then to count as falling.
const TREND_SPAN: Duration = Duration::from_secs(2);
const FALLING_BELOW: f64 = 0.9;

/// The estimate toward one subscriber over the last [`TREND_SPAN`], as the
/// adaptation pass saw it: whether it is falling now, and so which queue
/// limit applies.
#[derive(Debug, Default)]
pub struct EstimateTrend {
    seen: VecDeque<(Instant, u64)>,
    /// Judged when an estimate is recorded (five times a second), not on
    /// every frame that asks for the queue limit.
    falling: bool,
}

impl EstimateTrend {
    pub fn record(&mut self, now: Instant, estimate_bps: u64) {
        push_recent(&mut self.seen, (now, estimate_bps), TREND_SPAN);
        let peak = self.seen.iter().map(|&(_, e)| e).max().unwrap_or(estimate_bps);
        self.falling = (estimate_bps as f64) < peak as f64 * FALLING_BELOW;
    }

    /// The latest estimate is well under the highest of the span.
    pub fn falling(&self) -> bool {
        self.falling
    }

    /// The queue limit that applies now.
    pub fn queue_limit(&self) -> Duration {
        if self.falling() {
            VIDEO_QUEUE_LIMIT_FALLING
        } else {
            VIDEO_QUEUE_LIMIT_STEADY
        }
    }
}

/// `limit` for video from a publisher whose round trip to the relay is
/// `publisher_rtt`: never shorter than that round trip. Skipping a frame
/// costs a keyframe from the publisher, which takes at least its round
/// trip to come; a queue that leaves sooner is cheaper to let leave. From a
/// satellite patient (640 ms), the frames a lost packet held back come out
/// of str0m together a round trip late, and were skipped under the 200 ms
/// limit of a falling estimate toward the specialist on fiber: each time a
/// 0.75 s freeze while the keyframe came (`bench/bench rural --profile
/// satellite`: four in one run, 3 s of the 4.65 s frozen; frames skipped
/// toward the specialist in 9 of 11 runs). With this floor: none skipped
/// toward the specialist in three runs.
pub fn limit_for_publisher(limit: Duration, publisher_rtt: Option<Duration>) -> Duration {
    limit.max(publisher_rtt.unwrap_or_default())
}

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

/// Appends a timed entry and forgets those more than `span` older than it.
fn push_recent<T>(entries: &mut VecDeque<(Instant, T)>, entry: (Instant, T), span: Duration) {
    let now = entry.0;
    entries.push_back(entry);
    while entries
        .front()
        .is_some_and(|(t, _)| now.saturating_duration_since(*t) > span)
    {
        entries.pop_front();
    }
}

/// How long written frames are remembered: a queue older than this is
/// congested by its age alone.
const WRITTEN_KEPT_FOR: Duration = Duration::from_secs(3);

/// The video frames lately written to one subscriber's stream: when, and
/// how many bytes.
#[derive(Debug, Default)]
pub struct WrittenLog {
    frames: VecDeque<(Instant, usize)>,
}

impl WrittenLog {
    pub fn record(&mut self, at: Instant, bytes: usize) {
        push_recent(&mut self.frames, (at, bytes), WRITTEN_KEPT_FOR);
    }

    /// The bytes still to leave when the oldest unsent packet was queued at
    /// `first_unsent`: the frame it belongs to (the last written at or before
    /// that instant; str0m stamps a packet when it next runs, just after the
    /// write) and every frame since. At most one frame too many, partly sent.
    pub fn unsent_since(&self, first_unsent: Instant) -> usize {
        let after = self.frames.partition_point(|&(t, _)| t <= first_unsent);
        self.frames.iter().skip(after.saturating_sub(1)).map(|&(_, b)| b).sum()
    }
}

/// Whether the queue holds more than `limit` of video beyond the latest
/// keyframe. `estimate_bps`: the rate str0m paces video toward the
/// subscriber at, as far as the relay knows (without, only the age counts).
pub fn congested(
    now: Instant,
    queue: QueueNow,
    estimate_bps: Option<u64>,
    keyframe: Option<KeyframeWritten>,
    limit: Duration,
) -> bool {
    let Some(first) = queue.first_unsent else {
        return false;
    };
    let pacing_bps = estimate_bps.filter(|&e| e > 0).map(|e| e as f64 * PACING_FACTOR);
    let time_to_leave = |bytes: usize| pacing_bps.map(|bps| Duration::from_secs_f64(bytes as f64 * 8.0 / bps));
    let keyframe_bytes = keyframe
        .filter(|k| now.saturating_duration_since(k.at) < KEYFRAME_ALLOWANCE_FOR)
        .map_or(0, |k| k.bytes);
    let allowance = time_to_leave(keyframe_bytes).unwrap_or_default();
    let limit = limit + allowance;
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

    /// Judged by the short limit, the one that applies on a falling estimate.
    fn tight(now: Instant, queue: QueueNow, estimate_bps: Option<u64>, keyframe: Option<KeyframeWritten>) -> bool {
        congested(now, queue, estimate_bps, keyframe, VIDEO_QUEUE_LIMIT_FALLING)
    }

    fn queue(now: Instant, age_ms: u64, bytes: usize) -> QueueNow {
        QueueNow {
            first_unsent: Some(now - ms(age_ms)),
            bytes,
        }
    }

    #[test]
    fn the_unsent_bytes_are_the_frames_written_since_the_oldest_unsent_packet() {
        let t0 = Instant::now();
        let mut log = WrittenLog::default();
        for (i, bytes) in [1_000, 2_000, 3_000, 4_000].into_iter().enumerate() {
            log.record(t0 + ms(33 * i as u64), bytes);
        }
        // Stamped a moment after its frame was written: that frame counts.
        assert_eq!(log.unsent_since(t0 + ms(34)), 2_000 + 3_000 + 4_000);
        assert_eq!(log.unsent_since(t0 + ms(99)), 4_000);
        // Older than anything remembered: all of it.
        assert_eq!(log.unsent_since(t0 - ms(10)), 10_000);
    }

    #[test]
    fn padding_queued_for_a_probe_is_not_video_waiting() {
        // After a step-down: str0m's figure says 43 kB (a probe's padding)
        // on a 313 kbit/s estimate, more than a second to leave; the video in
        // it is the two frames written since its oldest packet was queued.
        let now = Instant::now() + Duration::from_secs(10);
        let mut log = WrittenLog::default();
        for i in 0..30u64 {
            log.record(now - ms(990) + ms(33 * i), 800);
        }
        let first_unsent = now - ms(66);
        let media = QueueNow {
            first_unsent: Some(first_unsent),
            bytes: log.unsent_since(first_unsent),
        };
        assert!(media.bytes <= 3 * 800);
        assert!(!tight(now, media, Some(313_000), None));
        let with_padding = QueueNow { bytes: 43_000, ..media };
        assert!(tight(now, with_padding, Some(313_000), None));
    }

    #[test]
    fn a_far_publisher_s_round_trip_is_the_least_limit() {
        let satellite = Some(ms(640));
        assert_eq!(limit_for_publisher(VIDEO_QUEUE_LIMIT_FALLING, satellite), ms(640));
        assert_eq!(limit_for_publisher(VIDEO_QUEUE_LIMIT_STEADY, satellite), ms(640));
        assert_eq!(
            limit_for_publisher(VIDEO_QUEUE_LIMIT_FALLING, Some(ms(10))),
            VIDEO_QUEUE_LIMIT_FALLING
        );
        assert_eq!(
            limit_for_publisher(VIDEO_QUEUE_LIMIT_STEADY, None),
            VIDEO_QUEUE_LIMIT_STEADY
        );
        // A 400 ms burst on a falling estimate: congestion from a publisher
        // on fiber, not from one on a satellite link.
        let now = Instant::now();
        let burst = QueueNow {
            first_unsent: Some(now - ms(400)),
            bytes: 30_000,
        };
        let estimate = Some(1_000_000);
        assert!(congested(
            now,
            burst,
            estimate,
            None,
            limit_for_publisher(VIDEO_QUEUE_LIMIT_FALLING, Some(ms(10)))
        ));
        assert!(!congested(
            now,
            burst,
            estimate,
            None,
            limit_for_publisher(VIDEO_QUEUE_LIMIT_FALLING, satellite)
        ));
    }

    #[test]
    fn old_frames_are_forgotten() {
        let t0 = Instant::now();
        let mut log = WrittenLog::default();
        log.record(t0, 5_000);
        log.record(t0 + ms(3_500), 1_000);
        assert_eq!(log.unsent_since(t0), 1_000);
    }

    #[test]
    fn an_empty_queue_is_never_tight() {
        let now = Instant::now() + Duration::from_secs(10);
        let empty = QueueNow {
            first_unsent: None,
            bytes: 0,
        };
        assert!(!tight(now, empty, Some(100_000), None));
    }

    #[test]
    fn video_older_than_the_limit_is_congestion_whatever_the_estimate() {
        let now = Instant::now() + Duration::from_secs(10);
        let limit = VIDEO_QUEUE_LIMIT_FALLING.as_millis() as u64;
        assert!(tight(now, queue(now, limit + 1, 1_000), Some(10_000_000), None));
        assert!(tight(now, queue(now, limit + 1, 1_000), None, None));
        assert!(!tight(now, queue(now, limit - 1, 1_000), None, None));
    }

    #[test]
    fn a_queue_that_cannot_leave_in_time_at_the_estimate_is_congestion_before_it_ages() {
        let now = Instant::now() + Duration::from_secs(10);
        // 250 kbit/s: 275 kbit/s pacing moves about 6.9 kB in 200 ms.
        assert!(tight(now, queue(now, 50, 8_000), Some(250_000), None));
        assert!(!tight(now, queue(now, 50, 6_000), Some(250_000), None));
        // The same bytes leave in time on a faster link.
        assert!(!tight(now, queue(now, 50, 8_000), Some(1_000_000), None));
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
        assert!(!tight(now, q, Some(400_000), Some(keyframe)));
        assert!(tight(now, q, Some(400_000), None));
        // Frames beyond the keyframe still count.
        assert!(tight(
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
        assert!(tight(now, q, Some(400_000), Some(long_ago)));
    }

    #[test]
    fn a_burst_the_pacer_drains_in_time_is_congestion_only_on_a_falling_estimate() {
        // 0.6 s of a satellite publisher's 480p released at once after a
        // retransmission, leaving at 1.5 Mbit/s: 300 ms old, 20 kB to go.
        let now = Instant::now() + Duration::from_secs(10);
        let q = queue(now, 300, 20_000);
        assert!(!congested(now, q, Some(1_500_000), None, VIDEO_QUEUE_LIMIT_STEADY));
        assert!(congested(now, q, Some(1_500_000), None, VIDEO_QUEUE_LIMIT_FALLING));
    }

    #[test]
    fn the_estimate_falls_when_it_is_a_tenth_under_its_peak_of_the_last_two_seconds() {
        let t0 = Instant::now();
        let mut trend = EstimateTrend::default();
        assert!(!trend.falling(), "nothing seen");
        assert_eq!(trend.queue_limit(), VIDEO_QUEUE_LIMIT_STEADY);
        for (i, e) in [1_300_000, 1_320_000, 1_250_000].into_iter().enumerate() {
            trend.record(t0 + ms(200 * i as u64), e);
        }
        assert!(!trend.falling(), "a wobble of 5 %");
        trend.record(t0 + ms(600), 1_100_000);
        assert!(trend.falling());
        assert_eq!(trend.queue_limit(), VIDEO_QUEUE_LIMIT_FALLING);
        // Two seconds later the peak has left the span: steady again.
        for i in 0..11u64 {
            trend.record(t0 + ms(800 + 200 * i), 1_100_000);
        }
        assert!(!trend.falling());
    }
}
