//! The synthetic participant on an independent WebRTC stack (webrtc-rs
//! `webrtc` 0.21 on its sans-I/O `rtc` core), so relay tests are interop
//! tests: different ICE, DTLS, SRTP, RTP and SDP code on each side.
//!
//! It publishes real Opus audio (a 440 Hz tone, encoded with libopus at
//! 24 kbit/s, 20 ms frames; wrapped in RED, RFC 2198, with the previous frame
//! as redundancy when [`BotOptions::red`] is set and the relay kept RED) and
//! VP8-shaped video: the same synthetic frames as the str0m test peer
//! ([`payload`]), so any receiver can tell sender, layer, frame and keyframe
//! apart and check them byte for byte. Video is one encoding, or with
//! [`BotOptions::simulcast`] three (RIDs `q`, `h`, `f`, lowest first, at the
//! str0m peer's frame sizes). The bot packetizes VP8 itself (RFC 7741
//! descriptor with a 15-bit PictureID, marker on a frame's last packet) and
//! stamps every video packet with the `mid` and `rtp-stream-id` header
//! extensions: webrtc-rs adds neither to RTP written to a track, and the
//! relay needs the RID to tell simulcast layers apart. A keyframe goes out
//! every 90 frames per layer, and on the next frame of a layer whose SSRC a
//! PLI or FIR named. webrtc-rs hands keyframe requests to the application
//! only when an interceptor marks them ([`KeyframeRequestsToApp`]), and then
//! routes them by track id, remote tracks first: the relay answers our
//! sendrecv m-lines with our own msid, so once anything arrives there the
//! requests come out of a *remote* track named like ours. The bot takes them
//! from both ([`Sent::keyframe_requests_via_remote_track`]).
//!
//! It reports what it receives per publishing participant (the stream id)
//! and kind: RTP packets, sequence numbers skipped (and recovered later by
//! retransmission), and for video every frame start with its layer and
//! whether it is a keyframe, read from the payload (the relay forwards one
//! layer at a time on one SSRC), in sequence order; for audio whether
//! packets came as RED or plain Opus, and the level of the decoded audio
//! (the RED primary block when RED).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use media_relay::test_peer::{parse_payload, payload, MediaKind};
use rtc::interceptor::{Attribute, Interceptor, Packet as ChainPacket, Registry, Slot, StreamInfo, TaggedPacket};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use tokio::sync::watch;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::media_stream::Track;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
};
use webrtc::rtp_transceiver::RtpSender;

/// Safety net for a wait; a healthy test finishes far sooner.
pub const PATIENCE: Duration = Duration::from_secs(20);

const AUDIO_EVERY: Duration = Duration::from_millis(20);
const VIDEO_EVERY: Duration = Duration::from_millis(33);
/// [`VIDEO_EVERY`] on the 90 kHz clock.
const VIDEO_TICKS: u32 = 2_970;
const SAMPLE_RATE: u32 = 48_000;
const FRAME_SAMPLES: usize = 960;
/// A voice bitrate: with RTP overhead about 45 kbit/s on the wire.
const OPUS_BITRATE: i32 = 24_000;
/// What `register_default_codecs` gives Opus; RED's fmtp names it.
const OPUS_PT: u8 = 111;
/// RED for Opus, as browsers and str0m number it.
const RED_PT: u8 = 63;
const MIME_TYPE_RED: &str = "audio/red";

/// Simulcast RIDs, lowest layer first, as the relay and the web client expect.
pub const RIDS: [&str; 3] = ["q", "h", "f"];
/// Frame size per simulcast layer at 30 fps (about 150, 500 and 1200
/// kbit/s), the str0m test peer's.
const LAYER_FRAME_BYTES: [usize; 3] = [600, 2_000, 5_000];
/// Frame size of the one encoding without simulcast.
const SINGLE_FRAME_BYTES: usize = 600;
const KEYFRAME_EVERY: u32 = 90;
/// VP8 bytes per RTP packet, leaving room for headers under a 1200-byte MTU.
const MAX_VP8_PAYLOAD: usize = 1_100;

const SDES_MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
const SDES_RTP_STREAM_ID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

/// How a bot publishes and what it negotiates.
#[derive(Debug, Clone, Copy, Default)]
pub struct BotOptions {
    /// Send video as three simulcast encodings ([`RIDS`]).
    pub simulcast: bool,
    /// Offer and accept RED for Opus (PT 63, `111/111`), and send RED when
    /// the relay kept it.
    pub red: bool,
}

/// The start of one received video frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFrame {
    /// The simulcast layer, read from the payload ([`payload`]).
    pub layer: u8,
    pub keyframe: bool,
    /// The sender's frame counter, from the payload.
    pub counter: u32,
    /// The RTP timestamp, extended past wrap-around.
    pub rtp_time: u64,
    /// First and last RTP sequence numbers (extended) seen for the frame.
    pub first_seq: u64,
    pub last_seq: u64,
}

/// A change of layer in what a subscriber receives (the first frame counts
/// as one, from `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    /// Index into [`Stream::frames`].
    pub at: usize,
    pub from: Option<u8>,
    pub to: u8,
    pub keyframe: bool,
    /// Sequence numbers are missing right before this frame: the link lost
    /// something there (maybe the keyframe the relay switched on).
    pub after_loss: bool,
}

/// A frame being reassembled from its packets, to check it byte for byte.
#[derive(Debug, Clone, Default)]
struct Assembly {
    rtp_time: u64,
    /// Extended sequence number → (S bit with partition 0, marker, VP8 bytes).
    packets: BTreeMap<u64, (bool, bool, Vec<u8>)>,
    done: bool,
}

/// What arrived from one publisher, per kind.
#[derive(Clone, Default)]
pub struct Stream {
    pub packets: u64,
    /// Sequence numbers skipped and not (yet) filled by a later packet.
    pub gaps: u64,
    /// Sequence numbers that arrived after a later one (retransmissions).
    pub recovered: u64,
    pub duplicates: u64,
    highest_seq: Option<u64>,
    missing: BTreeSet<u64>,
    seen: BTreeSet<u64>,
    /// Video: whether the earliest packet (by sequence number) began a VP8
    /// keyframe.
    pub first_is_keyframe: Option<bool>,
    first_video_seq: Option<u64>,
    /// Video: the earliest packets by sequence number (seq, RTP timestamp,
    /// frame start, first payload byte, length), for a failure's message.
    pub first_packets: BTreeMap<u64, (u32, bool, u8, usize)>,
    /// Video: every frame start, in sequence-number order.
    pub frames: Vec<VideoFrame>,
    /// Video frames that arrived before an earlier one (by sequence number).
    pub late_frames: u64,
    /// Video frames reassembled whole and exactly as some sender made them.
    pub complete_frames: u64,
    /// Whole frames (or RED packets) that do not parse: altered on the way.
    pub corrupt: u64,
    highest_time: Option<u64>,
    assembling: VecDeque<Assembly>,
    /// Audio: packets with the payload type negotiated for RED, and plain.
    pub red_packets: u64,
    pub plain_packets: u64,
    /// Audio: redundant blocks seen in RED packets.
    pub redundant_blocks: u64,
    /// Audio: redundant blocks one frame back that are (or are not) exactly
    /// the previous packet's primary.
    pub redundancy_matches: u64,
    pub redundancy_mismatches: u64,
    previous_primary: Option<(u64, Vec<u8>)>,
    /// Audio: RMS of the decoded samples (0–1), over the last second or so.
    pub level: f64,
    pub decoded: u64,
}

static NO_STREAM: LazyLock<Stream> = LazyLock::new(Stream::default);

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("packets", &self.packets)
            .field("gaps", &self.gaps)
            .field("recovered", &self.recovered)
            .field("duplicates", &self.duplicates)
            .field("first_is_keyframe", &self.first_is_keyframe)
            .field("first_packets", &self.first_packets)
            .field("frames", &self.frames.len())
            .field("layers", &self.layers())
            .field("late_frames", &self.late_frames)
            .field("complete_frames", &self.complete_frames)
            .field("corrupt", &self.corrupt)
            .field("red_packets", &self.red_packets)
            .field("plain_packets", &self.plain_packets)
            .field("redundant_blocks", &self.redundant_blocks)
            .field("redundancy_matches", &self.redundancy_matches)
            .field("redundancy_mismatches", &self.redundancy_mismatches)
            .field("level", &self.level)
            .field("decoded", &self.decoded)
            .finish()
    }
}

impl Stream {
    /// The layer of the latest frame (by sequence number).
    pub fn latest_layer(&self) -> Option<u8> {
        self.frames.last().map(|f| f.layer)
    }

    /// The layers received, one entry per run of frames on the same layer.
    pub fn layers(&self) -> Vec<u8> {
        self.switches().iter().map(|s| s.to).collect()
    }

    pub fn switches(&self) -> Vec<Switch> {
        let mut out = Vec::new();
        for (i, f) in self.frames.iter().enumerate() {
            let prev = i.checked_sub(1).map(|p| self.frames[p]);
            if prev.is_none_or(|p| p.layer != f.layer) {
                out.push(Switch {
                    at: i,
                    from: prev.map(|p| p.layer),
                    to: f.layer,
                    keyframe: f.keyframe,
                    after_loss: prev.is_some_and(|p| f.first_seq != p.last_seq + 1),
                });
            }
        }
        out
    }

    /// Every switch of layer (and the first frame) starts on a keyframe, or
    /// right after packets the link lost; RTP timestamps only increase.
    /// Returns the layers received, in order.
    pub fn check_video(&self) -> Result<Vec<u8>, String> {
        let near = |i: usize| &self.frames[i.saturating_sub(3)..(i + 3).min(self.frames.len())];
        for s in self.switches() {
            if !s.keyframe && !s.after_loss {
                return Err(format!(
                    "frame {} starts layer {} without a keyframe: {:?}",
                    s.at,
                    s.to,
                    near(s.at)
                ));
            }
        }
        for (i, w) in self.frames.windows(2).enumerate() {
            if w[1].rtp_time <= w[0].rtp_time {
                return Err(format!("timestamp went back at frame {}: {:?}", i + 1, near(i + 1)));
            }
        }
        Ok(self.layers())
    }

    /// Sequence bookkeeping; the extended sequence number, or `None` for a
    /// packet already seen.
    fn on_packet(&mut self, seq: u16) -> Option<u64> {
        let ext = extend(self.highest_seq, u64::from(seq), 16);
        if !self.seen.insert(ext) {
            self.duplicates += 1;
            return None;
        }
        if self.seen.len() > 4096 {
            self.seen.pop_first();
        }
        self.packets += 1;
        match self.highest_seq {
            Some(h) if ext > h => {
                let skipped = ext - h - 1;
                self.gaps += skipped;
                if skipped < 1000 {
                    self.missing.extend(h + 1..ext);
                }
                while self.missing.len() > 4096 {
                    self.missing.pop_first();
                }
                self.highest_seq = Some(ext);
            }
            Some(_) => {
                if self.missing.remove(&ext) {
                    self.gaps -= 1;
                    self.recovered += 1;
                }
            }
            None => self.highest_seq = Some(ext),
        }
        Some(ext)
    }

    fn on_video(&mut self, seq: u64, timestamp: u32, marker: bool, rtp_payload: &[u8]) {
        let Some((at, start)) = vp8_descriptor(rtp_payload) else {
            // Padding or not VP8: nothing to record.
            return;
        };
        let data = &rtp_payload[at..];
        if self.first_packets.len() < 6 || self.first_packets.last_key_value().is_some_and(|(&s, _)| seq < s) {
            let first = data.first().copied().unwrap_or(0);
            self.first_packets.insert(seq, (timestamp, start, first, data.len()));
            if self.first_packets.len() > 6 {
                self.first_packets.pop_last();
            }
        }
        // By sequence number, not arrival: on a loaded machine the keyframe's
        // first packet may come in after its second (retransmitted), and the
        // stream still began with it.
        if self.first_video_seq.is_none_or(|first| seq < first) {
            self.first_video_seq = Some(seq);
            self.first_is_keyframe = Some(start && data.first().is_some_and(|b| b & 0x01 == 0));
        }
        let time = extend(self.highest_time, u64::from(timestamp), 32);
        self.highest_time = Some(self.highest_time.map_or(time, |t| t.max(time)));

        if start {
            let (keyframe, layer, counter) = frame_header(data);
            let at = self.frames.partition_point(|f| f.first_seq < seq);
            if at < self.frames.len() {
                self.late_frames += 1;
            }
            self.frames.insert(
                at,
                VideoFrame {
                    layer,
                    keyframe,
                    counter,
                    rtp_time: time,
                    first_seq: seq,
                    last_seq: seq,
                },
            );
        }

        let i = match self.assembling.iter().position(|a| a.rtp_time == time) {
            Some(i) => i,
            None => {
                self.assembling.push_back(Assembly {
                    rtp_time: time,
                    ..Assembly::default()
                });
                if self.assembling.len() > 32 {
                    self.assembling.pop_front();
                }
                self.assembling.len() - 1
            }
        };
        let assembly = &mut self.assembling[i];
        let last_seq = assembly.packets.keys().next_back().map_or(seq, |&s| s.max(seq));
        if let Some(f) = self.frames.iter_mut().rev().take(32).find(|f| f.rtp_time == time) {
            f.last_seq = f.last_seq.max(last_seq);
        }
        if assembly.done {
            return;
        }
        assembly.packets.insert(seq, (start, marker, data.to_vec()));
        let (Some((&first, &(first_starts, _, _))), Some((&last, &(_, last_ends, _)))) =
            (assembly.packets.first_key_value(), assembly.packets.last_key_value())
        else {
            return;
        };
        if first_starts && last_ends && last - first + 1 == assembly.packets.len() as u64 {
            let whole: Vec<u8> = assembly
                .packets
                .values()
                .flat_map(|(_, _, d)| d.iter().copied())
                .collect();
            match parse_payload(&whole) {
                Some(f) if f.kind == MediaKind::Video => self.complete_frames += 1,
                _ => self.corrupt += 1,
            }
            // Keep the highest sequence number only, for later duplicates.
            let keep = assembly.packets.pop_last();
            assembly.packets.clear();
            assembly
                .packets
                .extend(keep.map(|(s, _)| (s, (false, false, Vec::new()))));
            assembly.done = true;
        }
    }

    fn on_audio(&mut self, seq: u64, red: bool, parsed: Option<&Red<'_>>, level: Option<f64>) {
        if red {
            self.red_packets += 1;
        } else {
            self.plain_packets += 1;
        }
        let Some(parsed) = parsed else {
            self.corrupt += 1;
            return;
        };
        self.redundant_blocks += parsed.redundant.len() as u64;
        let previous = self.previous_primary.take().filter(|(s, _)| *s + 1 == seq);
        if let (Some((_, previous)), Some((_, block))) = (
            previous,
            parsed
                .redundant
                .iter()
                .find(|(offset, _)| *offset == FRAME_SAMPLES as u32),
        ) {
            if *block == previous.as_slice() {
                self.redundancy_matches += 1;
            } else {
                self.redundancy_mismatches += 1;
            }
        }
        self.previous_primary = Some((seq, parsed.primary.to_vec()));
        if let Some(level) = level {
            // A running mean over about 50 frames (1 s).
            self.decoded += 1;
            let w = 1.0 / (self.decoded.min(50) as f64);
            self.level = self.level * (1.0 - w) + level * w;
        }
    }
}

/// What the bot itself sent.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    /// Video frames per layer (index 0 without simulcast).
    pub frames: [u64; 3],
    pub keyframes: [u64; 3],
    /// PLIs and FIRs received per layer, by the SSRC they name.
    pub keyframe_requests: [u64; 3],
    /// Of those, how many webrtc-rs delivered to a *remote* track: it routes
    /// RTCP by track id, looking at remote tracks first, and the relay's
    /// answer declares a stream with our own msid on our m-lines.
    pub keyframe_requests_via_remote_track: u64,
    pub audio_frames: u64,
    /// Audio goes out wrapped in RED (negotiated and asked for).
    pub audio_as_red: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    /// (stream id = publishing participant, kind) → what arrived.
    pub streams: HashMap<(String, MediaKind), Stream>,
    pub connected: bool,
    pub sent: Sent,
}

impl Report {
    pub fn get(&self, from: &str, kind: MediaKind) -> &Stream {
        self.streams.get(&(from.to_string(), kind)).unwrap_or(&NO_STREAM)
    }
}

struct Shared {
    report: Mutex<Report>,
    changed: watch::Sender<u64>,
    gathered: watch::Sender<bool>,
    /// Payload types any negotiated audio section gives RED.
    red_pts: Mutex<HashSet<u8>>,
    /// Our video encodings, lowest first.
    encodings: Vec<Encoding>,
    /// Encodings whose next frame must be a keyframe (asked for by the relay).
    keyframe_due: [AtomicBool; 3],
}

impl Shared {
    /// PLIs and FIRs naming one of our video SSRCs mark that layer for a
    /// keyframe; `via_remote` counts those webrtc-rs handed to a remote track.
    fn on_keyframe_requests(&self, packets: &[Box<dyn rtc::rtcp::Packet>], via_remote: bool) {
        for p in packets {
            let any = p.as_any();
            let ssrcs: Vec<u32> = if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
                vec![pli.media_ssrc]
            } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
                fir.fir.iter().map(|e| e.ssrc).collect()
            } else {
                continue;
            };
            for ssrc in ssrcs {
                if let Some(layer) = self.encodings.iter().position(|e| e.ssrc == ssrc) {
                    self.keyframe_due[layer].store(true, Ordering::Relaxed);
                    self.update(|r| {
                        r.sent.keyframe_requests[layer] += 1;
                        r.sent.keyframe_requests_via_remote_track += u64::from(via_remote);
                    });
                }
            }
        }
    }

    fn update(&self, f: impl FnOnce(&mut Report)) {
        f(&mut self.report.lock().unwrap());
        self.changed.send_modify(|n| *n += 1);
    }

    /// Learns which payload types are RED from an SDP's audio sections.
    fn learn_payload_types(&self, sdp: &str) {
        let mut audio = false;
        let mut red = self.red_pts.lock().unwrap();
        for line in sdp.lines() {
            if line.starts_with("m=") {
                audio = line.starts_with("m=audio");
            }
            let Some(map) = line.strip_prefix("a=rtpmap:").filter(|_| audio) else {
                continue;
            };
            let mut words = map.split_whitespace();
            if let (Some(Ok(pt)), Some(encoding)) = (words.next().map(str::parse::<u8>), words.next()) {
                if encoding
                    .split('/')
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case("red"))
                {
                    red.insert(pt);
                }
            }
        }
    }
}

#[derive(Clone)]
struct Handler(Arc<Shared>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.0.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let connected = state == RTCPeerConnectionState::Connected;
        self.0.update(|r| r.connected = r.connected || connected);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        tokio::spawn(receive(track, self.0.clone()));
    }
}

async fn receive(track: Arc<dyn TrackRemote>, shared: Arc<Shared>) {
    let from = track.stream_id().await.to_string();
    let kind = match track.kind().await {
        RtpCodecKind::Audio => MediaKind::Audio,
        _ => MediaKind::Video,
    };
    let mut decoder = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono).expect("opus decoder");
    let mut pcm = vec![0f32; FRAME_SAMPLES * 6];
    while let Some(event) = track.poll().await {
        let packet = match event {
            TrackRemoteEvent::OnRtpPacket(packet) => packet,
            TrackRemoteEvent::OnRtcpPacket(packets) => {
                shared.on_keyframe_requests(&packets, true);
                continue;
            }
            _ => continue,
        };
        let h = &packet.header;
        if kind == MediaKind::Video {
            shared.update(|r| {
                let s = r.streams.entry((from.clone(), kind)).or_default();
                if let Some(seq) = s.on_packet(h.sequence_number) {
                    s.on_video(seq, h.timestamp, h.marker, &packet.payload);
                }
            });
            continue;
        }
        let red = shared.red_pts.lock().unwrap().contains(&h.payload_type);
        let parsed = match red {
            true => parse_red(&packet.payload),
            false => Some(Red {
                redundant: Vec::new(),
                primary: &packet.payload,
            }),
        };
        let level = parsed
            .as_ref()
            .filter(|p| !p.primary.is_empty())
            .and_then(|p| decoder.decode_float(p.primary, &mut pcm, false).ok())
            .map(|n| rms(&pcm[..n]));
        shared.update(|r| {
            let s = r.streams.entry((from.clone(), kind)).or_default();
            let Some(seq) = s.on_packet(h.sequence_number) else {
                return;
            };
            s.on_audio(seq, red, parsed.as_ref(), level);
        });
    }
}

/// `v` (of `bits` bits) extended to 64 bits, nearest to `last`.
fn extend(last: Option<u64>, v: u64, bits: u32) -> u64 {
    let m = 1u64 << bits;
    // The first value starts one cycle up, so earlier ones (reordered) fit.
    let Some(last) = last else { return m + v };
    let base = last & !(m - 1);
    [base.checked_sub(m), Some(base), Some(base + m)]
        .into_iter()
        .flatten()
        .map(|b| b + v)
        .min_by_key(|c| c.abs_diff(last))
        .expect("a candidate")
}

fn rms(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

/// Reads a VP8 payload descriptor (RFC 7741 §4.2): where the VP8 bytes
/// start, and whether this packet starts a frame (S bit, partition 0).
fn vp8_descriptor(p: &[u8]) -> Option<(usize, bool)> {
    let b0 = *p.first()?;
    let start = b0 & 0x10 != 0 && b0 & 0x07 == 0;
    let mut at = 1;
    if b0 & 0x80 != 0 {
        let x = *p.get(1)?;
        at = 2;
        if x & 0x80 != 0 {
            at += if p.get(2)? & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1;
        }
        if x & 0x30 != 0 {
            at += 1;
        }
    }
    (at < p.len()).then_some((at, start))
}

/// (keyframe, layer, counter) from the first bytes of a frame [`payload`]
/// made; a foreign frame counts as layer 0.
fn frame_header(data: &[u8]) -> (bool, u8, u32) {
    let keyframe = data.first().is_some_and(|b| b & 0x01 == 0);
    match (data.first(), data.get(12), data.get(13..17)) {
        (Some(0x10 | 0x11), Some(&layer), Some(counter)) => (
            keyframe,
            layer,
            u32::from_be_bytes(counter.try_into().expect("four bytes")),
        ),
        _ => (keyframe, 0, 0),
    }
}

/// A RED packet (RFC 2198) taken apart.
struct Red<'a> {
    /// (timestamp offset, block), oldest first.
    redundant: Vec<(u32, &'a [u8])>,
    /// The last block.
    primary: &'a [u8],
}

fn parse_red(p: &[u8]) -> Option<Red<'_>> {
    let (mut at, mut headers) = (0, Vec::new());
    loop {
        let b = *p.get(at)?;
        if b & 0x80 == 0 {
            at += 1;
            break;
        }
        let h = p.get(at..at + 4)?;
        let word = u32::from_be_bytes([0, h[1], h[2], h[3]]);
        headers.push((word >> 10, (word & 0x3ff) as usize));
        at += 4;
    }
    let mut redundant = Vec::with_capacity(headers.len());
    for (offset, len) in headers {
        redundant.push((offset, p.get(at..at + len)?));
        at += len;
    }
    Some(Red {
        redundant,
        primary: p.get(at..)?,
    })
}

/// RFC 2198: `primary` after one redundant copy of `previous` (one frame back).
fn red_payload(pt: u8, previous: Option<&[u8]>, primary: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + primary.len() * 2);
    let previous = previous.filter(|b| b.len() < 1024);
    if let Some(b) = previous {
        let offset = FRAME_SAMPLES as u32; // 14 bits
        let len = b.len() as u32; // 10 bits
        let word = (offset << 10) | len;
        p.extend_from_slice(&[0x80 | pt, (word >> 16) as u8, (word >> 8) as u8, word as u8]);
    }
    p.push(pt & 0x7f);
    if let Some(b) = previous {
        p.extend_from_slice(b);
    }
    p.extend_from_slice(primary);
    p
}

/// VP8 RTP payloads for one frame: descriptor with X, I and a 15-bit
/// PictureID, S on the first packet.
fn vp8_packets(frame: &[u8], picture_id: u16) -> Vec<Bytes> {
    frame
        .chunks(MAX_VP8_PAYLOAD)
        .enumerate()
        .map(|(i, chunk)| {
            let mut p = Vec::with_capacity(chunk.len() + 4);
            p.push(if i == 0 { 0x90 } else { 0x80 });
            p.push(0x80);
            p.push(0x80 | ((picture_id >> 8) as u8 & 0x7f));
            p.push(picture_id as u8);
            p.extend_from_slice(chunk);
            Bytes::from(p)
        })
        .collect()
}

/// Hands inbound PLI and FIR to the application (`TrackLocal::poll`):
/// webrtc-rs stops inbound RTCP at the end of its chain unless an
/// interceptor marks it. Everything else it drops, as the chain end would.
#[derive(Default)]
struct KeyframeRequestsToApp {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestsToApp {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let ChainPacket::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<_> = packets
                .iter()
                .filter(|p| {
                    let any = p.as_any();
                    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
                })
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = ChainPacket::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for KeyframeRequestsToApp {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// One encoding of the bot's video.
#[derive(Debug, Clone, Copy)]
struct Encoding {
    ssrc: u32,
    rid: Option<&'static str>,
    frame_bytes: usize,
}

/// One webrtc-rs participant.
pub struct WebrtcBot {
    pub name: String,
    pub tag: u8,
    pc: Arc<dyn PeerConnection>,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for WebrtcBot {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl WebrtcBot {
    /// Builds the peer with an Opus and a VP8 track whose stream id is
    /// `name` (as the relay names streams by participant), bound to 127.0.0.1.
    pub async fn start(name: &str, tag: u8, options: BotOptions) -> WebrtcBot {
        let mut media_engine = MediaEngine::default();
        media_engine.register_default_codecs().expect("codecs");
        if options.red {
            media_engine
                .register_codec(
                    RTCRtpCodecParameters {
                        rtp_codec: RTCRtpCodec {
                            mime_type: MIME_TYPE_RED.to_string(),
                            clock_rate: SAMPLE_RATE,
                            channels: 2,
                            sdp_fmtp_line: format!("{OPUS_PT}/{OPUS_PT}"),
                            rtcp_feedback: vec![],
                        },
                        payload_type: RED_PT,
                    },
                    RtpCodecKind::Audio,
                )
                .expect("red codec");
        }
        let registry = register_default_interceptors(Registry::new(), &mut media_engine).expect("interceptors");
        // Last in the chain: every interceptor has seen the RTCP first.
        let registry = registry.with(Slot::from(14_000), KeyframeRequestsToApp::default());
        let encodings: Vec<Encoding> = if options.simulcast {
            (0..3)
                .map(|i| Encoding {
                    ssrc: ssrc_for(name, 1 + i as u8),
                    rid: Some(RIDS[i]),
                    frame_bytes: LAYER_FRAME_BYTES[i],
                })
                .collect()
        } else {
            vec![Encoding {
                ssrc: ssrc_for(name, 1),
                rid: None,
                frame_bytes: SINGLE_FRAME_BYTES,
            }]
        };
        let (changed, _) = watch::channel(0);
        let (gathered, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            report: Mutex::new(Report::default()),
            changed,
            gathered,
            red_pts: Mutex::new(HashSet::new()),
            encodings: encodings.clone(),
            keyframe_due: [const { AtomicBool::new(false) }; 3],
        });
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(Handler(shared.clone())))
            .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
            .build()
            .await
            .expect("webrtc-rs peer");
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);

        let audio_ssrc = ssrc_for(name, 0);
        let audio = Arc::new(
            TrackLocalStaticSample::new(
                Instant::now(),
                MediaStreamTrack::new(
                    name.to_string(),
                    format!("{name}-audio"),
                    format!("{name}-audio"),
                    RtpCodecKind::Audio,
                    vec![encoding(audio_ssrc, None, MIME_TYPE_OPUS, SAMPLE_RATE, 2)],
                ),
            )
            .expect("local audio track"),
        );
        let video = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            name.to_string(),
            format!("{name}-video"),
            format!("{name}-video"),
            RtpCodecKind::Video,
            encodings
                .iter()
                .map(|e| encoding(e.ssrc, e.rid, MIME_TYPE_VP8, 90_000, 0))
                .collect(),
        )));
        let audio_sender = pc
            .add_track(audio.clone() as Arc<dyn TrackLocal>)
            .await
            .expect("audio track");
        let video_sender = pc
            .add_track(video.clone() as Arc<dyn TrackLocal>)
            .await
            .expect("video track");
        let tasks = vec![
            tokio::spawn(send_audio(audio, audio_sender, shared.clone(), options.red)),
            tokio::spawn(take_keyframe_requests(video.clone(), shared.clone())),
            tokio::spawn(send_video(video, video_sender, pc.clone(), tag, shared.clone())),
        ];
        WebrtcBot {
            name: name.to_string(),
            tag,
            pc,
            shared,
            tasks,
        }
    }

    /// The first offer, with every host candidate in it (no trickle here).
    pub async fn create_offer(&self) -> String {
        let offer = self.pc.create_offer(None).await.expect("offer");
        self.pc.set_local_description(offer).await.expect("local offer");
        self.local_sdp().await
    }

    pub async fn accept_answer(&self, sdp: &str) {
        let answer = RTCSessionDescription::answer(sdp.to_string()).expect("answer parses");
        self.pc
            .set_remote_description(answer)
            .await
            .expect("relay answer accepted");
        self.shared.learn_payload_types(sdp);
    }

    /// Answers a re-offer from the relay.
    pub async fn accept_offer(&self, sdp: &str) -> String {
        let offer = RTCSessionDescription::offer(sdp.to_string()).expect("offer parses");
        self.pc
            .set_remote_description(offer)
            .await
            .expect("relay offer accepted");
        let answer = self.pc.create_answer(None).await.expect("answer");
        self.pc.set_local_description(answer).await.expect("local answer");
        let answer = self.local_sdp().await;
        // Only what both sides kept: the answer's payload types.
        self.shared.learn_payload_types(&answer);
        answer
    }

    async fn local_sdp(&self) -> String {
        let mut gathered = self.shared.gathered.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(5), gathered.wait_for(|g| *g)).await;
        self.pc.local_description().await.expect("local description").sdp
    }

    pub fn report(&self) -> Report {
        self.shared.report.lock().unwrap().clone()
    }

    /// Waits until `done` holds ([`PATIENCE`] safety net).
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Report) -> bool) {
        self.wait_for_within(what, PATIENCE, done).await;
    }

    /// [`Self::wait_for`] with another safety net, for what takes seconds by
    /// design (bandwidth adaptation's hold times and probing).
    pub async fn wait_for_within(&self, what: &str, patience: Duration, done: impl Fn(&Report) -> bool) {
        tokio::time::timeout(patience, self.until(done))
            .await
            .unwrap_or_else(|_| panic!("{}: timed out waiting for {what}: {:?}", self.name, self.report()));
    }

    /// Resolves once `done` holds, however long that takes: put a timeout
    /// around it.
    pub async fn until(&self, done: impl Fn(&Report) -> bool) {
        let mut changed = self.shared.changed.subscribe();
        while !done(&self.shared.report.lock().unwrap()) {
            let _ = changed.changed().await;
        }
    }
}

fn encoding(ssrc: u32, rid: Option<&str>, mime: &str, clock_rate: u32, channels: u16) -> RTCRtpEncodingParameters {
    RTCRtpEncodingParameters {
        rtp_coding_parameters: RTCRtpCodingParameters {
            rid: rid.unwrap_or_default().to_string(),
            ssrc: Some(ssrc),
            ..Default::default()
        },
        codec: RTCRtpCodec {
            mime_type: mime.to_string(),
            clock_rate,
            channels,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        ..Default::default()
    }
}

/// Distinct per bot and stream; no RNG needed for a test SSRC.
fn ssrc_for(name: &str, stream: u8) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes().chain([stream]) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

async fn wait_connected(shared: &Shared) {
    let mut changed = shared.changed.subscribe();
    while !shared.report.lock().unwrap().connected {
        if changed.changed().await.is_err() {
            return;
        }
    }
}

async fn negotiated_pt(sender: &Arc<dyn RtpSender>, mime: &str) -> Option<u8> {
    let params = sender.get_parameters().await.ok()?;
    params
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|c| c.payload_type)
}

/// A 440 Hz tone at about −12 dBFS, as real Opus frames of 20 ms, in RED
/// when asked for and negotiated.
async fn send_audio(track: Arc<TrackLocalStaticSample>, sender: Arc<dyn RtpSender>, shared: Arc<Shared>, red: bool) {
    wait_connected(&shared).await;
    let Some(opus_pt) = negotiated_pt(&sender, MIME_TYPE_OPUS).await else {
        return;
    };
    let red_pt = match red {
        true => negotiated_pt(&sender, MIME_TYPE_RED).await,
        false => None,
    };
    shared.update(|r| r.sent.audio_as_red = red_pt.is_some());
    let ssrc = *track.ssrcs().await.first().expect("ssrc");
    let mut encoder = opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip).expect("encoder");
    encoder
        .set_bitrate(opus::Bitrate::Bits(OPUS_BITRATE))
        .expect("opus bitrate");
    let mut tick = tokio::time::interval(AUDIO_EVERY);
    let mut phase = 0f32;
    let step = 2.0 * std::f32::consts::PI * 440.0 / SAMPLE_RATE as f32;
    let mut previous: Option<Vec<u8>> = None;
    loop {
        tick.tick().await;
        let pcm: Vec<f32> = (0..FRAME_SAMPLES)
            .map(|_| {
                phase = (phase + step) % (2.0 * std::f32::consts::PI);
                0.25 * phase.sin()
            })
            .collect();
        let Ok(frame) = encoder.encode_vec_float(&pcm, 4000) else {
            continue;
        };
        let (pt, data) = match red_pt {
            Some(red) => (red, red_payload(opus_pt, previous.as_deref(), &frame)),
            None => (opus_pt, frame.clone()),
        };
        previous = Some(frame);
        let sample = Sample {
            data: Bytes::from(data),
            duration: AUDIO_EVERY,
            ..Sample::new(Instant::now())
        };
        if track.sample_writer(ssrc, pt).write_sample(&sample).await.is_ok() {
            shared.update(|r| r.sent.audio_frames += 1);
        }
    }
}

/// Keyframe requests webrtc-rs hands to our video track.
async fn take_keyframe_requests(track: Arc<TrackLocalStaticRTP>, shared: Arc<Shared>) {
    while let Some(event) = track.poll().await {
        if let TrackLocalEvent::OnRtcpPacket(packets) = event {
            shared.on_keyframe_requests(&packets, false);
        }
    }
}

/// The str0m test peer's synthetic VP8 frames on every encoding, a keyframe
/// every 90 frames and when asked for, packetized here with `mid` and (for
/// simulcast) `rtp-stream-id` on every packet.
async fn send_video(
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    pc: Arc<dyn PeerConnection>,
    tag: u8,
    shared: Arc<Shared>,
) {
    let encodings = shared.encodings.clone();
    wait_connected(&shared).await;
    let Ok(params) = sender.get_parameters().await else {
        return;
    };
    let Some(pt) = params
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(MIME_TYPE_VP8))
        .map(|c| c.payload_type)
    else {
        return;
    };
    let ext_id = |uri: &str| {
        params
            .rtp_parameters
            .header_extensions
            .iter()
            .find(|e| e.uri == uri)
            .map(|e| e.id as u8)
    };
    let (mid_id, rid_id) = (ext_id(SDES_MID_URI), ext_id(SDES_RTP_STREAM_ID_URI));
    let mut mid = None;
    for t in pc.get_transceivers().await {
        if let Ok(Some(s)) = t.sender().await {
            if s.id() == sender.id() {
                mid = t.mid().await.ok().flatten();
            }
        }
    }
    let mut seq: Vec<u16> = encodings.iter().map(|e| e.ssrc as u16 & 0x7fff).collect();
    let mut picture_id: Vec<u16> = encodings.iter().map(|e| (e.ssrc >> 16) as u16 & 0x7fff).collect();
    let time_base = ssrc_for("time", tag);
    let mut tick = tokio::time::interval(VIDEO_EVERY);
    let mut counter = 0u32;
    loop {
        tick.tick().await;
        let timestamp = time_base.wrapping_add(counter.wrapping_mul(VIDEO_TICKS));
        for (i, e) in encodings.iter().enumerate() {
            let asked = shared.keyframe_due[i].swap(false, Ordering::Relaxed);
            let keyframe = asked || counter.is_multiple_of(KEYFRAME_EVERY);
            let frame = payload(tag, MediaKind::Video, i as u8, counter, keyframe, e.frame_bytes);
            let chunks = vp8_packets(&frame, picture_id[i]);
            let last = chunks.len() - 1;
            for (n, chunk) in chunks.into_iter().enumerate() {
                let mut header = rtc::rtp::Header {
                    version: 2,
                    marker: n == last,
                    payload_type: pt,
                    sequence_number: seq[i],
                    timestamp,
                    ssrc: e.ssrc,
                    ..Default::default()
                };
                if let (Some(id), Some(mid)) = (mid_id, &mid) {
                    let _ = header.set_extension(id, Bytes::from(mid.clone().into_bytes()));
                }
                if let (Some(id), Some(rid)) = (rid_id, e.rid) {
                    let _ = header.set_extension(id, Bytes::from_static(rid.as_bytes()));
                }
                seq[i] = seq[i].wrapping_add(1);
                let _ = track.write_rtp(rtc::rtp::Packet { header, payload: chunk }).await;
            }
            picture_id[i] = (picture_id[i] + 1) & 0x7fff;
            shared.update(|r| {
                r.sent.frames[i] += 1;
                r.sent.keyframes[i] += u64::from(keyframe);
            });
        }
        counter += 1;
    }
}
