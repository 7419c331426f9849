//! Incoming bitrate of one simulcast layer, measured from the frames that
//! arrive: what the allocator needs to know a layer costs.
//!
//! Why measured and not taken from the SDP: browsers adapt each layer's
//! bitrate to their own uplink and CPU, and a static figure would make the
//! allocator pick layers that do not fit. A layer that stopped arriving
//! (paused at the publisher, or never sent) has no measurement; the caller
//! then uses a nominal rate so that the layer can still be chosen and resumed.

use std::time::{Duration, Instant};

/// Bytes are summed over windows this long; each closed window updates the rate.
const WINDOW: Duration = Duration::from_millis(500);
/// A layer silent for this long has no current rate.
const STALE_AFTER: Duration = Duration::from_secs(2);
/// Weight of the newest window: rates settle in about two seconds but one
/// keyframe does not double a layer's cost.
const NEW_WEIGHT: f64 = 0.3;

#[derive(Debug, Clone, Default)]
pub struct RateMeter {
    window_start: Option<Instant>,
    window_bytes: u64,
    smoothed_bps: Option<f64>,
    last_seen: Option<Instant>,
}

impl RateMeter {
    pub fn record(&mut self, now: Instant, bytes: usize) {
        self.roll(now);
        self.window_start.get_or_insert(now);
        self.window_bytes += bytes as u64;
        self.last_seen = Some(now);
    }

    /// When the layer last delivered anything.
    pub fn last_seen(&self) -> Option<Instant> {
        self.last_seen
    }

    /// The smoothed rate in bit/s; `None` before the first full window or
    /// once the layer has been silent for a while.
    pub fn bps(&mut self, now: Instant) -> Option<u64> {
        self.roll(now);
        if self
            .last_seen
            .is_none_or(|t| now.saturating_duration_since(t) >= STALE_AFTER)
        {
            return None;
        }
        self.smoothed_bps.map(|r| r.round() as u64)
    }

    /// Closes every window that ended before `now`.
    fn roll(&mut self, now: Instant) {
        let Some(start) = self.window_start else { return };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < WINDOW {
            return;
        }
        let windows = (elapsed.as_nanos() / WINDOW.as_nanos()) as u32;
        let sample = self.window_bytes as f64 * 8.0 / WINDOW.as_secs_f64();
        self.smoothed_bps = Some(match self.smoothed_bps {
            Some(old) => old * (1.0 - NEW_WEIGHT) + sample * NEW_WEIGHT,
            None => sample,
        });
        // Empty windows after the first pull the rate down.
        for _ in 1..windows.min(8) {
            if let Some(r) = self.smoothed_bps.as_mut() {
                *r *= 1.0 - NEW_WEIGHT;
            }
        }
        self.window_bytes = 0;
        self.window_start = Some(start + WINDOW * windows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(meter: &mut RateMeter, start: Instant, bps: u64, fps: u32, secs: u32) -> Instant {
        let frame = (bps / 8 / u64::from(fps)) as usize;
        let every = Duration::from_secs(1) / fps;
        let mut now = start;
        for _ in 0..fps * secs {
            meter.record(now, frame);
            now += every;
        }
        now
    }

    #[test]
    fn a_steady_layer_is_measured_within_a_few_percent() {
        let mut m = RateMeter::default();
        let t0 = Instant::now();
        let end = feed(&mut m, t0, 500_000, 30, 6);
        let rate = m.bps(end).expect("measured") as f64;
        assert!((rate - 500_000.0).abs() / 500_000.0 < 0.05, "{rate}");
    }

    #[test]
    fn nothing_is_known_before_the_first_window_closes() {
        let mut m = RateMeter::default();
        let t0 = Instant::now();
        m.record(t0, 1000);
        assert_eq!(m.bps(t0 + Duration::from_millis(100)), None);
    }

    #[test]
    fn a_silent_layer_has_no_rate() {
        let mut m = RateMeter::default();
        let t0 = Instant::now();
        let end = feed(&mut m, t0, 300_000, 30, 3);
        assert!(m.bps(end).is_some());
        assert_eq!(m.bps(end + STALE_AFTER), None);
    }

    #[test]
    fn a_rate_drop_is_followed() {
        let mut m = RateMeter::default();
        let t0 = Instant::now();
        let mid = feed(&mut m, t0, 1_000_000, 30, 4);
        let end = feed(&mut m, mid, 200_000, 30, 6);
        let rate = m.bps(end).unwrap() as f64;
        assert!((rate - 200_000.0).abs() / 200_000.0 < 0.1, "{rate}");
    }
}
