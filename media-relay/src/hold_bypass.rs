//! Frames str0m holds back behind a lost packet that the relay hands on
//! itself once the wait has outlasted a retransmission (decision 0034).
//!
//! Why: str0m hands a layer's frames on in order, so a lost packet holds
//! every frame after it until its retransmission comes. On a satellite
//! patient's uplink (600 ms round trip, 1 % loss) that is about one hold a
//! second of one round trip, which the subscriber's playout delay absorbs
//! (`web-client/js/call/playout.js`); but when the NACK or the resend is
//! lost too the hold lasts two round trips, 1.3 s, and the specialist's
//! picture froze for up to 1.05 s of the 1.2 s a one-minute call may
//! (`bench/bench rural --profile satellite`).
//!
//! So the relay also reads each video packet as it arrives (str0m's raw
//! packets) and keeps those str0m has not handed on yet. Once a gap has
//! been waited on longer than the publisher's round trip and a margin
//! ([`HOLD_MARGIN`]), the whole frames after it go on at once, those a
//! subscriber can still decode: Chrome sends each layer as L1T3, so past
//! a lost upper-layer frame the next base frame, and each upper layer from
//! its next sync frame, decode as before (the rule of `temporal_chain.rs`;
//! libwebrtc marks an upper frame as a sync frame every eight frames). A
//! gap that may hide a base frame is left to str0m. What str0m hands on
//! later of a stretch already handed on is dropped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use str0m::format::{Codec, CodecExtra, PayloadParams, Vp8CodecExtra};
use str0m::media::{Frequency, MediaData, MediaTime, Mid, Pt, Rid};

use crate::temporal_chain::{FrameLayers, TemporalChain, Verdict};
use crate::vp8::Vp8Descriptor;

/// How much longer than the publisher's round trip a gap is waited on: a
/// retransmission comes a round trip after the loss, plus jitter and the
/// frame interval, and the subscriber's playout delay starts at the round
/// trip and 100 ms (`playout.js`, `START_MARGIN_MS`).
pub const HOLD_MARGIN: Duration = Duration::from_millis(50);

/// At most this many packets are kept (at 1.2 Mbit/s, about 3 s): a stream
/// held longer has a worse problem than a lost packet.
const MAX_PACKETS: usize = 400;

/// One whole frame the relay hands on in str0m's stead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedFrame {
    /// Its first and last sequence numbers, extended as str0m extends them.
    pub first_seq: u64,
    pub last_seq: u64,
    /// Its RTP time, extended as str0m extends it.
    pub time: u64,
    /// When its first packet arrived.
    pub arrived: Instant,
    /// The VP8 frame: the payloads without their descriptors.
    pub data: Vec<u8>,
    /// Descriptor fields, picture ids extended as str0m extends them.
    pub vp8: Vp8CodecExtra,
    /// Nothing is missing between it and the frame handed on before it.
    pub contiguous: bool,
}

#[derive(Debug)]
struct Packet {
    arrived: Instant,
    timestamp: u32,
    marker: bool,
    /// `None` for padding (or an unreadable payload): it takes a sequence
    /// number but belongs to no frame.
    desc: Option<Vp8Descriptor>,
    payload: Vec<u8>,
}

/// One layer's packets since the last frame handed on.
#[derive(Debug, Default)]
pub struct HoldBypass {
    /// The last sequence number str0m handed on.
    handed_on: Option<u64>,
    /// The last sequence number the bypass handed on (or passed over),
    /// while it is ahead of str0m.
    passed_to: Option<u64>,
    /// Packets after both, by extended sequence number.
    packets: BTreeMap<u64, Packet>,
    /// What subscribers of this layer have been handed on.
    chain: TemporalChain,
    /// The last picture id and TL0PICIDX handed on, as str0m extends them.
    last_ids: Option<(u64, u64)>,
    /// The last RTP time handed on, as str0m extends it.
    last_time: Option<u64>,
    /// The first frame found waiting on a lost base frame, told once.
    told_blocked: Option<u64>,
}

/// What to do with a frame str0m hands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Str0mFrame {
    Forward,
    /// The bypass handed it on already, or passed over it.
    AlreadyPassed,
}

impl HoldBypass {
    /// The last sequence number handed on, by str0m or the bypass.
    fn frontier(&self) -> Option<u64> {
        match (self.handed_on, self.passed_to) {
            (Some(h), Some(p)) => Some(h.max(p)),
            (h, p) => h.or(p),
        }
    }

    /// Keeps a packet str0m has not handed on yet. `seq`: its wire number.
    pub fn on_packet(&mut self, now: Instant, seq: u16, timestamp: u32, marker: bool, payload: &[u8]) {
        let Some(frontier) = self.frontier() else {
            // Until str0m hands on a first frame, nothing to extend from.
            return;
        };
        let reference = self.packets.last_key_value().map_or(frontier, |(s, _)| *s);
        let seq = extend_near(reference, u64::from(seq), 16);
        if seq <= frontier || self.packets.contains_key(&seq) {
            return;
        }
        if self.packets.len() >= MAX_PACKETS {
            self.packets.pop_first();
        }
        let desc = Vp8Descriptor::parse(payload)
            .ok()
            .filter(|d| d.header_len < payload.len());
        let body = desc.map_or_else(Vec::new, |d| payload[d.header_len..].to_vec());
        self.packets.insert(
            seq,
            Packet {
                arrived: now,
                timestamp,
                marker,
                desc,
                payload: body,
            },
        );
    }

    /// The frames to hand on now, in order: whole frames past a gap older
    /// than `hold_limit`, and while the bypass is ahead of str0m, each
    /// whole frame after the last it handed on. Past a frame that may refer to
    /// a lost base frame, only a keyframe.
    pub fn take_ready(&mut self, now: Instant, hold_limit: Duration) -> Vec<PassedFrame> {
        let mut out = Vec::new();
        let (Some(handed_on), Some(frontier)) = (self.handed_on, self.frontier()) else {
            return out;
        };
        let mut ahead = frontier > handed_on;
        let mut expected = frontier + 1;
        // Since the frontier: when the newest gap was first seen (the
        // arrival of the first packet past it), and whether a frame is lost.
        let mut gap_seen: Option<Instant> = None;
        let mut lost = false;
        let mut frame: Option<(u64, Vec<u8>)> = None;
        let mut done = None;
        // Past a frame that may refer to a lost base frame.
        let mut blocked = false;
        for (&seq, packet) in self.packets.range(frontier + 1..) {
            if seq != expected {
                gap_seen = Some(packet.arrived);
                lost = true;
                frame = None;
            }
            expected = seq + 1;
            let Some(desc) = packet.desc else {
                // Padding between frames; inside one, the frame is broken.
                lost |= frame.take().is_some();
                continue;
            };
            let starts = desc.start_of_partition && desc.partition_index == 0;
            if starts {
                lost |= frame.is_some();
                frame = Some((seq, Vec::new()));
            }
            let Some((first, data)) = frame.as_mut() else {
                continue;
            };
            if self.packets.get(first).map(|p| p.timestamp) != Some(packet.timestamp) {
                frame = None;
                lost = true;
                continue;
            }
            data.extend_from_slice(&packet.payload);
            if !packet.marker {
                continue;
            }
            let (first, data) = frame.take().expect("matched above");
            if !lost && !ahead {
                // str0m hands this one on itself, at once.
                break;
            }
            if lost && gap_seen.is_none_or(|at| now.saturating_duration_since(at) < hold_limit) {
                break;
            }
            let head = self.packets.get(&first).expect("kept above");
            let Some(head_desc) = head.desc else { break };
            let vp8 = self.extended(&head_desc);
            if blocked && !vp8.is_keyframe {
                continue;
            }
            let mut trial = self.chain.clone();
            let verdict = trial.judge(FrameLayers::of(Some(vp8)), vp8.is_keyframe, !lost);
            if verdict == Verdict::Restart {
                // A base frame may be missing: nothing goes on before
                // str0m's retransmission, or a keyframe.
                if !blocked && self.told_blocked != Some(first) {
                    self.told_blocked = Some(first);
                    tracing::debug!(
                        temporal_id = vp8.layer_index,
                        "held frames wait on: a base frame may be lost"
                    );
                }
                blocked = true;
                lost = true;
                continue;
            }
            self.chain = trial;
            self.last_ids = vp8.picture_id.zip(vp8.tl0_picture_id);
            let time = self.last_time.map_or(u64::from(head.timestamp), |t| {
                extend_near(t, u64::from(head.timestamp), 32)
            });
            self.last_time = Some(time);
            if verdict == Verdict::Forward {
                out.push(PassedFrame {
                    first_seq: first,
                    last_seq: seq,
                    time,
                    arrived: head.arrived,
                    data,
                    vp8,
                    contiguous: !lost,
                });
            }
            done = Some(seq);
            ahead = true;
            lost = false;
            blocked = false;
            gap_seen = None;
        }
        if let Some(seq) = done {
            self.passed_to = Some(seq);
            self.packets = self.packets.split_off(&(seq + 1));
        }
        out
    }

    /// Notes a frame str0m hands on (`seq_last`: its last sequence number,
    /// `time` its RTP time, as str0m extends them), and tells whether it
    /// still goes to subscribers.
    pub fn on_str0m_frame(
        &mut self,
        seq_last: u64,
        time: u64,
        vp8: Option<Vp8CodecExtra>,
        contiguous: bool,
    ) -> Str0mFrame {
        let passed = self.passed_to.is_some_and(|p| seq_last <= p);
        if !passed {
            let keyframe = vp8.is_some_and(|v| v.is_keyframe);
            self.chain.judge(FrameLayers::of(vp8), keyframe, contiguous);
            self.last_ids = vp8.and_then(|v| v.picture_id.zip(v.tl0_picture_id)).or(self.last_ids);
            self.last_time = Some(time);
        }
        self.handed_on = Some(self.handed_on.map_or(seq_last, |h| h.max(seq_last)));
        if self.passed_to.is_some_and(|p| Some(p) <= self.handed_on) {
            self.passed_to = None;
        }
        if let Some(frontier) = self.frontier() {
            self.packets = self.packets.split_off(&(frontier + 1));
        }
        if passed {
            Str0mFrame::AlreadyPassed
        } else {
            Str0mFrame::Forward
        }
    }

    /// A descriptor's fields, its picture id and TL0PICIDX extended next to
    /// the last handed on.
    fn extended(&self, desc: &Vp8Descriptor) -> Vp8CodecExtra {
        let (last_picture, last_tl0) = self.last_ids.unzip();
        let picture_id = desc
            .picture_id
            .map(|p| last_picture.map_or(u64::from(p.value()), |l| extend_near(l, u64::from(p.value()), p.bits())));
        let tl0_picture_id = desc
            .tl0picidx
            .map(|t| last_tl0.map_or(u64::from(t), |l| extend_near(l, u64::from(t), 8)));
        Vp8CodecExtra {
            discardable: desc.non_reference,
            sync: desc.layer_sync,
            layer_index: desc.temporal_id.unwrap_or(0),
            picture_id,
            tl0_picture_id,
            is_keyframe: desc.keyframe_start,
        }
    }
}

/// One published layer's [`HoldBypass`], and what its frames are handed
/// on as: the payload type and parameters, and RID, of str0m's last frame.
#[derive(Debug, Default)]
pub struct LayerHold {
    pub hold: HoldBypass,
    source: Option<(Pt, PayloadParams, Option<Rid>)>,
}

impl LayerHold {
    /// Notes a frame str0m hands on, and tells whether it still goes to
    /// subscribers (only VP8 frames are handed on by the relay).
    pub fn on_str0m_frame(&mut self, data: &MediaData) -> Str0mFrame {
        let CodecExtra::Vp8(vp8) = data.codec_extra else {
            self.source = None;
            return Str0mFrame::Forward;
        };
        if data.params.spec().codec == Codec::Vp8 {
            self.source = Some((data.pt, data.params, data.rid));
        }
        self.hold
            .on_str0m_frame(**data.seq_range.end(), data.time.numer(), Some(vp8), data.contiguous)
    }

    /// Whether this layer's packets are worth keeping: str0m handed on VP8.
    pub fn watched(&self) -> bool {
        self.source.is_some()
    }

    /// A frame handed on by the relay, as str0m would have handed it on.
    pub fn media_data(&self, mid: Mid, frame: PassedFrame) -> Option<MediaData> {
        let (pt, params, rid) = self.source?;
        Some(MediaData {
            mid,
            pt,
            rid,
            params,
            time: MediaTime::new(frame.time, Frequency::NINETY_KHZ),
            network_time: frame.arrived,
            seq_range: frame.first_seq.into()..=frame.last_seq.into(),
            contiguous: frame.contiguous,
            data: frame.data.into(),
            ext_vals: Default::default(),
            codec_extra: CodecExtra::Vp8(frame.vp8),
            last_sender_info: None,
            audio_start_of_talk_spurt: false,
        })
    }
}

/// `wire`, a counter `bits` wide, at the extended value nearest `reference`.
fn extend_near(reference: u64, wire: u64, bits: u32) -> u64 {
    let modulus = 1i128 << bits;
    let half = modulus / 2;
    let diff = (i128::from(wire) - i128::from(reference) % modulus + half).rem_euclid(modulus) - half;
    u64::try_from(i128::from(reference) + diff).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vp8::PictureId;
    use crate::vp8_packetize::{packetize, FrameDescriptor, Temporal};

    const LIMIT: Duration = Duration::from_millis(700);

    /// One frame: its picture id, TL0PICIDX, temporal layer and sync bit.
    #[derive(Clone, Copy)]
    struct F {
        pid: u16,
        tl0: u8,
        tid: u8,
        sync: bool,
        key: bool,
    }

    fn f(pid: u16, tl0: u8, tid: u8, sync: bool) -> F {
        F {
            pid,
            tl0,
            tid,
            sync,
            key: false,
        }
    }

    /// The frame's payloads, each with its descriptor: two packets.
    fn payloads(frame: F) -> Vec<Vec<u8>> {
        // The VP8 frame tag's P bit (bit 0) is clear on a keyframe.
        let tag = if frame.key { 0x10 } else { 0x11 };
        let body: Vec<u8> = (0..200).map(|i| if i == 0 { tag } else { frame.pid as u8 }).collect();
        let desc = FrameDescriptor {
            non_reference: false,
            picture_id: Some(PictureId::Long(frame.pid)),
            temporal: Some(Temporal {
                tl0picidx: frame.tl0,
                temporal_id: frame.tid,
                layer_sync: frame.sync,
            }),
        };
        let packets = packetize(&body, &desc, 120);
        assert_eq!(packets.len(), 2);
        packets
    }

    fn extra(frame: F) -> Option<Vp8CodecExtra> {
        Some(Vp8CodecExtra {
            discardable: false,
            sync: frame.sync,
            layer_index: frame.tid,
            picture_id: Some(u64::from(frame.pid)),
            tl0_picture_id: Some(u64::from(frame.tl0)),
            is_keyframe: frame.key,
        })
    }

    /// A bypass to which str0m handed on base frame 10 (TL0PICIDX 5),
    /// ending at sequence number 100, and the frames after it, two packets
    /// each from 101 on, of which the packets in `lost` never came.
    fn held(start: Instant, frames: &[F], lost: &[u64]) -> HoldBypass {
        let mut bypass = HoldBypass::default();
        assert_eq!(
            bypass.on_str0m_frame(100, 30_000, extra(f(10, 5, 0, false)), true),
            Str0mFrame::Forward
        );
        let mut seq = 101u64;
        for (i, frame) in frames.iter().enumerate() {
            let at = start + Duration::from_millis(33 * i as u64);
            for (j, payload) in payloads(*frame).iter().enumerate() {
                if !lost.contains(&seq) {
                    bypass.on_packet(at, seq as u16, time(*frame) as u32, j == 1, payload);
                }
                seq += 1;
            }
        }
        bypass
    }

    /// 90 kHz at 30 frames a second.
    fn time(frame: F) -> u64 {
        3000 * u64::from(frame.pid)
    }

    fn pids(frames: &[PassedFrame]) -> Vec<u64> {
        frames.iter().map(|f| f.vp8.picture_id.unwrap()).collect()
    }

    /// libwebrtc's L1T3 after base frame 10: 11 (TL2, sync), 12 (TL1,
    /// sync), 13 (TL2), 14 (TL0), 15 (TL2, sync).
    fn pattern() -> Vec<F> {
        vec![
            f(11, 5, 2, true),
            f(12, 5, 1, true),
            f(13, 5, 2, false),
            f(14, 6, 0, false),
            f(15, 6, 2, true),
        ]
    }

    /// str0m hands on frames 11 to 13 of [`pattern`], all whole.
    fn hand_on_first_three(bypass: &mut HoldBypass) {
        for (frame, last) in pattern().into_iter().zip([102, 104, 106]).take(3) {
            assert_eq!(
                bypass.on_str0m_frame(last, time(frame), extra(frame), true),
                Str0mFrame::Forward
            );
        }
    }

    #[test]
    fn past_a_lost_upper_frame_the_frames_that_decode_go_on_once_the_wait_outlasts_the_limit() {
        let start = Instant::now();
        // Frame 11's second packet (102) is lost.
        let mut bypass = held(start, &pattern(), &[102]);
        // The gap was first seen when 103 (frame 12) came, 33 ms in.
        let seen = start + Duration::from_millis(33);
        assert!(bypass
            .take_ready(seen + LIMIT - Duration::from_millis(1), LIMIT)
            .is_empty());
        let passed = bypass.take_ready(seen + LIMIT, LIMIT);
        // 12 is a sync frame; 13 refers to 11, lost; 14 is the next base
        // frame; 15 a sync frame.
        assert_eq!(pids(&passed), vec![12, 14, 15]);
        assert_eq!(
            passed.iter().map(|f| f.contiguous).collect::<Vec<_>>(),
            vec![false, true, true]
        );
        assert_eq!(
            (passed[0].first_seq, passed[0].last_seq, passed[0].time),
            (103, 104, 36_000)
        );
        assert_eq!(
            passed[0].data,
            vec![0x11]
                .into_iter()
                .chain(std::iter::repeat_n(12u8, 199))
                .collect::<Vec<_>>()
        );
        assert_eq!(passed[1].vp8.tl0_picture_id, Some(6));
        assert!(
            bypass.take_ready(seen + LIMIT, LIMIT).is_empty(),
            "each frame goes on once"
        );

        // The retransmission comes: str0m hands on 11 to 15, which went on
        // or were passed over, and then 16, which goes on.
        for (frame, last) in pattern().into_iter().zip([102, 104, 106, 108, 110]) {
            assert_eq!(
                bypass.on_str0m_frame(last, time(frame), extra(frame), true),
                Str0mFrame::AlreadyPassed
            );
        }
        let next = f(16, 6, 1, true);
        assert_eq!(
            bypass.on_str0m_frame(112, time(next), extra(next), true),
            Str0mFrame::Forward
        );
    }

    #[test]
    fn while_ahead_of_str0m_each_whole_frame_goes_on_as_it_completes() {
        let start = Instant::now();
        let mut bypass = held(start, &pattern(), &[102]);
        let late = start + Duration::from_secs(2);
        assert_eq!(pids(&bypass.take_ready(late, LIMIT)), vec![12, 14, 15]);
        // Frame 16 (TL1, sync) comes while str0m still holds everything.
        let frame = payloads(f(16, 6, 1, true));
        bypass.on_packet(late, 111, 48_000, false, &frame[0]);
        assert!(bypass.take_ready(late, LIMIT).is_empty(), "half a frame does not go");
        bypass.on_packet(late, 112, 48_000, true, &frame[1]);
        let passed = bypass.take_ready(late, LIMIT);
        assert_eq!(pids(&passed), vec![16]);
        assert!(passed[0].contiguous);
    }

    #[test]
    fn a_gap_that_may_hide_a_base_frame_is_left_to_str0m() {
        let start = Instant::now();
        // Frame 14's (the base frame's) first packet, 107, is lost: 15
        // belongs to a base frame the subscriber never got.
        let mut bypass = held(start, &pattern(), &[107]);
        hand_on_first_three(&mut bypass);
        assert!(bypass.take_ready(start + Duration::from_secs(5), LIMIT).is_empty());
        // str0m hands the rest on once the retransmission comes.
        for (frame, last) in pattern().into_iter().zip([102, 104, 106, 108, 110]).skip(3) {
            assert_eq!(
                bypass.on_str0m_frame(last, time(frame), extra(frame), true),
                Str0mFrame::Forward
            );
        }
    }

    #[test]
    fn without_a_gap_str0m_hands_each_frame_on_itself() {
        let start = Instant::now();
        let mut bypass = held(start, &pattern(), &[]);
        assert!(bypass.take_ready(start + Duration::from_secs(5), LIMIT).is_empty());
    }

    #[test]
    fn a_keyframe_past_any_gap_goes_on() {
        let start = Instant::now();
        let mut frames = pattern();
        frames.push(F {
            pid: 16,
            tl0: 7,
            tid: 0,
            sync: true,
            key: true,
        });
        // The base frame 14 is lost whole; str0m hands on 11 to 13.
        let mut bypass = held(start, &frames, &[107, 108]);
        hand_on_first_three(&mut bypass);
        let passed = bypass.take_ready(start + Duration::from_secs(2), LIMIT);
        assert_eq!(pids(&passed), vec![16]);
        assert!(passed[0].vp8.is_keyframe);
        assert!(!passed[0].contiguous);
    }

    #[test]
    fn picture_ids_are_extended_across_the_wire_wrap() {
        assert_eq!(extend_near(0x7fff, 0, 15), 0x8000);
        assert_eq!(extend_near(0x8000, 0x7fff, 15), 0x7fff);
        assert_eq!(extend_near(300, 45, 8), 301);
        assert_eq!(extend_near(65_535, 2, 16), 65_538);
        assert_eq!(extend_near(3, 65_535, 16), 0);
    }
}
