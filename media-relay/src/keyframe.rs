//! Keyframe requests (PLI/FIR) toward one publisher's video track, merged
//! across all its subscribers and throttled per simulcast layer.
//!
//! Why: every subscriber that switches layer, resumes, or loses a keyframe
//! asks for one. Passed through as is, ten subscribers joining at once would
//! make the publisher send ten keyframes, each several times the size of a
//! normal frame, on what may be a 300 kbit/s uplink. One keyframe serves every
//! subscriber waiting on that layer, so requests are merged: at most one per
//! layer per `min_interval`, and a request that arrives during the quiet
//! period is remembered and sent when it ends, unless a keyframe arrived
//! meanwhile (the rewriters already switched on it). Nothing is lost, nothing
//! is sent twice.
//!
//! Time is passed in; [`KeyframeRequests::poll_timeout`] says when the next
//! deferred request falls due, str0m-style.

use std::time::{Duration, Instant};

use crate::layer::{Layer, LayerSet, MAX_LAYERS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyframeConfig {
    /// Shortest time between two requests for the same layer.
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

    /// A subscriber needs a keyframe on `layer`. Returns `true` if the I/O
    /// layer should send a PLI (or FIR) to the publisher now; otherwise the
    /// request is deferred to [`Self::poll_timeout`].
    pub fn request(&mut self, now: Instant, layer: Layer) -> bool {
        let interval = self.cfg.min_interval;
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
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.layers
            .iter()
            .filter(|s| s.pending)
            .filter_map(|s| s.last_sent)
            .map(|t| t + self.cfg.min_interval)
            .min()
    }

    /// The layers whose deferred request is due at `now`; each is marked as
    /// sent, so the caller must send them.
    pub fn handle_timeout(&mut self, now: Instant) -> LayerSet {
        let mut due = LayerSet::EMPTY;
        for layer in Layer::ALL {
            let interval = self.cfg.min_interval;
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
        assert!(k.request(clock.now, Layer::HIGH));
        let sent: usize = (0..10).map(|_| usize::from(k.request(clock.now, Layer::HIGH))).sum();
        assert_eq!(sent, 0);
        // Layers are independent.
        assert!(k.request(clock.now, Layer::LOW));
        clock.advance(Duration::from_millis(499));
        assert!(!k.request(clock.now, Layer::HIGH));
        clock.advance(Duration::from_millis(1));
        assert!(k.request(clock.now, Layer::HIGH));
    }

    #[test]
    fn deferred_request_is_sent_when_the_quiet_period_ends() {
        let mut clock = SimClock::new();
        let start = clock.now;
        let mut k = KeyframeRequests::new(KeyframeConfig {
            min_interval: Duration::from_millis(300),
        });
        assert_eq!(k.poll_timeout(), None);
        assert!(k.request(clock.now, Layer::MID));
        clock.advance(Duration::from_millis(100));
        assert!(!k.request(clock.now, Layer::MID));
        assert_eq!(k.poll_timeout(), Some(start + Duration::from_millis(300)));
        clock.advance(Duration::from_millis(100));
        assert!(k.handle_timeout(clock.now).is_empty(), "not due yet");
        clock.advance(Duration::from_millis(100));
        let due = k.handle_timeout(clock.now);
        assert_eq!(due.iter().collect::<Vec<_>>(), vec![Layer::MID]);
        assert_eq!(k.poll_timeout(), None);
        assert!(k.handle_timeout(clock.now).is_empty(), "sent once only");
    }

    #[test]
    fn keyframe_arriving_cancels_deferred_request() {
        let mut clock = SimClock::new();
        let mut k = KeyframeRequests::new(KeyframeConfig::default());
        assert!(k.request(clock.now, Layer::LOW));
        clock.advance(Duration::from_millis(50));
        assert!(!k.request(clock.now, Layer::LOW));
        k.keyframe_received(Layer::LOW);
        assert_eq!(k.poll_timeout(), None);
        clock.advance(Duration::from_secs(1));
        assert!(k.handle_timeout(clock.now).is_empty());
    }
}
