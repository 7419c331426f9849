//! Test helpers: synthetic RTP/VP8 packets, a simulcast publisher on a
//! simulated clock, and a small deterministic pseudo-random generator.
//!
//! Why here and not in each module: the parsers, the rewriter and the
//! allocator are tested on the same kind of packets a browser sends, built
//! byte by byte, so a test reads like "publisher sends a keyframe on layer 2"
//! rather than like a hex dump. No `rand` crate: a fixed seed gives the same
//! garbage on every run, so a failure can be replayed.

use std::time::{Duration, Instant};

use crate::layer::{Layer, MAX_LAYERS};
use crate::rewrite::PacketInfo;
use crate::rtp::RtpHeader;
use crate::vp8::{PictureId, Vp8Descriptor};

/// xorshift64*: tiny, deterministic, good enough for fuzz-style inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n`; `n` must be non-zero.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What to put in a synthetic RTP header.
#[derive(Debug, Clone)]
pub struct RtpSpec {
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub marker: bool,
    pub payload_type: u8,
    pub csrcs: Vec<u32>,
    /// Extension data length in 32-bit words; 0 means no extension.
    pub extension_words: u16,
    /// Padding bytes to append (count byte included); 0 means none.
    pub padding: u8,
}

impl Default for RtpSpec {
    fn default() -> RtpSpec {
        RtpSpec {
            seq: 1,
            timestamp: 1000,
            ssrc: 0x1111_1111,
            marker: false,
            payload_type: 96,
            csrcs: Vec::new(),
            extension_words: 0,
            padding: 0,
        }
    }
}

pub fn rtp_packet(spec: &RtpSpec, payload: &[u8]) -> Vec<u8> {
    let mut b0 = 0x80 | spec.csrcs.len() as u8;
    if spec.extension_words > 0 {
        b0 |= 0x10;
    }
    if spec.padding > 0 {
        b0 |= 0x20;
    }
    let mut out = vec![b0, (u8::from(spec.marker) << 7) | spec.payload_type];
    out.extend_from_slice(&spec.seq.to_be_bytes());
    out.extend_from_slice(&spec.timestamp.to_be_bytes());
    out.extend_from_slice(&spec.ssrc.to_be_bytes());
    for csrc in &spec.csrcs {
        out.extend_from_slice(&csrc.to_be_bytes());
    }
    if spec.extension_words > 0 {
        out.extend_from_slice(&0xBEDEu16.to_be_bytes());
        out.extend_from_slice(&spec.extension_words.to_be_bytes());
        out.extend(std::iter::repeat_n(0u8, 4 * usize::from(spec.extension_words)));
    }
    out.extend_from_slice(payload);
    if spec.padding > 0 {
        out.extend(std::iter::repeat_n(0u8, usize::from(spec.padding) - 1));
        out.push(spec.padding);
    }
    out
}

/// What to put in a synthetic VP8 payload (descriptor plus a few frame bytes).
#[derive(Debug, Clone)]
pub struct Vp8Spec {
    pub picture_id: Option<PictureId>,
    pub tl0picidx: Option<u8>,
    pub temporal_id: Option<u8>,
    pub layer_sync: bool,
    pub key_index: Option<u8>,
    pub keyframe: bool,
    pub start: bool,
    pub partition: u8,
}

impl Default for Vp8Spec {
    fn default() -> Vp8Spec {
        Vp8Spec {
            picture_id: None,
            tl0picidx: None,
            temporal_id: None,
            layer_sync: false,
            key_index: None,
            keyframe: false,
            start: true,
            partition: 0,
        }
    }
}

pub fn vp8_payload(spec: &Vp8Spec) -> Vec<u8> {
    let extended =
        spec.picture_id.is_some() || spec.tl0picidx.is_some() || spec.temporal_id.is_some() || spec.key_index.is_some();
    let mut b0 = spec.partition & 0x0f;
    if spec.start {
        b0 |= 0x10;
    }
    if extended {
        b0 |= 0x80;
    }
    let mut out = vec![b0];
    if extended {
        let mut x = 0u8;
        x |= u8::from(spec.picture_id.is_some()) << 7;
        x |= u8::from(spec.tl0picidx.is_some()) << 6;
        x |= u8::from(spec.temporal_id.is_some()) << 5;
        x |= u8::from(spec.key_index.is_some()) << 4;
        out.push(x);
        match spec.picture_id {
            Some(PictureId::Short(v)) => out.push(v & 0x7f),
            Some(PictureId::Long(v)) => out.extend_from_slice(&(0x8000 | (v & 0x7fff)).to_be_bytes()),
            None => {}
        }
        if let Some(t) = spec.tl0picidx {
            out.push(t);
        }
        if spec.temporal_id.is_some() || spec.key_index.is_some() {
            let tid = spec.temporal_id.unwrap_or(0) << 6;
            out.push(tid | (u8::from(spec.layer_sync) << 5) | spec.key_index.unwrap_or(0) & 0x1f);
        }
    }
    // Frame tag: bit 0 is P (0 = keyframe); a keyframe also carries the start code.
    out.push(if spec.keyframe { 0x10 } else { 0x11 });
    out.extend_from_slice(&[0x02, 0x00]);
    if spec.keyframe {
        out.extend_from_slice(&[0x9d, 0x01, 0x2a]);
    }
    out
}

/// A clock that only moves when the test says so.
pub struct SimClock {
    pub now: Instant,
}

impl SimClock {
    pub fn new() -> SimClock {
        SimClock { now: Instant::now() }
    }

    pub fn advance(&mut self, by: Duration) -> Instant {
        self.now += by;
        self.now
    }
}

/// One simulcast encoding of a simulated publisher.
pub struct LayerSource {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    pub picture_id: u16,
    pub tl0picidx: u8,
}

/// A publisher sending three VP8 simulcast layers at 30 frames/s, each layer
/// with its own SSRC, sequence space, timestamp base and picture ids.
pub struct SimulcastPublisher {
    pub layers: Vec<LayerSource>,
}

impl SimulcastPublisher {
    /// Starting points chosen so wraps happen early in a test.
    pub fn new() -> SimulcastPublisher {
        let starts = [
            (0xA0, 65500, u32::MAX - 9000, 32760, 250),
            (0xB0, 100, 5_000_000, 7, 3),
            (0xC0, 30000, 77, 20000, 128),
        ];
        let layers = starts
            .iter()
            .map(|&(ssrc, seq, timestamp, picture_id, tl0picidx)| LayerSource {
                ssrc,
                seq,
                timestamp,
                picture_id,
                tl0picidx,
            })
            .collect();
        SimulcastPublisher { layers }
    }

    /// The packets of one frame on `layer`, as (layer, raw bytes); advances that
    /// layer's counters as a real encoder would.
    pub fn frame(&mut self, layer: Layer, keyframe: bool, packets: usize) -> Vec<(Layer, Vec<u8>)> {
        let src = &mut self.layers[layer.index()];
        let mut out = Vec::with_capacity(packets);
        for i in 0..packets {
            let vp8 = Vp8Spec {
                picture_id: Some(PictureId::Long(src.picture_id)),
                tl0picidx: Some(src.tl0picidx),
                temporal_id: Some(0),
                keyframe: keyframe && i == 0,
                start: i == 0,
                ..Vp8Spec::default()
            };
            let rtp = RtpSpec {
                seq: src.seq,
                timestamp: src.timestamp,
                ssrc: src.ssrc,
                marker: i + 1 == packets,
                ..RtpSpec::default()
            };
            out.push((layer, rtp_packet(&rtp, &vp8_payload(&vp8))));
            src.seq = src.seq.wrapping_add(1);
        }
        src.timestamp = src.timestamp.wrapping_add(3000);
        src.picture_id = (src.picture_id + 1) & 0x7fff;
        src.tl0picidx = src.tl0picidx.wrapping_add(1);
        out
    }

    /// One frame on every layer; `keyframes[i]` says whether layer i sends a keyframe.
    pub fn tick(&mut self, keyframes: [bool; MAX_LAYERS]) -> Vec<(Layer, Vec<u8>)> {
        Layer::ALL
            .iter()
            .flat_map(|&l| self.frame(l, keyframes[l.index()], 2 + l.index()))
            .collect()
    }
}

/// Parses raw bytes the way the I/O layer will, for feeding the rewriter.
pub fn packet_info(bytes: &[u8]) -> PacketInfo {
    let header = RtpHeader::parse(bytes).expect("test packet parses");
    let payload = header.payload(bytes).expect("payload in bounds");
    let vp8 = Vp8Descriptor::parse(payload).ok();
    PacketInfo::from_parts(&header, vp8.as_ref())
}
