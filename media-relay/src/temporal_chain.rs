//! Which frames of the layer a subscriber gets it can still decode once
//! str0m hands on a frame past a gap it gave up on (decision 0033).
//!
//! Why: Chrome sends each VP8 simulcast layer in temporal layers. A base
//! layer (TL0) frame refers only to the base frame before it, and an upper
//! layer's sync frame (the Y bit) only to its base frame; the other upper
//! frames refer to earlier upper frames too (libwebrtc's temporal patterns;
//! TL0PICIDX counts the base frames, RFC 7741). So a frame lost for good
//! breaks every frame after it only if it was a base frame. Otherwise the
//! next base frame, and each upper layer from its next sync frame, decode
//! as before. Restarting on a keyframe instead froze the picture for the
//! keyframe's round trip to the publisher: at the specialist, 1.67 s in a
//! satellite run (`bench/bench rural --profile satellite`), of which
//! 0.68 s from the request to the keyframe.
//!
//! A subscriber's browser sees the lost and skipped frames as gaps in the
//! picture ids, which its own reference finder checks upper frames
//! against, and base frames not.

use str0m::format::Vp8CodecExtra;

/// What a frame's VP8 descriptor says of its temporal layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayers {
    /// The picture id, as str0m extends it: one more for each frame.
    pub picture_id: u64,
    /// TL0PICIDX, as str0m extends it: one more for each base frame.
    pub tl0: u64,
    /// 0 for the base layer.
    pub temporal_id: u8,
    /// An upper frame that refers to its base frame only.
    pub sync: bool,
}

impl FrameLayers {
    /// From a received frame's VP8 descriptor fields; `None` without a
    /// picture id or a TL0PICIDX. A browser needs the picture id to tell
    /// what is missing (without one the relay sends no temporal fields
    /// either: `participant.rs`).
    pub fn of(vp8: Option<Vp8CodecExtra>) -> Option<FrameLayers> {
        let vp8 = vp8?;
        Some(FrameLayers {
            picture_id: vp8.picture_id?,
            tl0: vp8.tl0_picture_id?,
            temporal_id: vp8.layer_index,
            sync: vp8.sync,
        })
    }
}

/// What to do with a frame of the layer being forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    /// It refers to a frame the subscriber never got; later ones may not.
    Skip,
    /// Nothing until a keyframe decodes: a base frame, or which frames were
    /// lost, is unknown.
    Restart,
}

/// The state of the forwarded layer's frames at the subscriber.
#[derive(Debug, Clone, Default)]
pub struct TemporalChain {
    /// TL0PICIDX of the last base frame forwarded.
    last_tl0: Option<u64>,
    /// Picture id of the last frame forwarded.
    last_picture_id: Option<u64>,
    /// Bit `t` set: temporal layer `t` lost a frame, and its frames do not
    /// decode until its next sync frame.
    broken: u8,
}

/// Every upper temporal layer (VP8 has at most four).
const ALL_UPPER: u8 = 0b1110;

/// Past a gap of more frames than this the layer restarts on a keyframe
/// whatever the TL0PICIDX says: str0m extends that 8-bit counter to the
/// value nearest the last, so 256 lost base frames (34 s of Chrome's
/// 7.5 a second) would look like none; and a picture gone for 3 s is
/// better started afresh anyway.
const MAX_FRAMES_MISSING: u64 = 90;

impl TemporalChain {
    /// A new source starts at a keyframe: nothing before it matters.
    pub fn started(&mut self, layers: Option<FrameLayers>) {
        self.last_tl0 = layers.map(|l| l.tl0);
        self.last_picture_id = layers.map(|l| l.picture_id);
        self.broken = 0;
    }

    /// Judges the next frame str0m handed on of the layer being forwarded;
    /// `contiguous`: nothing is missing between it and the one before.
    pub fn judge(&mut self, layers: Option<FrameLayers>, keyframe: bool, contiguous: bool) -> Verdict {
        if keyframe {
            self.started(layers);
            return Verdict::Forward;
        }
        let Some(f) = layers else {
            return if contiguous { Verdict::Forward } else { Verdict::Restart };
        };
        if !contiguous {
            // The base layer is whole if this base frame follows the last
            // one forwarded, or this upper frame belongs to it.
            let step = if f.temporal_id == 0 { 1 } else { 0 };
            let base_whole = self.last_tl0.and_then(|t| t.checked_add(step)) == Some(f.tl0);
            let missing = self.last_picture_id.map(|p| f.picture_id.saturating_sub(p));
            if !base_whole || missing.is_none_or(|m| m > MAX_FRAMES_MISSING) {
                self.last_tl0 = None;
                self.last_picture_id = None;
                return Verdict::Restart;
            }
            self.broken = ALL_UPPER;
        }
        let verdict = self.verdict_on_whole_base(f);
        if verdict == Verdict::Forward {
            self.last_picture_id = Some(f.picture_id);
        }
        verdict
    }

    /// [`Self::judge`] once the base layer is known whole.
    fn verdict_on_whole_base(&mut self, f: FrameLayers) -> Verdict {
        if f.temporal_id == 0 {
            self.last_tl0 = Some(f.tl0);
            return Verdict::Forward;
        }
        let own = 1u8.checked_shl(u32::from(f.temporal_id)).unwrap_or(0);
        if f.sync {
            self.broken &= !own;
            return Verdict::Forward;
        }
        // Its own layer and those under it, down to the first upper one.
        let referred = own | (own.wrapping_sub(1) & ALL_UPPER);
        if self.broken & referred == 0 {
            Verdict::Forward
        } else {
            Verdict::Skip
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(picture_id: u64, tl0: u64, temporal_id: u8, sync: bool) -> Option<FrameLayers> {
        Some(FrameLayers {
            picture_id,
            tl0,
            temporal_id,
            sync,
        })
    }

    fn base(picture_id: u64, tl0: u64) -> Option<FrameLayers> {
        frame(picture_id, tl0, 0, false)
    }

    /// Started on a keyframe with picture id 100 and TL0PICIDX 7.
    fn started() -> TemporalChain {
        let mut chain = TemporalChain::default();
        chain.started(base(100, 7));
        chain
    }

    #[test]
    fn without_a_gap_every_frame_goes_on() {
        let mut chain = started();
        assert_eq!(chain.judge(frame(101, 7, 1, true), false, true), Verdict::Forward);
        assert_eq!(chain.judge(base(102, 8), false, true), Verdict::Forward);
        assert_eq!(chain.judge(frame(103, 8, 1, false), false, true), Verdict::Forward);
        assert_eq!(chain.judge(None, false, true), Verdict::Forward, "no temporal layers");
    }

    #[test]
    fn a_lost_upper_frame_skips_its_layer_until_a_sync_frame() {
        // Two layers: 0 1s 0 1 0 1s ... The sync frame of group 7 (101) is
        // lost; the base frame after it goes on at once.
        let mut chain = started();
        assert_eq!(chain.judge(base(102, 8), false, false), Verdict::Forward);
        assert_eq!(chain.judge(frame(103, 8, 1, false), false, true), Verdict::Skip);
        assert_eq!(chain.judge(base(104, 9), false, true), Verdict::Forward);
        assert_eq!(chain.judge(frame(105, 9, 1, true), false, true), Verdict::Forward);
        assert_eq!(chain.judge(base(106, 10), false, true), Verdict::Forward);
        assert_eq!(chain.judge(frame(107, 10, 1, false), false, true), Verdict::Forward);
    }

    #[test]
    fn an_upper_frame_past_a_gap_in_its_own_group_needs_a_sync_frame() {
        let mut chain = started();
        assert_eq!(chain.judge(frame(102, 7, 1, false), false, false), Verdict::Skip);
        let mut chain = started();
        assert_eq!(chain.judge(frame(102, 7, 1, true), false, false), Verdict::Forward);
    }

    #[test]
    fn a_lost_base_frame_restarts_on_a_keyframe() {
        let mut chain = started();
        assert_eq!(chain.judge(base(104, 9), false, false), Verdict::Restart);
        // Until a keyframe, even a frame that would follow.
        assert_eq!(chain.judge(base(106, 10), false, false), Verdict::Restart);
        // An upper frame of the next group: its base frame was lost.
        let mut chain = started();
        assert_eq!(chain.judge(frame(103, 8, 1, true), false, false), Verdict::Restart);
        // No temporal layers: nothing tells what was lost.
        let mut chain = started();
        assert_eq!(chain.judge(None, false, false), Verdict::Restart);
        // A keyframe starts afresh.
        assert_eq!(chain.judge(base(200, 20), true, false), Verdict::Forward);
        assert_eq!(chain.judge(base(202, 21), false, false), Verdict::Forward);
    }

    #[test]
    fn a_long_gap_restarts_whatever_the_base_counter_says() {
        // 256 base frames later the 8-bit counter, extended to the value
        // nearest the last, reads as the next one.
        let mut chain = started();
        assert_eq!(chain.judge(base(100 + 1024, 8), false, false), Verdict::Restart);
        let mut chain = started();
        assert_eq!(
            chain.judge(base(100 + MAX_FRAMES_MISSING, 8), false, false),
            Verdict::Forward
        );
    }

    #[test]
    fn with_three_layers_the_top_one_also_needs_the_middle_one() {
        // 0 2 1 2 0 ... as Chrome sends (L1T3): after a gap, a sync frame of
        // layer 2 decodes (it refers to the base only); its non-sync frames
        // need layer 1 whole.
        let mut chain = started();
        assert_eq!(chain.judge(base(104, 8), false, false), Verdict::Forward);
        assert_eq!(chain.judge(frame(105, 8, 2, true), false, true), Verdict::Forward);
        assert_eq!(
            chain.judge(frame(106, 8, 2, false), false, true),
            Verdict::Skip,
            "layer 1 still broken"
        );
        assert_eq!(chain.judge(frame(107, 8, 1, true), false, true), Verdict::Forward);
        assert_eq!(chain.judge(frame(108, 8, 2, false), false, true), Verdict::Forward);
    }
}
