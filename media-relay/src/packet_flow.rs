//! Whether each layer of a published video still receives media: the RTP
//! time of the newest media packet str0m has seen on it (retransmissions and
//! padding excluded), read every adaptation pass. A layer held for a
//! retransmission delivers no frames while its later packets keep coming; a
//! layer its publisher stopped sending delivers neither. Frames alone cannot
//! tell the two apart, so without this a stall is only believed after two
//! of the publisher's round trips (`publish.rs`, `STALL_AFTER`): 1.6 s on a
//! satellite uplink, then a keyframe's round trip more before the lower
//! layer shows (`bench/bench rural --profile satellite`: the specialist's
//! view froze 2.2-2.3 s when the patient's browser dropped its 480p a
//! second after the relay had switched to it).
//!
//! Why not str0m's packet counts (its ingress stats): they include
//! retransmissions. Read every 250 ms, in one of six satellite runs the
//! count of a layer that had stopped went on growing, and the stall waited
//! the round-trip rule (2.3 s frozen).
//!
//! Only a time later than any seen on the same SSRC is new media. str0m's
//! newest time is that of the last packet it took as media, and some
//! resent packets count: after the patient's uplink collapsed, the time of
//! its stopped 480p went on changing for 3 s, back and forth below the last
//! frame it had encoded, while its browser sent nothing but retransmissions
//! on that layer (`bench/bench rural --profile step-down`, read every
//! 200 ms with a trace log).

use std::time::{Duration, Instant};

use crate::layer::{Layer, MAX_LAYERS};

/// Per layer: the SSRC, the latest media RTP time seen on it, and when
/// that last moved forward.
#[derive(Debug, Clone, Default)]
pub struct PacketFlow {
    last: [Option<Seen>; MAX_LAYERS],
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    ssrc: u32,
    latest: u64,
    moved: Instant,
}

impl PacketFlow {
    /// `newest`: the RTP time (extended) of the newest media packet on the
    /// layer's stream `ssrc`, read at `at`. New media is a later time, or a
    /// new SSRC (its time starts afresh, anywhere).
    pub fn note(&mut self, layer: Layer, ssrc: u32, newest: u64, at: Instant) {
        let last = &mut self.last[layer.index()];
        match *last {
            Some(seen) if seen.ssrc == ssrc && newest <= seen.latest => {}
            _ => {
                *last = Some(Seen {
                    ssrc,
                    latest: newest,
                    moved: at,
                })
            }
        }
    }

    /// Whether no new media of `layer` has come for `quiet` by `now`; false
    /// while nothing is known.
    pub fn silent_for(&self, layer: Layer, now: Instant, quiet: Duration) -> bool {
        self.last[layer.index()].is_some_and(|seen| now.saturating_duration_since(seen.moved) >= quiet)
    }

    /// Whether new media of `layer` has come within `quiet` of `now`; false
    /// while nothing is known.
    pub fn arriving(&self, layer: Layer, now: Instant, quiet: Duration) -> bool {
        self.last[layer.index()].is_some_and(|seen| now.saturating_duration_since(seen.moved) < quiet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_is_silent_once_its_newest_media_stops_moving() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let quiet = Duration::from_millis(500);
        let mut flow = PacketFlow::default();
        assert!(!flow.silent_for(Layer::MID, at(0), quiet), "nothing known yet");
        assert!(!flow.arriving(Layer::MID, at(0), quiet), "nothing known yet");
        // Read every 200 ms; 30 fps at 90 kHz moves 3000 ticks a frame.
        for ms in (0..1000).step_by(200) {
            flow.note(Layer::MID, 1, 90 * ms, at(ms));
            flow.note(Layer::LOW, 2, 90 * ms + 7, at(ms));
        }
        assert!(!flow.silent_for(Layer::MID, at(1000), quiet));
        // The publisher stops the layer: its newest media stays where it was.
        for ms in (1000..2000).step_by(200) {
            flow.note(Layer::MID, 1, 90 * 800, at(ms));
        }
        assert!(!flow.silent_for(Layer::MID, at(1299), quiet), "moved at 800 ms");
        assert!(flow.arriving(Layer::MID, at(1299), quiet));
        assert!(flow.silent_for(Layer::MID, at(1300), quiet));
        assert!(!flow.arriving(Layer::MID, at(1300), quiet));
        assert!(!flow.silent_for(Layer::LOW, at(1000), quiet), "per layer");
        // It comes back, on a new SSRC whose time starts lower.
        flow.note(Layer::MID, 3, 42, at(2000));
        assert!(!flow.silent_for(Layer::MID, at(2000), quiet));
    }

    #[test]
    fn older_times_on_the_same_stream_are_not_new_media() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let quiet = Duration::from_millis(500);
        let mut flow = PacketFlow::default();
        flow.note(Layer::MID, 1, 90 * 1000, at(0));
        // Resent packets of the last second, read every 200 ms.
        for (i, ms) in (200..1400).step_by(200).enumerate() {
            flow.note(Layer::MID, 1, 90 * (900 - 50 * i as u64), at(ms));
        }
        assert!(flow.silent_for(Layer::MID, at(1400), quiet), "nothing new since 0 ms");
        flow.note(Layer::MID, 1, 90 * 1033, at(1400));
        assert!(!flow.silent_for(Layer::MID, at(1400), quiet), "a new frame");
    }
}
