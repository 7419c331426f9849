//! Cutting a forwarded VP8 frame into RTP payloads, each led by a payload
//! descriptor that carries the frame's picture id and temporal layer.
//!
//! Why the relay packetizes VP8 itself (decision 0019): str0m's frame-level
//! packetizer writes a bare descriptor, with no picture id, TL0PICIDX or
//! temporal layer index. A receiver then takes every frame to depend on the
//! one before it, so one lost packet holds every later frame until its
//! retransmission arrives, a round trip. With the fields kept, a browser
//! decodes the base temporal layer past a lost upper-layer frame (Chrome
//! encodes each simulcast layer with temporal layers): only the frames of
//! that upper layer wait for the repair, so the picture goes on at the
//! base layer's rate instead of freezing.

use std::time::Instant;

use str0m::format::{CodecExtra, Vp8CodecExtra};
use str0m::media::Pt;
use str0m::rtp::{RtpWrite, SeqNo, StreamTx};

use crate::vp8::PictureId;

/// Bytes of payload per packet, descriptor included, as str0m's own
/// packetizer allows: its datagram target (1150) less the SRTP tag (16),
/// rounded down to the SRTP block (16). The RTP header comes on top, there
/// as here.
pub const PACKET_BUDGET: usize = 1120;

/// The temporal-layer fields of a frame, written together (RFC 7741 §4.2:
/// TL0PICIDX needs the T bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Temporal {
    pub tl0picidx: u8,
    /// 0-3; the wire has two bits.
    pub temporal_id: u8,
    /// Y: the frame depends only on the base layer.
    pub layer_sync: bool,
}

/// What the descriptor in front of each packet of one frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameDescriptor {
    /// N: no other frame references this one.
    pub non_reference: bool,
    /// Written in its original width.
    pub picture_id: Option<PictureId>,
    pub temporal: Option<Temporal>,
}

impl FrameDescriptor {
    /// Bytes the descriptor takes in front of each packet.
    fn len(&self) -> usize {
        let extended = self.picture_id.is_some() || self.temporal.is_some();
        let picture_id = match self.picture_id {
            Some(PictureId::Short(_)) => 1,
            Some(PictureId::Long(_)) => 2,
            None => 0,
        };
        let temporal = if self.temporal.is_some() { 2 } else { 0 };
        1 + usize::from(extended) + picture_id + temporal
    }

    fn write(&self, start_of_frame: bool, out: &mut Vec<u8>) {
        let extended = self.picture_id.is_some() || self.temporal.is_some();
        let mut b0 = 0u8;
        if extended {
            b0 |= 0x80;
        }
        if self.non_reference {
            b0 |= 0x20;
        }
        if start_of_frame {
            // S with partition index 0: the frame (and its first partition)
            // starts here.
            b0 |= 0x10;
        }
        out.push(b0);
        if !extended {
            return;
        }
        let mut x = 0u8;
        if self.picture_id.is_some() {
            x |= 0x80;
        }
        if self.temporal.is_some() {
            x |= 0x40 | 0x20;
        }
        out.push(x);
        match self.picture_id {
            Some(PictureId::Short(v)) => out.push(v & 0x7f),
            Some(PictureId::Long(v)) => {
                out.push(0x80 | ((v >> 8) & 0x7f) as u8);
                out.push(v as u8);
            }
            None => {}
        }
        if let Some(t) = self.temporal {
            out.push(t.tl0picidx);
            let sync = if t.layer_sync { 0x20 } else { 0 };
            out.push((t.temporal_id & 0x03) << 6 | sync);
        }
    }
}

/// The VP8 descriptor fields str0m read from a received frame, where it
/// is VP8: what the relay (and the test peer) copy onto what they send.
pub fn vp8_extra(extra: &CodecExtra) -> Option<Vp8CodecExtra> {
    match extra {
        CodecExtra::Vp8(e) => Some(*e),
        _ => None,
    }
}

/// Cuts `frame` into payloads of at most `budget` bytes, descriptor
/// included, as even in size as the budget allows (a small last packet
/// costs its headers for little). Nothing for an empty frame or a budget too
/// small to carry any of it.
pub fn packetize(frame: &[u8], desc: &FrameDescriptor, budget: usize) -> Vec<Vec<u8>> {
    let header = desc.len();
    let room = budget.saturating_sub(header);
    if frame.is_empty() || room == 0 {
        return Vec::new();
    }
    let count = frame.len().div_ceil(room);
    let size = frame.len().div_ceil(count);
    frame
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let mut out = Vec::with_capacity(header + chunk.len());
            desc.write(i == 0, &mut out);
            out.extend_from_slice(chunk);
            out
        })
        .collect()
}

/// Numbers the packets of one outgoing VP8 stream. The relay writes every
/// packet of the stream itself, so the numbering is its own and has no gaps
/// (frames it does not forward leave none; the picture id tells the
/// receiver about those).
#[derive(Debug)]
pub struct Vp8Sender {
    next_seq: u64,
    #[cfg(feature = "test-peer")]
    lose_tail: bool,
}

impl Vp8Sender {
    pub fn new(first_seq: u16) -> Vp8Sender {
        Vp8Sender {
            next_seq: u64::from(first_seq),
            #[cfg(feature = "test-peer")]
            lose_tail: false,
        }
    }

    /// Writes one frame to `stream`, its packets marked for retransmission
    /// on NACK and the last one with the marker bit. False when there was
    /// nothing to write.
    pub fn write(
        &mut self,
        stream: &mut StreamTx,
        pt: Pt,
        wallclock: Instant,
        timestamp: u32,
        frame: &[u8],
        desc: &FrameDescriptor,
    ) -> bool {
        let packets = packetize(frame, desc, PACKET_BUDGET);
        let last = packets.len().saturating_sub(1);
        for (i, payload) in packets.iter().enumerate() {
            let seq = SeqNo::from(self.next_seq);
            self.next_seq += 1;
            #[cfg(feature = "test-peer")]
            if i == last && std::mem::take(&mut self.lose_tail) {
                continue;
            }
            stream.write_rtp(
                RtpWrite::new(pt, seq, timestamp, wallclock, payload.as_slice())
                    .marker(i == last)
                    .nackable(true),
            );
        }
        !packets.is_empty()
    }

    /// The next frame's last packet is numbered but never written: its tail
    /// lost on the way for good, NACKs for it unanswered (the test peer's).
    #[cfg(feature = "test-peer")]
    pub fn lose_tail_of_next_frame(&mut self) {
        self.lose_tail = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vp8::Vp8Descriptor;

    fn keyframe(len: usize) -> Vec<u8> {
        // First byte of a VP8 frame tag: P bit (bit 0) clear for a keyframe.
        (0..len).map(|i| if i == 0 { 0x10 } else { (i % 251) as u8 }).collect()
    }

    fn full() -> FrameDescriptor {
        FrameDescriptor {
            non_reference: true,
            picture_id: Some(PictureId::Long(0x1234)),
            temporal: Some(Temporal {
                tl0picidx: 200,
                temporal_id: 1,
                layer_sync: true,
            }),
        }
    }

    #[test]
    fn each_packet_carries_the_frames_fields_and_only_the_first_starts_it() {
        let frame = keyframe(3000);
        let packets = packetize(&frame, &full(), 1120);
        assert_eq!(packets.len(), 3);
        let mut joined = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            assert!(p.len() <= 1120);
            let d = Vp8Descriptor::parse(p).unwrap();
            assert_eq!(d.start_of_partition, i == 0);
            assert_eq!(d.partition_index, 0);
            assert_eq!(d.keyframe_start, i == 0);
            assert!(d.non_reference);
            assert_eq!(d.picture_id, Some(PictureId::Long(0x1234)));
            assert_eq!(d.tl0picidx, Some(200));
            assert_eq!(d.temporal_id, Some(1));
            assert!(d.layer_sync);
            assert_eq!(d.header_len, 6);
            joined.extend_from_slice(&p[d.header_len..]);
        }
        assert_eq!(joined, frame);
        // Even sizes: 3000 bytes in three packets of 1000, not 1114 + 1114 + 772.
        assert!(packets.iter().all(|p| p.len() == 1006));
    }

    #[test]
    fn fields_a_source_did_not_send_are_not_written() {
        let frame = keyframe(500);
        let bare = packetize(&frame, &FrameDescriptor::default(), 1120);
        assert_eq!(bare.len(), 1);
        assert_eq!(bare[0][0], 0x10);
        assert_eq!(&bare[0][1..], &frame[..]);

        let short = FrameDescriptor {
            picture_id: Some(PictureId::Short(0x55)),
            ..FrameDescriptor::default()
        };
        let d = Vp8Descriptor::parse(&packetize(&frame, &short, 1120)[0]).unwrap();
        assert_eq!(d.picture_id, Some(PictureId::Short(0x55)));
        assert_eq!((d.tl0picidx, d.temporal_id, d.header_len), (None, None, 3));
    }

    #[test]
    fn a_frame_that_fits_the_budget_exactly_is_one_packet_and_nothing_is_lost_around_it() {
        let desc = full();
        for len in [1, 1113, 1114, 1115, 2228, 2229] {
            let frame = keyframe(len);
            let packets = packetize(&frame, &desc, 1120);
            assert_eq!(packets.len(), len.div_ceil(1114), "len {len}");
            let total: usize = packets.iter().map(|p| p.len() - 6).sum();
            assert_eq!(total, len);
        }
        assert!(packetize(&[], &desc, 1120).is_empty());
        assert!(packetize(&keyframe(10), &desc, 6).is_empty());
        assert!(packetize(&keyframe(10), &desc, 0).is_empty());
    }
}
