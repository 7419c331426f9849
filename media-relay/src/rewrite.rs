//! Per-subscriber, per-track rewriting: the subscriber sees one continuous
//! stream while the relay switches between simulcast layers underneath.
//!
//! Each simulcast layer arrives with its own SSRC, sequence numbers,
//! timestamp base and VP8 picture ids. A subscriber's decoder, jitter buffer
//! and NACK logic expect a single stream, so every forwarded packet gets:
//!
//! * the subscriber's one outgoing SSRC;
//! * a sequence number one above the last one sent when a new source starts,
//!   then the source's own spacing: packets dropped because they belong to
//!   another layer leave no hole, while real loss on the forwarded layer does
//!   (so the subscriber NACKs it), and reordered packets keep their place;
//! * a timestamp that continues from the last one sent plus the wall time
//!   elapsed since, in clock-rate ticks, so playout timing stays right;
//! * VP8 PictureID and TL0PICIDX that continue by one, so the decoder does not
//!   think frames were lost at a switch.
//!
//! A video switch (or a resume after a pause) waits for a keyframe of the
//! target layer, because simulcast layers are independent VP8 streams;
//! meanwhile the current layer keeps flowing, and when none is, a lower
//! layer's keyframe starts the picture until the target's comes. [`VideoRewriter::awaiting_keyframe`]
//! tells the I/O layer which layer to ask a keyframe for. [`AudioRewriter`] is
//! the same machinery without layers: a publisher that reconnects with a new
//! SSRC is spliced on at once.
//!
//! Decisions are values; nothing here touches bytes. Today the relay feeds
//! [`VideoRewriter`] whole frames (decision 0003), so the sequence number
//! and SSRC of a [`Forward`] are not used: str0m picks the SSRC, and the
//! relay numbers the packets as it cuts a VP8 frame (`vp8_packetize`). The
//! timestamp, picture id and TL0PICIDX are used (decision 0019); in RTP mode
//! every field would be, with [`crate::vp8::Vp8Descriptor::rewrite`] for
//! the picture ids.

use std::time::{Duration, Instant};

use crate::layer::Layer;
use crate::rtp::{seq_delta, wrap, RtpHeader, Unwrapper};
use crate::vp8::{PictureId, Vp8Descriptor};

/// Packets further behind the highest forwarded one are dropped: the
/// subscriber's jitter buffer has long given up on them (about 3 s at
/// 300 packets/s), and the unwrapper would grow ambiguous.
const MAX_REORDER: i64 = 1024;

/// What the rewriter needs from an incoming packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    /// First packet of a keyframe. Set from the VP8 descriptor; for other
    /// codecs the I/O layer sets it from its own depacketiser.
    pub keyframe_start: bool,
    pub picture_id: Option<PictureId>,
    pub tl0picidx: Option<u8>,
}

impl PacketInfo {
    pub fn from_parts(header: &RtpHeader, vp8: Option<&Vp8Descriptor>) -> PacketInfo {
        PacketInfo {
            ssrc: header.ssrc,
            seq: header.sequence_number,
            timestamp: header.timestamp,
            keyframe_start: vp8.is_some_and(|d| d.keyframe_start),
            picture_id: vp8.and_then(|d| d.picture_id),
            tl0picidx: vp8.and_then(|d| d.tl0picidx),
        }
    }
}

/// Where the subscriber's outgoing stream starts. RFC 3550 wants random
/// initial sequence number and timestamp; the I/O layer picks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewriterConfig {
    pub ssrc: u32,
    /// Ticks per second of the RTP clock: 90 000 for video, 48 000 for Opus.
    pub clock_rate: u32,
    pub first_seq: u16,
    pub first_timestamp: u32,
    pub first_picture_id: u16,
    pub first_tl0picidx: u8,
}

/// The rewritten fields of a packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    /// Same width as the incoming picture id; `None` if it had none.
    pub picture_id: Option<PictureId>,
    pub tl0picidx: Option<u8>,
}

/// Why a packet is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The subscriber's video is paused.
    Paused,
    /// A layer that is neither forwarded nor the switch target.
    NotSelected,
    /// The switch target, but its keyframe has not started yet.
    AwaitingKeyframe,
    /// Reordered from before the point where the current source was spliced
    /// in; its number would collide with the previous source's.
    BeforeSwitch,
    /// Reordered or repeated beyond the reorder window.
    TooOld,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Forward(Forward),
    Drop(DropReason),
}

/// One outgoing counter (in extended form), continuous across sources.
#[derive(Debug, Clone)]
struct OutCounter {
    bits: u32,
    first: i64,
    highest: Option<i64>,
}

impl OutCounter {
    fn new(bits: u32, first: u64) -> OutCounter {
        OutCounter {
            bits,
            first: first as i64,
            highest: None,
        }
    }

    /// Where a new source starts: `step` above the last value sent.
    fn next(&self, step: i64) -> i64 {
        self.highest.map_or(self.first, |h| h.saturating_add(step))
    }

    fn emit(&mut self, extended: i64) -> u64 {
        self.highest = Some(self.highest.map_or(extended, |h| h.max(extended)));
        wrap(extended, self.bits)
    }
}

/// Maps one incoming counter of the current source onto its outgoing counter.
#[derive(Debug, Clone)]
struct Mapping {
    unwrapper: Unwrapper,
    offset: i64,
}

impl Mapping {
    /// Starts mapping at `value`, which comes out as `out`.
    fn start(bits: u32, value: u64, out: i64) -> Mapping {
        let mut unwrapper = Unwrapper::with_bits(bits);
        let extended = unwrapper.unwrap(value);
        Mapping {
            unwrapper,
            offset: out - extended,
        }
    }

    fn map(&mut self, value: u64) -> i64 {
        self.unwrapper.unwrap(value) + self.offset
    }
}

/// The incoming stream currently spliced into the output.
#[derive(Debug, Clone)]
struct Source {
    ssrc: u32,
    /// Extended incoming sequence number of the splice point.
    start_seq: i64,
    seq: Mapping,
    timestamp: Mapping,
    picture_id: Option<Mapping>,
    tl0picidx: Option<Mapping>,
}

/// The outgoing side, which survives every switch.
#[derive(Debug, Clone)]
struct Output {
    ssrc: u32,
    clock_rate: u32,
    seq: OutCounter,
    timestamp: OutCounter,
    picture_id: OutCounter,
    tl0picidx: OutCounter,
    last_sent_at: Option<Instant>,
}

impl Output {
    fn new(cfg: &RewriterConfig) -> Output {
        Output {
            ssrc: cfg.ssrc,
            clock_rate: cfg.clock_rate,
            seq: OutCounter::new(16, cfg.first_seq.into()),
            timestamp: OutCounter::new(32, cfg.first_timestamp.into()),
            picture_id: OutCounter::new(15, (cfg.first_picture_id & 0x7fff).into()),
            tl0picidx: OutCounter::new(8, cfg.first_tl0picidx.into()),
            last_sent_at: None,
        }
    }

    /// Splices a new source in at `pkt`, continuing every counter.
    fn splice(&self, now: Instant, pkt: &PacketInfo) -> Source {
        // At least one tick: the new source's first frame is a new frame.
        let elapsed = self
            .last_sent_at
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        let step = ticks(elapsed, self.clock_rate).max(1);
        Source {
            ssrc: pkt.ssrc,
            start_seq: i64::from(pkt.seq),
            seq: Mapping::start(16, pkt.seq.into(), self.seq.next(1)),
            timestamp: Mapping::start(32, pkt.timestamp.into(), self.timestamp.next(step)),
            picture_id: pkt.picture_id.map(|p| self.start_picture_id(p)),
            tl0picidx: pkt
                .tl0picidx
                .map(|t| Mapping::start(8, t.into(), self.tl0picidx.next(1))),
        }
    }

    fn start_picture_id(&self, p: PictureId) -> Mapping {
        Mapping::start(p.bits(), p.value().into(), self.picture_id.next(1))
    }

    /// Rewrites a packet of the current source.
    fn forward(&mut self, now: Instant, src: &mut Source, pkt: &PacketInfo) -> Decision {
        let extended = src.seq.unwrapper.peek(pkt.seq.into());
        if extended < src.start_seq {
            return Decision::Drop(DropReason::BeforeSwitch);
        }
        if src.seq.unwrapper.highest().is_some_and(|h| h - extended > MAX_REORDER) {
            return Decision::Drop(DropReason::TooOld);
        }
        let seq = self.seq.emit(src.seq.map(pkt.seq.into())) as u16;
        let timestamp = self.timestamp.emit(src.timestamp.map(pkt.timestamp.into())) as u32;

        let picture_id = pkt.picture_id.map(|p| {
            // A source that starts sending ids mid-stream (or changes their
            // width) is mapped from here on, one above the last id sent.
            let fresh = src.picture_id.as_ref().is_none_or(|m| m.unwrapper.bits() != p.bits());
            if fresh {
                src.picture_id = Some(self.start_picture_id(p));
            }
            let mapping = src.picture_id.as_mut().expect("set just above");
            p.with_value(self.picture_id.emit(mapping.map(p.value().into())) as u16)
        });
        let tl0picidx = pkt.tl0picidx.map(|t| {
            let next = self.tl0picidx.next(1);
            let mapping = src.tl0picidx.get_or_insert_with(|| Mapping::start(8, t.into(), next));
            self.tl0picidx.emit(mapping.map(t.into())) as u8
        });

        self.last_sent_at = Some(self.last_sent_at.map_or(now, |t| t.max(now)));
        Decision::Forward(Forward {
            ssrc: self.ssrc,
            seq,
            timestamp,
            picture_id,
            tl0picidx,
        })
    }

    /// The incoming (SSRC, sequence number) behind an outgoing sequence
    /// number, if it belongs to the current source.
    fn incoming_seq(&self, src: &Source, out_seq: u16) -> Option<(u32, u16)> {
        let highest = self.seq.highest?;
        let out_extended = highest + i64::from(seq_delta(wrap(highest, 16) as u16, out_seq));
        let in_extended = out_extended - src.seq.offset;
        (in_extended >= src.start_seq).then(|| (src.ssrc, wrap(in_extended, 16) as u16))
    }
}

/// Converts wall time to RTP clock ticks, saturating rather than overflowing.
fn ticks(elapsed: Duration, clock_rate: u32) -> i64 {
    let t = elapsed.as_nanos() * u128::from(clock_rate) / 1_000_000_000;
    i64::try_from(t).unwrap_or(i64::MAX / 2)
}

/// Rewriter for one video track toward one subscriber.
#[derive(Debug, Clone)]
pub struct VideoRewriter {
    out: Output,
    target: Option<Layer>,
    current: Option<(Layer, Source)>,
}

impl VideoRewriter {
    /// Starts paused: nothing is forwarded until [`Self::set_target`].
    pub fn new(cfg: RewriterConfig) -> VideoRewriter {
        VideoRewriter {
            out: Output::new(&cfg),
            target: None,
            current: None,
        }
    }

    /// The layer the allocator wants; `None` pauses at once. A different
    /// layer takes over at its next keyframe; until then the current one
    /// keeps flowing.
    pub fn set_target(&mut self, target: Option<Layer>) {
        self.target = target;
        if target.is_none() {
            self.current = None;
        }
    }

    pub fn target(&self) -> Option<Layer> {
        self.target
    }

    /// Stops forwarding the current layer at once; the target resumes on
    /// its keyframe. For a switch *down* on a collapsing link: the higher layer
    /// would go on filling a link that cannot carry it, delaying the very
    /// keyframe (and the audio) that would end the congestion.
    pub fn drop_current(&mut self) {
        self.current = None;
    }

    /// The layer being forwarded now.
    pub fn current(&self) -> Option<Layer> {
        self.current.as_ref().map(|(layer, _)| *layer)
    }

    /// The layer whose keyframe a subscriber that lost its decoder state
    /// needs: the one it is getting, or the lower one a switch down waits
    /// for (decision 0025), which completes the switch and is the smaller.
    pub fn keyframe_to_restart(&self) -> Option<Layer> {
        self.current().map(|c| self.target.map_or(c, |t| c.min(t)))
    }

    /// The layer whose keyframe a pending switch or resume waits for; the I/O
    /// layer asks the publisher for one (throttled by `keyframe.rs`).
    pub fn awaiting_keyframe(&self) -> Option<Layer> {
        self.target.filter(|&t| self.current() != Some(t))
    }

    /// Decides what to do with one incoming packet of `layer`.
    pub fn rewrite(&mut self, now: Instant, layer: Layer, pkt: &PacketInfo) -> Decision {
        let Some(target) = self.target else {
            return Decision::Drop(DropReason::Paused);
        };
        if let Some((current_layer, src)) = &mut self.current {
            if *current_layer == layer {
                if src.ssrc == pkt.ssrc {
                    return self.out.forward(now, src, pkt);
                }
                // A new SSRC on the layer being forwarded: the publisher
                // restarted that encoding, so the old source is gone and the
                // new one must start on a keyframe.
                self.current = None;
            }
        }
        // With nothing flowing (the call's start, a resume, a switch down
        // on a collapsing link), a lower layer's keyframe is taken too: a
        // picture now beats one after the target's keyframe, which may take
        // a second or more to come (Chrome starts its top layer only once
        // its uplink estimate allows). The target still takes over on its own
        // keyframe.
        let stand_in = self.current.is_none() && layer < target;
        if layer != target && !stand_in {
            return Decision::Drop(DropReason::NotSelected);
        }
        if !pkt.keyframe_start {
            return Decision::Drop(DropReason::AwaitingKeyframe);
        }
        let (_, src) = self.current.insert((layer, self.out.splice(now, pkt)));
        self.out.forward(now, src, pkt)
    }

    /// Maps an outgoing sequence number the subscriber NACKs back to the
    /// publisher's (SSRC, sequence number), when the relay's own cache missed.
    pub fn incoming_seq(&self, out_seq: u16) -> Option<(u32, u16)> {
        let (_, src) = self.current.as_ref()?;
        self.out.incoming_seq(src, out_seq)
    }
}

/// Rewriter for one audio track toward one subscriber: no layers, no
/// keyframes, but a publisher that comes back with a new SSRC is continued
/// seamlessly.
#[derive(Debug, Clone)]
pub struct AudioRewriter {
    out: Output,
    current: Option<Source>,
    /// The SSRC replaced last; its late packets must not switch back.
    previous_ssrc: Option<u32>,
}

impl AudioRewriter {
    pub fn new(cfg: RewriterConfig) -> AudioRewriter {
        AudioRewriter {
            out: Output::new(&cfg),
            current: None,
            previous_ssrc: None,
        }
    }

    pub fn rewrite(&mut self, now: Instant, pkt: &PacketInfo) -> Decision {
        match &mut self.current {
            Some(src) if src.ssrc == pkt.ssrc => self.out.forward(now, src, pkt),
            _ if self.previous_ssrc == Some(pkt.ssrc) => Decision::Drop(DropReason::BeforeSwitch),
            _ => {
                self.previous_ssrc = self.current.as_ref().map(|s| s.ssrc);
                let src = self.current.insert(self.out.splice(now, pkt));
                self.out.forward(now, src, pkt)
            }
        }
    }

    pub fn incoming_seq(&self, out_seq: u16) -> Option<(u32, u16)> {
        self.out.incoming_seq(self.current.as_ref()?, out_seq)
    }
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
