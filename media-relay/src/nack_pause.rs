//! After an outage, the relay stops asking the publisher to resend its video
//! for a while.
//!
//! Why: when a participant's link comes back after seconds of silence, the
//! relay's str0m sees the hundred packets before the first new one as
//! missing. It NACKs each up to five times, and it holds every later frame
//! of that stream until the last of those requests has had three round trips
//! to be answered: about eight round trips in all, 1.7-2.9 s on a 3G link
//! (`bench/bench rural --profile dropout`, patient → specialist). Meanwhile
//! the patient's uplink, just back, spends itself resending packets from the
//! outage, which nobody will show: the relay restarts every video of a
//! returning participant on a keyframe anyway (`outage.rs`). With NACKs
//! paused, str0m gives up on the gap three round trips after the first
//! complete frame instead.
//!
//! Until when: str0m's NACK window is the last [`NACK_WINDOW`] sequence
//! numbers. Resumed earlier, it would NACK the outage's gap again, and hold
//! frames for it again; so NACKs stay off until that many packets of the
//! layer have arrived since it came back. Loss in that stretch is not
//! repaired: str0m hands on the frame after it marked as not contiguous, and
//! the relay restarts that video on a keyframe (`participant.rs`).

use crate::layer::{Layer, MAX_LAYERS};

/// str0m's NACK register tracks this many sequence numbers behind the
/// highest one (`MAX_MISORDER` in its `register_nack.rs`).
pub const NACK_WINDOW: u64 = 100;

/// Per layer of one published video: whether its NACKs are paused, and
/// from which sequence number on they may resume.
#[derive(Debug, Clone, Default)]
pub struct NackPause {
    layers: [Paused; MAX_LAYERS],
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Paused {
    #[default]
    No,
    /// Paused; no frame has arrived on the layer since.
    UntilFirstFrame,
    /// Paused until a frame ends at or beyond this sequence number.
    UntilSeq(u64),
}

impl NackPause {
    /// Pauses every layer: the publisher's link has just come back.
    pub fn pause(&mut self) {
        self.layers = [Paused::UntilFirstFrame; MAX_LAYERS];
    }

    #[cfg(test)]
    fn is_paused(&self, layer: Layer) -> bool {
        self.layers[layer.index()] != Paused::No
    }

    /// A frame of `layer` spanning sequence numbers `first..=last` (str0m's
    /// extended numbers) arrived. Returns true when the layer's NACKs may
    /// resume now.
    pub fn on_frame(&mut self, layer: Layer, first: u64, last: u64) -> bool {
        let state = &mut self.layers[layer.index()];
        let until = match *state {
            Paused::No => return false,
            Paused::UntilFirstFrame => first.saturating_add(NACK_WINDOW),
            Paused::UntilSeq(until) => until,
        };
        if last >= until {
            *state = Paused::No;
            return true;
        }
        *state = Paused::UntilSeq(until);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_paused_until_an_outage() {
        let mut p = NackPause::default();
        assert!(!p.is_paused(Layer::LOW));
        assert!(!p.on_frame(Layer::LOW, 10, 12), "nothing to resume");
    }

    #[test]
    fn a_layer_resumes_once_a_window_of_packets_came_after_its_return() {
        let mut p = NackPause::default();
        p.pause();
        let high = Layer::new(1).unwrap();
        assert!(p.is_paused(Layer::LOW) && p.is_paused(high));
        // The first frame after the outage starts at 5000.
        assert!(!p.on_frame(Layer::LOW, 5000, 5010));
        assert!(!p.on_frame(Layer::LOW, 5011, 5099));
        assert!(p.is_paused(Layer::LOW));
        assert!(p.on_frame(Layer::LOW, 5100, 5101), "the gap has left str0m's window");
        assert!(!p.is_paused(Layer::LOW));
        assert!(!p.on_frame(Layer::LOW, 5102, 5103), "resumed once");
        // Each layer counts its own packets.
        assert!(p.is_paused(high));
        assert!(!p.on_frame(high, 70, 80));
        assert!(p.on_frame(high, 81, 170));
    }

    #[test]
    fn a_second_outage_starts_the_count_again() {
        let mut p = NackPause::default();
        p.pause();
        assert!(!p.on_frame(Layer::LOW, 100, 150));
        p.pause();
        assert!(!p.on_frame(Layer::LOW, 900, 950));
        assert!(!p.on_frame(Layer::LOW, 951, 999));
        assert!(p.on_frame(Layer::LOW, 1000, 1000));
    }
}
