//! The VP8 RTP payload descriptor (RFC 7741 §4.2): reading it, spotting the
//! start of a keyframe, and rewriting PictureID and TL0PICIDX in place.
//!
//! Why the relay looks inside the payload at all: a simulcast layer switch is
//! only clean on a keyframe, and the subscriber's decoder uses PictureID and
//! TL0PICIDX to detect lost frames. Each simulcast layer numbers its pictures
//! independently, so the relay renumbers them to one continuous series per
//! subscriber (see `rewrite.rs`). Rewriting keeps each field's original width
//! (7 or 15 bits), so the descriptor never changes length and the payload is
//! patched without copying.
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! |X|R|N|S|R| PID |  required
//! |I|L|T|K| RSV   |  if X
//! |M| PictureID   |  if I (M: 15-bit id, one more byte)
//! |  PictureID    |  if M
//! |   TL0PICIDX   |  if L
//! |TID|Y| KEYIDX  |  if T or K
//! ```

use std::fmt;

/// A VP8 picture id, 7 or 15 bits wide on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureId {
    Short(u8),
    Long(u16),
}

impl PictureId {
    pub fn value(self) -> u16 {
        match self {
            PictureId::Short(v) => u16::from(v),
            PictureId::Long(v) => v,
        }
    }

    /// Width on the wire, 7 or 15.
    pub fn bits(self) -> u32 {
        match self {
            PictureId::Short(_) => 7,
            PictureId::Long(_) => 15,
        }
    }

    /// The same width carrying `value`, truncated to that width.
    pub fn with_value(self, value: u16) -> PictureId {
        match self {
            PictureId::Short(_) => PictureId::Short((value & 0x7f) as u8),
            PictureId::Long(_) => PictureId::Long(value & 0x7fff),
        }
    }
}

/// A parsed VP8 payload descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Descriptor {
    /// N: no other frame references this one; it may be dropped.
    pub non_reference: bool,
    /// S: this packet starts a VP8 partition.
    pub start_of_partition: bool,
    pub partition_index: u8,
    pub picture_id: Option<PictureId>,
    pub tl0picidx: Option<u8>,
    /// Temporal layer index, present when T is set.
    pub temporal_id: Option<u8>,
    /// Y: layer sync bit, meaningful only with a temporal id.
    pub layer_sync: bool,
    pub key_index: Option<u8>,
    /// Descriptor length; the VP8 payload starts here.
    pub header_len: usize,
    /// This packet is the first of a keyframe (S=1, PID=0, and the VP8
    /// payload header's P bit is 0).
    pub keyframe_start: bool,
    picture_id_offset: usize,
    tl0picidx_offset: usize,
}

/// Why a payload is not a valid VP8 descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vp8Error {
    /// The descriptor claims more bytes than the payload has.
    Truncated,
    /// A partition start with no VP8 payload header after the descriptor.
    MissingPayloadHeader,
    /// The buffer handed to [`Vp8Descriptor::rewrite`] is shorter than the
    /// descriptor it was parsed with.
    BufferMismatch,
}

impl fmt::Display for Vp8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Vp8Error::Truncated => write!(f, "VP8 payload descriptor truncated"),
            Vp8Error::MissingPayloadHeader => write!(f, "VP8 partition start without a payload header"),
            Vp8Error::BufferMismatch => write!(f, "buffer does not hold the parsed VP8 descriptor"),
        }
    }
}

impl std::error::Error for Vp8Error {}

impl Vp8Descriptor {
    /// Parses the descriptor at the start of an RTP payload. Never panics.
    pub fn parse(payload: &[u8]) -> Result<Vp8Descriptor, Vp8Error> {
        let byte = |i: usize| payload.get(i).copied().ok_or(Vp8Error::Truncated);

        let b0 = byte(0)?;
        let extended = b0 & 0x80 != 0;
        let non_reference = b0 & 0x20 != 0;
        let start_of_partition = b0 & 0x10 != 0;
        let partition_index = b0 & 0x0f;

        let mut desc = Vp8Descriptor {
            non_reference,
            start_of_partition,
            partition_index,
            picture_id: None,
            tl0picidx: None,
            temporal_id: None,
            layer_sync: false,
            key_index: None,
            header_len: 1,
            keyframe_start: false,
            picture_id_offset: 0,
            tl0picidx_offset: 0,
        };

        let mut at = 1;
        if extended {
            let x = byte(at)?;
            at += 1;
            let (has_pid, has_tl0, has_tid, has_key) = (x & 0x80 != 0, x & 0x40 != 0, x & 0x20 != 0, x & 0x10 != 0);
            if has_pid {
                let p0 = byte(at)?;
                desc.picture_id_offset = at;
                if p0 & 0x80 != 0 {
                    let p1 = byte(at + 1)?;
                    desc.picture_id = Some(PictureId::Long(u16::from(p0 & 0x7f) << 8 | u16::from(p1)));
                    at += 2;
                } else {
                    desc.picture_id = Some(PictureId::Short(p0));
                    at += 1;
                }
            }
            if has_tl0 {
                desc.tl0picidx = Some(byte(at)?);
                desc.tl0picidx_offset = at;
                at += 1;
            }
            if has_tid || has_key {
                let t = byte(at)?;
                at += 1;
                if has_tid {
                    desc.temporal_id = Some(t >> 6);
                    desc.layer_sync = t & 0x20 != 0;
                }
                if has_key {
                    desc.key_index = Some(t & 0x1f);
                }
            }
        }
        desc.header_len = at;

        if start_of_partition && partition_index == 0 {
            // First byte of the VP8 frame tag: bit 0 is P, 0 for a keyframe (RFC 6386 §9.1).
            let tag = payload.get(at).ok_or(Vp8Error::MissingPayloadHeader)?;
            desc.keyframe_start = tag & 0x01 == 0;
        }
        Ok(desc)
    }

    /// Writes a new PictureID and TL0PICIDX into `payload`, the buffer this
    /// descriptor was parsed from. Fields absent from the original stay absent;
    /// the picture id keeps its original width (the value is truncated to it).
    pub fn rewrite(&self, payload: &mut [u8], picture_id: u16, tl0picidx: u8) -> Result<(), Vp8Error> {
        if payload.len() < self.header_len {
            return Err(Vp8Error::BufferMismatch);
        }
        match self.picture_id {
            Some(PictureId::Short(_)) => {
                payload[self.picture_id_offset] = (picture_id & 0x7f) as u8;
            }
            Some(PictureId::Long(_)) => {
                let v = picture_id & 0x7fff;
                payload[self.picture_id_offset] = 0x80 | (v >> 8) as u8;
                payload[self.picture_id_offset + 1] = v as u8;
            }
            None => {}
        }
        if self.tl0picidx.is_some() {
            payload[self.tl0picidx_offset] = tl0picidx;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{vp8_payload, Rng, Vp8Spec};

    #[test]
    fn parses_full_descriptor_with_long_picture_id() {
        let spec = Vp8Spec {
            picture_id: Some(PictureId::Long(0x1234)),
            tl0picidx: Some(200),
            temporal_id: Some(2),
            layer_sync: true,
            key_index: Some(5),
            keyframe: true,
            ..Vp8Spec::default()
        };
        let payload = vp8_payload(&spec);
        let d = Vp8Descriptor::parse(&payload).unwrap();
        assert_eq!(d.picture_id, Some(PictureId::Long(0x1234)));
        assert_eq!(d.tl0picidx, Some(200));
        assert_eq!(d.temporal_id, Some(2));
        assert!(d.layer_sync);
        assert_eq!(d.key_index, Some(5));
        assert_eq!(d.header_len, 6);
        assert!(d.start_of_partition);
        assert!(d.keyframe_start);
    }

    #[test]
    fn parses_minimal_and_short_picture_id() {
        let d = Vp8Descriptor::parse(&[0x00, 0xaa]).unwrap();
        assert_eq!(d.header_len, 1);
        assert_eq!(d.picture_id, None);
        assert!(!d.keyframe_start);

        let spec = Vp8Spec {
            picture_id: Some(PictureId::Short(0x55)),
            ..Vp8Spec::default()
        };
        let d = Vp8Descriptor::parse(&vp8_payload(&spec)).unwrap();
        assert_eq!(d.picture_id, Some(PictureId::Short(0x55)));
        assert_eq!(d.header_len, 3);
    }

    #[test]
    fn keyframe_needs_partition_zero_start_and_p_bit_clear() {
        let key = Vp8Spec {
            keyframe: true,
            ..Vp8Spec::default()
        };
        assert!(Vp8Descriptor::parse(&vp8_payload(&key)).unwrap().keyframe_start);
        let delta = Vp8Spec {
            keyframe: false,
            ..Vp8Spec::default()
        };
        assert!(!Vp8Descriptor::parse(&vp8_payload(&delta)).unwrap().keyframe_start);
        let middle = Vp8Spec {
            keyframe: true,
            start: false,
            ..Vp8Spec::default()
        };
        assert!(!Vp8Descriptor::parse(&vp8_payload(&middle)).unwrap().keyframe_start);
        let other_partition = Vp8Spec {
            keyframe: true,
            partition: 1,
            ..Vp8Spec::default()
        };
        assert!(
            !Vp8Descriptor::parse(&vp8_payload(&other_partition))
                .unwrap()
                .keyframe_start
        );
        // S=1, PID=0 and nothing after the descriptor: malformed, not a keyframe.
        assert_eq!(Vp8Descriptor::parse(&[0x10]), Err(Vp8Error::MissingPayloadHeader));
    }

    #[test]
    fn rewrite_keeps_width_and_layout() {
        for original in [PictureId::Short(3), PictureId::Long(3)] {
            let spec = Vp8Spec {
                picture_id: Some(original),
                tl0picidx: Some(9),
                temporal_id: Some(1),
                ..Vp8Spec::default()
            };
            let mut payload = vp8_payload(&spec);
            let before = Vp8Descriptor::parse(&payload).unwrap();
            before.rewrite(&mut payload, 0xffff, 77).unwrap();
            let after = Vp8Descriptor::parse(&payload).unwrap();
            assert_eq!(after.picture_id, Some(original.with_value(0xffff)));
            assert_eq!(after.tl0picidx, Some(77));
            assert_eq!(after.header_len, before.header_len);
            assert_eq!(after.temporal_id, Some(1));
            assert_eq!(&payload[after.header_len..], &vp8_payload(&spec)[before.header_len..]);
        }
        let d = Vp8Descriptor::parse(&vp8_payload(&Vp8Spec::default())).unwrap();
        let mut untouched = vp8_payload(&Vp8Spec::default());
        d.rewrite(&mut untouched, 5, 5).unwrap();
        assert_eq!(untouched, vp8_payload(&Vp8Spec::default()));
        let long = Vp8Descriptor::parse(&vp8_payload(&Vp8Spec {
            picture_id: Some(PictureId::Long(1)),
            ..Vp8Spec::default()
        }))
        .unwrap();
        assert_eq!(long.rewrite(&mut [0x80, 0x80], 1, 1), Err(Vp8Error::BufferMismatch));
    }

    #[test]
    fn garbage_and_truncations_never_panic() {
        let mut rng = Rng::new(7);
        for _ in 0..20_000 {
            let len = rng.below(10) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if let Ok(d) = Vp8Descriptor::parse(&buf) {
                assert!(d.header_len <= buf.len());
                d.rewrite(&mut buf, rng.next() as u16, rng.next() as u8).unwrap();
                // Rewriting never changes what the descriptor says about its own shape.
                let again = Vp8Descriptor::parse(&buf).unwrap();
                assert_eq!(again.header_len, d.header_len);
            }
        }
        let full = vp8_payload(&Vp8Spec {
            picture_id: Some(PictureId::Long(1000)),
            tl0picidx: Some(1),
            temporal_id: Some(0),
            keyframe: true,
            ..Vp8Spec::default()
        });
        let header_len = Vp8Descriptor::parse(&full).unwrap().header_len;
        // Every cut up to and including the descriptor itself leaves the keyframe's
        // payload header missing, so each must be refused.
        for cut in 0..=header_len {
            assert!(Vp8Descriptor::parse(&full[..cut]).is_err(), "cut at {cut} parsed");
        }
    }
}
