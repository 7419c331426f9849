//! After an outage, the relay stops asking the publisher to resend its video
//! for a while; while the publisher's uplink is congested, it asks only for
//! the lowest simulcast layer.
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
//!
//! While a publisher's uplink is congested (a stats report of heavy loss
//! toward the relay within the last second: `stats.rs`), only its lowest
//! simulcast layer is NACKed ([`NackPause::set_congested`]). A browser's
//! pacer sends retransmissions before new media, and asked for every layer's
//! losses, a collapsed uplink carries little else: on `bench/bench rural
//! --profile step-down` (the patient's uplink cut from 10 Mbit/s to
//! 250 kbit/s), the patient's browser stopped encoding its 480p within a
//! second, then sent almost nothing but retransmissions, most of them of
//! that 480p, for 3.7-4.9 s, while its 240p's new frames waited behind them.
//! The lowest layer is every subscriber's fallback, so its losses are still
//! repaired. A higher layer's NACKs come back as after an outage, once a
//! window of its packets has arrived since the congestion.

use crate::layer::{Layer, MAX_LAYERS};

/// str0m's NACK register tracks this many sequence numbers behind the
/// highest one (`MAX_MISORDER` in its `register_nack.rs`).
pub const NACK_WINDOW: u64 = 100;

/// Per layer of one published video: whether its NACKs are paused, and
/// from which sequence number on they may resume.
#[derive(Debug, Clone, Default)]
pub struct NackPause {
    layers: [Paused; MAX_LAYERS],
    /// The publisher's uplink is congested: only the lowest layer is
    /// repaired, and the higher ones' pause goes on while their frames come.
    congested: bool,
    /// Per layer, whether str0m was last told to suppress its NACKs.
    told: [bool; MAX_LAYERS],
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

    /// Whether `layer`'s NACKs are to be suppressed now.
    fn is_paused(&self, layer: Layer) -> bool {
        self.layers[layer.index()] != Paused::No
    }

    /// Whether the publisher's uplink is congested now (heavy loss toward
    /// the relay: `stats.rs`). The higher layers' NACKs stay paused after
    /// the congestion until a window of their packets has come since:
    /// resumed at once, str0m asked for the congestion's losses still in
    /// its window, and the storm of retransmissions came back (step-down:
    /// 2 s more of them, most of the 480p the browser had stopped).
    pub fn set_congested(&mut self, congested: bool) {
        self.congested = congested;
        if congested {
            for state in &mut self.layers[1..] {
                if *state == Paused::No {
                    *state = Paused::UntilFirstFrame;
                }
            }
        }
    }

    /// Of the video's lowest `layers` layers, those whose NACKs are to be
    /// suppressed (true) or resumed (false) since str0m was last told; each
    /// is counted as told.
    pub fn changes(&mut self, layers: usize) -> Vec<(Layer, bool)> {
        let mut out = Vec::new();
        for layer in Layer::ALL.into_iter().take(layers) {
            let suppress = self.is_paused(layer);
            if self.told[layer.index()] != suppress {
                self.told[layer.index()] = suppress;
                out.push((layer, suppress));
            }
        }
        out
    }

    /// A frame of `layer` spanning sequence numbers `first..=last` (str0m's
    /// extended numbers) arrived. Returns true when the layer's pause ended
    /// now (see [`Self::changes`] for what to tell str0m).
    pub fn on_frame(&mut self, layer: Layer, first: u64, last: u64) -> bool {
        let state = &mut self.layers[layer.index()];
        if self.congested && layer > Layer::LOW {
            // Its losses go unrepaired: the window starts after them.
            *state = Paused::UntilSeq(last.saturating_add(NACK_WINDOW));
            return false;
        }
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
    fn str0m_is_told_only_what_changed() {
        let mut p = NackPause::default();
        let high = Layer::new(1).unwrap();
        assert_eq!(p.changes(3), vec![], "nothing suppressed yet");
        p.pause();
        assert_eq!(
            p.changes(3),
            vec![(Layer::LOW, true), (high, true), (Layer::HIGH, true)]
        );
        assert_eq!(p.changes(3), vec![], "told once");
        assert!(p.on_frame(Layer::LOW, 5000, 5100));
        assert_eq!(p.changes(3), vec![(Layer::LOW, false)]);
    }

    #[test]
    fn on_a_congested_uplink_only_the_lowest_layer_is_nacked() {
        let mut p = NackPause::default();
        let high = Layer::new(1).unwrap();
        p.set_congested(true);
        assert_eq!(p.changes(3), vec![(high, true), (Layer::HIGH, true)]);
        assert!(!p.on_frame(Layer::LOW, 10, 12), "the lowest layer was never paused");
        assert!(!p.on_frame(high, 500, 520));
        assert!(!p.on_frame(high, 521, 700), "still congested");
        p.set_congested(false);
        assert_eq!(
            p.changes(3),
            vec![],
            "the congestion's losses are still in str0m's window"
        );
        assert!(!p.on_frame(high, 701, 799));
        assert!(
            p.on_frame(high, 800, 801),
            "a window after the last frame of the congestion"
        );
        assert_eq!(p.changes(3), vec![(high, false)]);
        let mut single = NackPause::default();
        single.set_congested(true);
        assert_eq!(
            single.changes(1),
            vec![],
            "a video without simulcast is its lowest layer"
        );
    }

    #[test]
    fn a_congestion_keeps_a_layer_paused_after_its_outage_pause_would_end() {
        let mut p = NackPause::default();
        let high = Layer::new(1).unwrap();
        p.pause();
        p.set_congested(true);
        p.changes(3);
        assert!(!p.on_frame(high, 10, 110));
        assert!(p.on_frame(Layer::LOW, 10, 110));
        assert_eq!(p.changes(3), vec![(Layer::LOW, false)], "the lowest layer only");
        p.set_congested(false);
        assert!(p.on_frame(high, 111, 210));
        assert_eq!(p.changes(3), vec![(high, false)]);
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
