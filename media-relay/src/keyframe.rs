//! Keyframe requests (PLI/FIR) toward one publisher's video track, merged
//! across all its subscribers and throttled per simulcast layer.
//!
//! Why: every subscriber that switches layer, resumes, or loses a keyframe
//! asks for one. Passed through as is, ten subscribers joining at once would
//! make the publisher send ten keyframes, each several times the size of a
//! normal frame, on what may be a 300 kbit/s uplink. One keyframe serves every
//! subscriber waiting on that layer, so requests are merged: at most one per
//! layer per quiet period, and a request that arrives during the quiet
//! period is remembered and sent when it ends, unless a keyframe arrived
//! meanwhile (the rewriters already switched on it). Nothing is lost, nothing
//! is sent twice.
//!
//! The quiet period is at least a round trip to the publisher and back plus
//! the keyframe's own sending time ([`KEYFRAME_SENDING`]): a repeat sent
//! sooner cannot mean the first was lost, it only makes the publisher send a
//! second keyframe. On a satellite link (a 590–650 ms round trip) the
//! keyframe answering a request mostly came 550–690 ms after it, so with a
//! fixed 500 ms a request that subscribers repeated meanwhile went out again
//! (`bench/bench rural --profile satellite`: once in four runs). Until str0m
//! has measured the publisher's round trip (a few seconds into a call), the
//! fixed minimum is all there is.
//!
//! Time and the round trip are passed in. The relay sends deferred requests
//! at its adaptation tick (`adapt.rs`, five times a second);
//! [`KeyframeRequests::poll_timeout`] says when the next falls due.

use std::time::{Duration, Instant};

use crate::layer::{Layer, LayerSet, MAX_LAYERS};

/// What a quiet period allows beyond the round trip for the keyframe to
/// arrive: the encoder's next frame (50 ms at 20 fps) and the keyframe's
/// packets crossing the uplink, a camera's 480p keyframe being ~30 kB, about
/// 240 ms at 1 Mbit/s.
pub const KEYFRAME_SENDING: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyframeConfig {
    /// Shortest time between two requests for the same layer, whatever the
    /// round trip.
    pub min_interval: Duration,
}

impl Default for KeyframeConfig {
    fn default() -> KeyframeConfig {
        KeyframeConfig {
            min_interval: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct LayerState {
    last_sent: Option<Instant>,
    /// A request is waiting for the quiet period to end.
    pending: bool,
}

/// The keyframe request state of one published video track.
#[derive(Debug, Clone)]
pub struct KeyframeRequests {
    cfg: KeyframeConfig,
    layers: [LayerState; MAX_LAYERS],
}

impl KeyframeRequests {
    pub fn new(cfg: KeyframeConfig) -> KeyframeRequests {
        KeyframeRequests {
            cfg,
            layers: [LayerState::default(); MAX_LAYERS],
        }
    }

    /// The shortest time between two requests for one layer, given the
    /// publisher's round trip (unknown: `min_interval` alone).
    fn quiet_period(&self, rtt: Option<Duration>) -> Duration {
        let answered_in = rtt.map_or(Duration::ZERO, |rtt| rtt + KEYFRAME_SENDING);
        self.cfg.min_interval.max(answered_in)
    }

    /// A subscriber needs a keyframe on `layer`. Returns `true` if the I/O
    /// layer should send a PLI (or FIR) to the publisher now; otherwise the
    /// request is deferred to [`Self::poll_timeout`]. `rtt` is the round trip
    /// to the publisher.
    pub fn request(&mut self, now: Instant, layer: Layer, rtt: Option<Duration>) -> bool {
        let interval = self.quiet_period(rtt);
        let state = &mut self.layers[layer.index()];
        if state
            .last_sent
            .is_some_and(|t| now.saturating_duration_since(t) < interval)
        {
            state.pending = true;
            return false;
        }
        state.last_sent = Some(now);
        state.pending = false;
        true
    }

    /// A keyframe arrived on `layer`: every subscriber waiting for one gets
    /// it, so a deferred request is no longer needed.
    pub fn keyframe_received(&mut self, layer: Layer) {
        self.layers[layer.index()].pending = false;
    }

    /// When the earliest deferred request may be sent.
    pub fn poll_timeout(&self, rtt: Option<Duration>) -> Option<Instant> {
        let interval = self.quiet_period(rtt);
        self.layers
            .iter()
            .filter(|s| s.pending)
            .filter_map(|s| s.last_sent)
            .map(|t| t + interval)
            .min()
    }

    /// The layers whose deferred request is due at `now`; each is marked as
    /// sent, so the caller must send them.
    pub fn handle_timeout(&mut self, now: Instant, rtt: Option<Duration>) -> LayerSet {
        let interval = self.quiet_period(rtt);
        let mut due = LayerSet::EMPTY;
        for layer in Layer::ALL {
            let state = &mut self.layers[layer.index()];
            let ready = state
                .last_sent
                .is_none_or(|t| now.saturating_duration_since(t) >= interval);
            if state.pending && ready {
                state.pending = false;
                state.last_sent = Some(now);
                due.insert(layer);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::SimClock;

    #[test]
    fn many_subscribers_make_one_request() {
        let mut clock = SimClock::new();
        let mut k = KeyframeRequests::new(KeyframeConfig::default());
        assert!(k.request(clock.now, Layer::HIGH, None));
        let sent: usize = (0..10)
            .map(|_| usize::from(k.request(clock.now, Layer::HIGH, None)))
            .sum();
        assert_eq!(sent, 0);
        // Layers are independent.
        assert!(k.request(clock.now, Layer::LOW, None));
        clock.advance(Duration::from_millis(499));
        assert!(!k.request(clock.now, Layer::HIGH, None));
        clock.advance(Duration::from_millis(1));
        assert!(k.request(clock.now, Layer::HIGH, None));
    }

    #[test]
    fn deferred_request_is_sent_when_the_quiet_period_ends() {
        let mut clock = SimClock::new();
        let start = clock.now;
        let mut k = KeyframeRequests::new(KeyframeConfig {
            min_interval: Duration::from_millis(300),
        });
        assert_eq!(k.poll_timeout(None), None);
        assert!(k.request(clock.now, Layer::MID, None));
        clock.advance(Duration::from_millis(100));
        assert!(!k.request(clock.now, Layer::MID, None));
        assert_eq!(k.poll_timeout(None), Some(start + Duration::from_millis(300)));
        clock.advance(Duration::from_millis(100));
        assert!(k.handle_timeout(clock.now, None).is_empty(), "not due yet");
        clock.advance(Duration::from_millis(100));
        let due = k.handle_timeout(clock.now, None);
        assert_eq!(due.iter().collect::<Vec<_>>(), vec![Layer::MID]);
        assert_eq!(k.poll_timeout(None), None);
        assert!(k.handle_timeout(clock.now, None).is_empty(), "sent once only");
    }

    #[test]
    fn keyframe_arriving_cancels_deferred_request() {
        let mut clock = SimClock::new();
        let mut k = KeyframeRequests::new(KeyframeConfig::default());
        assert!(k.request(clock.now, Layer::LOW, None));
        clock.advance(Duration::from_millis(50));
        assert!(!k.request(clock.now, Layer::LOW, None));
        k.keyframe_received(Layer::LOW);
        assert_eq!(k.poll_timeout(None), None);
        clock.advance(Duration::from_secs(1));
        assert!(k.handle_timeout(clock.now, None).is_empty());
    }

    #[test]
    fn a_long_round_trip_stretches_the_quiet_period() {
        let mut clock = SimClock::new();
        let start = clock.now;
        let mut k = KeyframeRequests::new(KeyframeConfig::default());
        let satellite = Some(Duration::from_millis(650));
        let quiet = Duration::from_millis(650) + KEYFRAME_SENDING;
        assert!(k.request(clock.now, Layer::HIGH, satellite));
        clock.advance(Duration::from_millis(100));
        assert!(!k.request(clock.now, Layer::HIGH, satellite), "a subscriber repeats it");
        assert_eq!(k.poll_timeout(satellite), Some(start + quiet));
        // Past the fixed minimum but before the keyframe could be back: held.
        clock.advance(Duration::from_millis(500));
        assert!(k.handle_timeout(clock.now, satellite).is_empty());
        assert!(!k.request(clock.now, Layer::HIGH, satellite));
        // No keyframe by the end of the quiet period: the first request or
        // its keyframe was lost, so the repeat goes out.
        clock.advance(quiet - Duration::from_millis(600));
        assert_eq!(
            k.handle_timeout(clock.now, satellite).iter().collect::<Vec<_>>(),
            vec![Layer::HIGH]
        );
        // A short round trip leaves the fixed minimum in force.
        let mut k = KeyframeRequests::new(KeyframeConfig::default());
        assert!(k.request(clock.now, Layer::LOW, Some(Duration::from_millis(40))));
        clock.advance(Duration::from_millis(400));
        assert!(!k.request(clock.now, Layer::LOW, Some(Duration::from_millis(40))));
        clock.advance(Duration::from_millis(100));
        assert!(k.request(clock.now, Layer::LOW, Some(Duration::from_millis(40))));
    }
}
