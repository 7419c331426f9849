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
    /// TL0PICIDX, as str0m extends it: one more for each base frame.
    pub tl0: u64,
    /// 0 for the base layer.
    pub temporal_id: u8,
    /// An upper frame that refers to its base frame only.
    pub sync: bool,
}

impl FrameLayers {
    /// From a received frame's VP8 descriptor fields; `None` without a
    /// picture id, which a browser needs to tell what is missing (the
    /// relay then sends no temporal fields either: `participant.rs`).
    pub fn of(vp8: Option<Vp8CodecExtra>) -> Option<FrameLayers> {
        let vp8 = vp8?;
        vp8.picture_id?;
        Some(FrameLayers {
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
    /// Bit `t` set: temporal layer `t` lost a frame, and its frames do not
    /// decode until its next sync frame.
    broken: u8,
}

/// Every upper temporal layer (VP8 has at most four).
const ALL_UPPER: u8 = 0b1110;

impl TemporalChain {
    /// A new source starts at a keyframe: nothing before it matters.
    pub fn started(&mut self, layers: Option<FrameLayers>) {
        self.last_tl0 = layers.map(|l| l.tl0);
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
            if self.last_tl0.and_then(|t| t.checked_add(step)) != Some(f.tl0) {
                self.last_tl0 = None;
                return Verdict::Restart;
            }
            self.broken = ALL_UPPER;
        }
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

    fn base(tl0: u64) -> Option<FrameLayers> {
        Some(FrameLayers {
            tl0,
            temporal_id: 0,
            sync: false,
        })
    }

    fn upper(tl0: u64, temporal_id: u8, sync: bool) -> Option<FrameLayers> {
        Some(FrameLayers { tl0, temporal_id, sync })
    }

    fn started_at(tl0: u64) -> TemporalChain {
        let mut chain = TemporalChain::default();
        chain.started(base(tl0));
        chain
    }

    #[test]
    fn without_a_gap_every_frame_goes_on() {
        let mut chain = started_at(7);
        assert_eq!(chain.judge(upper(7, 1, true), false, true), Verdict::Forward);
        assert_eq!(chain.judge(base(8), false, true), Verdict::Forward);
        assert_eq!(chain.judge(upper(8, 1, false), false, true), Verdict::Forward);
        assert_eq!(chain.judge(None, false, true), Verdict::Forward, "no temporal layers");
    }

    #[test]
    fn a_lost_upper_frame_skips_its_layer_until_a_sync_frame() {
        // Two layers, as Chrome sends: 0 1s 0 1 0 1s ... The sync frame of
        // group 7 is lost; the base frame after it goes on at once.
        let mut chain = started_at(7);
        assert_eq!(chain.judge(base(8), false, false), Verdict::Forward);
        assert_eq!(chain.judge(upper(8, 1, false), false, true), Verdict::Skip);
        assert_eq!(chain.judge(base(9), false, true), Verdict::Forward);
        assert_eq!(chain.judge(upper(9, 1, true), false, true), Verdict::Forward);
        assert_eq!(chain.judge(base(10), false, true), Verdict::Forward);
        assert_eq!(chain.judge(upper(10, 1, false), false, true), Verdict::Forward);
    }

    #[test]
    fn an_upper_frame_past_a_gap_in_its_own_group_needs_a_sync_frame() {
        let mut chain = started_at(7);
        assert_eq!(chain.judge(upper(7, 1, false), false, false), Verdict::Skip);
        let mut chain = started_at(7);
        assert_eq!(chain.judge(upper(7, 1, true), false, false), Verdict::Forward);
    }

    #[test]
    fn a_lost_base_frame_restarts_on_a_keyframe() {
        let mut chain = started_at(7);
        assert_eq!(chain.judge(base(9), false, false), Verdict::Restart);
        // Until a keyframe, even a frame that looks contiguous again.
        assert_eq!(chain.judge(base(10), false, false), Verdict::Restart);
        // An upper frame of the next group: its base frame was lost.
        let mut chain = started_at(7);
        assert_eq!(chain.judge(upper(8, 1, true), false, false), Verdict::Restart);
        // No temporal layers: nothing tells what was lost.
        let mut chain = started_at(7);
        assert_eq!(chain.judge(None, false, false), Verdict::Restart);
        // A keyframe starts afresh.
        assert_eq!(chain.judge(base(20), true, false), Verdict::Forward);
        assert_eq!(chain.judge(base(21), false, false), Verdict::Forward);
    }

    #[test]
    fn with_three_layers_the_top_one_also_needs_the_middle_one() {
        // 0 2 1 2 0 ...: after a gap, a sync frame of layer 2 decodes (it
        // refers to the base only), its non-sync frames need layer 1 whole.
        let mut chain = started_at(3);
        assert_eq!(chain.judge(base(4), false, false), Verdict::Forward);
        assert_eq!(chain.judge(upper(4, 2, true), false, true), Verdict::Forward);
        assert_eq!(
            chain.judge(upper(4, 2, false), false, true),
            Verdict::Skip,
            "layer 1 still broken"
        );
        assert_eq!(chain.judge(upper(4, 1, true), false, true), Verdict::Forward);
        assert_eq!(chain.judge(upper(4, 2, false), false, true), Verdict::Forward);
    }
}
