//! The few RTP header fields the relay's decisions need, and wrap-around
//! arithmetic for the counters in them.
//!
//! Why not a full RTP stack: str0m parses, decrypts and writes packets in the
//! I/O layer. The pure parts (rewriter, VP8 descriptor, tests) only need to see
//! sequence number, timestamp, SSRC, marker and where the payload starts, and
//! every byte here comes from the network, so parsing returns `Err` on
//! anything short or inconsistent instead of panicking.
//!
//! Sequence numbers (16 bits), timestamps (32 bits), VP8 picture ids (7 or 15
//! bits) and TL0PICIDX (8 bits) all wrap. [`Unwrapper`] turns any of them into
//! a signed 64-bit "extended" value so the rest of the crate can compare and
//! subtract with plain integer arithmetic.

use std::fmt;

/// Fixed part of the RTP header (RFC 3550 §5.1).
const FIXED_HEADER_LEN: usize = 12;

/// A parsed RTP header. Offsets are relative to the start of the packet.
/// There is no version field: anything but version 2 is refused by [`RtpHeader::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub csrc_count: u8,
    /// Profile id (e.g. `0xBEDE` for one-byte extensions) and the length in
    /// bytes of the extension data that follows its 4-byte header.
    pub extension: Option<Extension>,
    /// Where the payload starts: 12 + CSRCs + extension.
    pub payload_offset: usize,
    /// Payload length, excluding padding.
    pub payload_len: usize,
    /// Trailing padding bytes (including the count byte), 0 when P is clear.
    pub padding_len: usize,
}

/// The header extension block, located but not interpreted (str0m maps the
/// ids to meanings with the negotiated SDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension {
    pub profile: u16,
    /// Byte offset of the extension data (after the 4-byte block header).
    pub data_offset: usize,
    pub data_len: usize,
}

/// Why a buffer is not an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    TooShort,
    /// Version field is not 2.
    BadVersion(u8),
    /// The CSRC list runs past the end of the buffer.
    CsrcOverrun,
    /// The extension header or its data runs past the end of the buffer.
    ExtensionOverrun,
    /// P bit set but the padding count is 0 or larger than what follows the header.
    BadPadding,
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpError::TooShort => write!(f, "RTP packet shorter than the fixed header"),
            RtpError::BadVersion(v) => write!(f, "RTP version {v}, expected 2"),
            RtpError::CsrcOverrun => write!(f, "RTP CSRC list runs past the packet"),
            RtpError::ExtensionOverrun => write!(f, "RTP header extension runs past the packet"),
            RtpError::BadPadding => write!(f, "RTP padding count inconsistent with the packet"),
        }
    }
}

impl std::error::Error for RtpError {}

impl RtpHeader {
    /// Parses the header of `buf`. Never panics, whatever the bytes.
    pub fn parse(buf: &[u8]) -> Result<RtpHeader, RtpError> {
        if buf.len() < FIXED_HEADER_LEN {
            return Err(RtpError::TooShort);
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = buf[0] & 0x20 != 0;
        let has_extension = buf[0] & 0x10 != 0;
        let csrc_count = buf[0] & 0x0f;
        let marker = buf[1] & 0x80 != 0;
        let payload_type = buf[1] & 0x7f;
        let sequence_number = u16::from_be_bytes([buf[2], buf[3]]);
        let timestamp = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);

        let mut offset = FIXED_HEADER_LEN + 4 * usize::from(csrc_count);
        if offset > buf.len() {
            return Err(RtpError::CsrcOverrun);
        }

        let extension = if has_extension {
            let block = buf.get(offset..offset + 4).ok_or(RtpError::ExtensionOverrun)?;
            let profile = u16::from_be_bytes([block[0], block[1]]);
            // Length is counted in 32-bit words, excluding the block header.
            let data_len = 4 * usize::from(u16::from_be_bytes([block[2], block[3]]));
            let data_offset = offset + 4;
            if data_offset + data_len > buf.len() {
                return Err(RtpError::ExtensionOverrun);
            }
            offset = data_offset + data_len;
            Some(Extension {
                profile,
                data_offset,
                data_len,
            })
        } else {
            None
        };

        let after_header = buf.len() - offset;
        let padding_len = if has_padding {
            // The last byte counts the padding, itself included (RFC 3550 §5.1).
            let count = usize::from(buf[buf.len() - 1]);
            if count == 0 || count > after_header {
                return Err(RtpError::BadPadding);
            }
            count
        } else {
            0
        };

        Ok(RtpHeader {
            marker,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            csrc_count,
            extension,
            payload_offset: offset,
            payload_len: after_header - padding_len,
            padding_len,
        })
    }

    /// The payload of the packet this header was parsed from, or `None` if
    /// `buf` is not (at least as long as) that packet.
    pub fn payload<'a>(&self, buf: &'a [u8]) -> Option<&'a [u8]> {
        buf.get(self.payload_offset..self.payload_offset + self.payload_len)
    }

    /// Mutable view of the payload, for in-place VP8 descriptor rewriting.
    pub fn payload_mut<'a>(&self, buf: &'a mut [u8]) -> Option<&'a mut [u8]> {
        buf.get_mut(self.payload_offset..self.payload_offset + self.payload_len)
    }
}

/// Overwrites sequence number, timestamp and SSRC of a packet in place.
///
/// For paths that forward raw packets; str0m's RTP-mode writer takes these as
/// values instead, so the I/O layer may not need it.
pub fn write_seq_timestamp_ssrc(buf: &mut [u8], seq: u16, timestamp: u32, ssrc: u32) -> Result<(), RtpError> {
    let header = buf.get_mut(..FIXED_HEADER_LEN).ok_or(RtpError::TooShort)?;
    header[2..4].copy_from_slice(&seq.to_be_bytes());
    header[4..8].copy_from_slice(&timestamp.to_be_bytes());
    header[8..12].copy_from_slice(&ssrc.to_be_bytes());
    Ok(())
}

/// `true` if sequence number `a` comes after `b` (RFC 1982 serial arithmetic).
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

/// Signed shortest distance from `from` to `to`, in `-32768..=32767`.
pub fn seq_delta(from: u16, to: u16) -> i32 {
    i32::from(to.wrapping_sub(from) as i16)
}

/// Signed shortest distance between two 32-bit RTP timestamps.
pub fn timestamp_delta(from: u32, to: u32) -> i64 {
    i64::from(to.wrapping_sub(from) as i32)
}

/// Extends a wrapping `bits`-wide counter to a signed 64-bit value.
///
/// Each value is placed at the extended position closest to the highest one
/// seen so far, so reordered (older) values land below it and wrapped (newer)
/// values above it. The first value is taken as is; older values arriving
/// afterwards may therefore be negative, which callers treat as "before the
/// start".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwrapper {
    bits: u32,
    highest: Option<i64>,
}

impl Unwrapper {
    /// An unwrapper for a counter `bits` wide, `1..=32`.
    ///
    /// # Panics
    /// If `bits` is outside `1..=32`: that is a programming error, not input.
    pub fn with_bits(bits: u32) -> Unwrapper {
        assert!((1..=32).contains(&bits), "counter width {bits} out of range");
        Unwrapper { bits, highest: None }
    }

    /// For RTP sequence numbers.
    pub fn for_seq() -> Unwrapper {
        Unwrapper::with_bits(16)
    }

    /// For RTP timestamps.
    pub fn for_timestamp() -> Unwrapper {
        Unwrapper::with_bits(32)
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The highest extended value seen so far.
    pub fn highest(&self) -> Option<i64> {
        self.highest
    }

    /// Extends `value` (only its low `bits` are used) without remembering it.
    pub fn peek(&self, value: u64) -> i64 {
        let modulus = 1i64 << self.bits;
        let value = (value & (modulus as u64 - 1)) as i64;
        let Some(highest) = self.highest else {
            return value;
        };
        // Shortest signed distance from the highest value, in [-m/2, m/2).
        let half = modulus / 2;
        let diff = (value - highest.rem_euclid(modulus) + half).rem_euclid(modulus) - half;
        highest + diff
    }

    /// Extends `value` and advances the highest value if it is newer.
    pub fn unwrap(&mut self, value: u64) -> i64 {
        let extended = self.peek(value);
        if self.highest.is_none_or(|h| extended > h) {
            self.highest = Some(extended);
        }
        extended
    }
}

/// Reduces an extended counter to its `bits`-wide wire value.
pub fn wrap(extended: i64, bits: u32) -> u64 {
    (extended.rem_euclid(1i64 << bits)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{rtp_packet, Rng, RtpSpec};

    #[test]
    fn parses_plain_header() {
        let spec = RtpSpec {
            seq: 0xfffe,
            timestamp: 0xdead_beef,
            ssrc: 42,
            marker: true,
            payload_type: 96,
            ..RtpSpec::default()
        };
        let pkt = rtp_packet(&spec, &[1, 2, 3]);
        let h = RtpHeader::parse(&pkt).unwrap();
        assert_eq!(h.sequence_number, 0xfffe);
        assert_eq!(h.timestamp, 0xdead_beef);
        assert_eq!(h.ssrc, 42);
        assert!(h.marker);
        assert_eq!(h.payload_type, 96);
        assert_eq!(h.payload(&pkt), Some(&[1u8, 2, 3][..]));
        assert_eq!(h.extension, None);
        assert_eq!(h.padding_len, 0);
    }

    #[test]
    fn parses_csrcs_extension_and_padding() {
        let spec = RtpSpec {
            csrcs: vec![7, 8],
            extension_words: 2,
            padding: 3,
            ..RtpSpec::default()
        };
        let pkt = rtp_packet(&spec, &[9, 9, 9, 9, 9]);
        let h = RtpHeader::parse(&pkt).unwrap();
        assert_eq!(h.csrc_count, 2);
        let ext = h.extension.unwrap();
        assert_eq!(ext.profile, 0xBEDE);
        assert_eq!(ext.data_offset, 12 + 8 + 4);
        assert_eq!(ext.data_len, 8);
        assert_eq!(h.payload_offset, 12 + 8 + 4 + 8);
        assert_eq!(h.padding_len, 3);
        assert_eq!(h.payload(&pkt), Some(&[9u8; 5][..]));
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(RtpHeader::parse(&[0x80; 11]), Err(RtpError::TooShort));
        let mut pkt = rtp_packet(&RtpSpec::default(), &[1]);
        pkt[0] = (pkt[0] & 0x3f) | 0x40;
        assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::BadVersion(1)));

        let mut pkt = rtp_packet(&RtpSpec::default(), &[]);
        pkt[0] |= 0x03; // three CSRCs that are not there
        assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::CsrcOverrun));

        let pkt = rtp_packet(
            &RtpSpec {
                extension_words: 3,
                ..RtpSpec::default()
            },
            &[],
        );
        assert_eq!(RtpHeader::parse(&pkt[..pkt.len() - 1]), Err(RtpError::ExtensionOverrun));
        let mut pkt = rtp_packet(&RtpSpec::default(), &[]);
        pkt[0] |= 0x10; // X set, no block
        assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::ExtensionOverrun));

        let mut pkt = rtp_packet(
            &RtpSpec {
                padding: 2,
                ..RtpSpec::default()
            },
            &[1],
        );
        *pkt.last_mut().unwrap() = 0;
        assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::BadPadding));
        *pkt.last_mut().unwrap() = 4; // more than the 3 bytes after the header
        assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::BadPadding));
    }

    #[test]
    fn garbage_and_truncations_never_panic() {
        let mut rng = Rng::new(0x5eed);
        for _ in 0..20_000 {
            let len = rng.below(64) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if rng.below(2) == 0 && !buf.is_empty() {
                buf[0] = 0x80 | (buf[0] & 0x3f); // version 2 so the deeper paths run
            }
            if let Ok(h) = RtpHeader::parse(&buf) {
                assert!(h.payload_offset + h.payload_len + h.padding_len == buf.len());
                assert!(h.payload(&buf).is_some());
            }
        }
        let spec = RtpSpec {
            csrcs: vec![1],
            extension_words: 1,
            padding: 2,
            ..RtpSpec::default()
        };
        let pkt = rtp_packet(&spec, &[5; 10]);
        for cut in 0..pkt.len() {
            let _ = RtpHeader::parse(&pkt[..cut]);
        }
    }

    #[test]
    fn writes_seq_timestamp_ssrc_in_place() {
        let mut pkt = rtp_packet(&RtpSpec::default(), &[1, 2]);
        write_seq_timestamp_ssrc(&mut pkt, 65535, 7, 99).unwrap();
        let h = RtpHeader::parse(&pkt).unwrap();
        assert_eq!((h.sequence_number, h.timestamp, h.ssrc), (65535, 7, 99));
        assert_eq!(
            write_seq_timestamp_ssrc(&mut [0u8; 5], 1, 1, 1),
            Err(RtpError::TooShort)
        );
    }

    #[test]
    fn sequence_arithmetic_wraps() {
        assert!(seq_newer(0, 65535));
        assert!(!seq_newer(65535, 0));
        assert!(!seq_newer(5, 5));
        assert_eq!(seq_delta(65530, 4), 10);
        assert_eq!(seq_delta(4, 65530), -10);
        assert_eq!(timestamp_delta(u32::MAX - 9, 10), 20);
        assert_eq!(timestamp_delta(10, u32::MAX - 9), -20);
    }

    #[test]
    fn unwrapper_extends_across_wraps_and_reordering() {
        let mut u = Unwrapper::for_seq();
        assert_eq!(u.unwrap(65534), 65534);
        assert_eq!(u.unwrap(65535), 65535);
        assert_eq!(u.unwrap(0), 65536);
        assert_eq!(u.unwrap(65533), 65533); // late packet from before the wrap
        assert_eq!(u.highest(), Some(65536));
        assert_eq!(u.unwrap(2), 65538);

        let mut u = Unwrapper::for_seq();
        assert_eq!(u.unwrap(3), 3);
        assert_eq!(u.unwrap(65534), -2); // reordered from before the first one

        let mut t = Unwrapper::for_timestamp();
        assert_eq!(t.unwrap(u64::from(u32::MAX)), i64::from(u32::MAX));
        assert_eq!(t.unwrap(3000), (1i64 << 32) + 3000);

        let mut p = Unwrapper::with_bits(7);
        assert_eq!(p.unwrap(127), 127);
        assert_eq!(p.unwrap(0), 128);
        assert_eq!(wrap(128, 7), 0);
        assert_eq!(wrap(-1, 16), 65535);
    }
}
