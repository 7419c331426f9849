//! The synthetic participant on an independent WebRTC stack (webrtc-rs
//! `webrtc` 0.21 on its sans-I/O `rtc` core), so relay tests are interop
//! tests: different ICE, DTLS, SRTP, RTP and SDP code on each side.
//!
//! It publishes real Opus audio (a 440 Hz tone, encoded with libopus, 20 ms
//! frames) and VP8-shaped video (the same synthetic frames as the str0m test
//! peer, so a str0m peer can check them byte for byte; a keyframe every 3 s),
//! and reports what it receives per publishing participant (the stream id):
//! RTP packets, sequence gaps, whether the first video packet started a
//! keyframe, and the level of the decoded audio.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use media_relay::test_peer::{payload, MediaKind};
use rtc::interceptor::Registry;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use tokio::sync::watch;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::media_stream::Track;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
};

const AUDIO_EVERY: Duration = Duration::from_millis(20);
const VIDEO_EVERY: Duration = Duration::from_millis(33);
const SAMPLE_RATE: u32 = 48_000;
const FRAME_SAMPLES: usize = 960;

/// What arrived from one publisher, per kind.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    pub packets: u64,
    /// Sequence numbers skipped (a gap of 3 counts 3).
    pub gaps: u64,
    last_seq: Option<u16>,
    /// Video: whether the first packet received began a VP8 keyframe.
    pub first_is_keyframe: Option<bool>,
    /// Audio: RMS of the decoded samples (0–1), over the last second or so.
    pub level: f64,
    decoded: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    /// (stream id = publishing participant, kind) → what arrived.
    pub streams: HashMap<(String, MediaKind), Stream>,
    pub connected: bool,
}

impl Report {
    pub fn get(&self, from: &str, kind: MediaKind) -> Stream {
        self.streams.get(&(from.to_string(), kind)).cloned().unwrap_or_default()
    }
}

struct Shared {
    report: Mutex<Report>,
    changed: watch::Sender<u64>,
    gathered: watch::Sender<bool>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Report)) {
        f(&mut self.report.lock().unwrap());
        self.changed.send_modify(|n| *n += 1);
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
        let shared = self.0.clone();
        tokio::spawn(async move {
            let from = track.stream_id().await.to_string();
            let kind = match track.kind().await {
                RtpCodecKind::Audio => MediaKind::Audio,
                _ => MediaKind::Video,
            };
            let mut decoder = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono).expect("opus decoder");
            let mut pcm = vec![0f32; FRAME_SAMPLES * 6];
            while let Some(event) = track.poll().await {
                let TrackRemoteEvent::OnRtpPacket(packet) = event else {
                    continue;
                };
                let seq = packet.header.sequence_number;
                let level = (kind == MediaKind::Audio)
                    .then(|| decoder.decode_float(&packet.payload, &mut pcm, false).ok())
                    .flatten()
                    .map(|n| rms(&pcm[..n]));
                let keyframe = is_vp8_keyframe_start(&packet.payload);
                shared.update(|r| {
                    let s = r.streams.entry((from.clone(), kind)).or_default();
                    s.packets += 1;
                    if let Some(last) = s.last_seq {
                        let ahead = seq.wrapping_sub(last);
                        if ahead > 1 && ahead < 0x8000 {
                            s.gaps += u64::from(ahead - 1);
                        }
                    }
                    s.last_seq = Some(seq);
                    if kind == MediaKind::Video && s.first_is_keyframe.is_none() {
                        s.first_is_keyframe = Some(keyframe);
                    }
                    if let Some(level) = level {
                        // A running mean over about 50 frames (1 s).
                        s.decoded += 1;
                        let w = 1.0 / (s.decoded.min(50) as f64);
                        s.level = s.level * (1.0 - w) + level * w;
                    }
                });
            }
        });
    }
}

fn rms(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

/// Whether an RTP payload is the first packet of a VP8 keyframe: the payload
/// descriptor's S bit with partition 0, then the VP8 header's P bit clear.
fn is_vp8_keyframe_start(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let (start, partition) = (b0 & 0x10 != 0, b0 & 0x07);
    let mut at = 1;
    if b0 & 0x80 != 0 {
        let Some(&x) = p.get(1) else { return false };
        at = 2;
        if x & 0x80 != 0 {
            at += if p.get(2).is_some_and(|b| b & 0x80 != 0) { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1;
        }
        if x & 0x30 != 0 {
            at += 1;
        }
    }
    start && partition == 0 && p.get(at).is_some_and(|b| b & 0x01 == 0)
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
    pub async fn start(name: &str, tag: u8) -> WebrtcBot {
        let mut media_engine = MediaEngine::default();
        media_engine.register_default_codecs().expect("codecs");
        let registry = register_default_interceptors(Registry::new(), &mut media_engine).expect("interceptors");
        let (changed, _) = watch::channel(0);
        let (gathered, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            report: Mutex::new(Report::default()),
            changed,
            gathered,
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
        let audio = track(name, RtpCodecKind::Audio, MIME_TYPE_OPUS, SAMPLE_RATE, 2);
        let video = track(name, RtpCodecKind::Video, MIME_TYPE_VP8, 90_000, 0);
        let audio_sender = pc
            .add_track(audio.clone() as Arc<dyn TrackLocal>)
            .await
            .expect("audio track");
        let video_sender = pc
            .add_track(video.clone() as Arc<dyn TrackLocal>)
            .await
            .expect("video track");
        let mut bot = WebrtcBot {
            name: name.to_string(),
            tag,
            pc,
            shared,
            tasks: Vec::new(),
        };
        bot.tasks
            .push(tokio::spawn(send_audio(audio, audio_sender, bot.shared.clone())));
        bot.tasks
            .push(tokio::spawn(send_video(video, video_sender, tag, bot.shared.clone())));
        bot
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
        self.local_sdp().await
    }

    async fn local_sdp(&self) -> String {
        let mut gathered = self.shared.gathered.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(5), gathered.wait_for(|g| *g)).await;
        self.pc.local_description().await.expect("local description").sdp
    }

    pub fn report(&self) -> Report {
        self.shared.report.lock().unwrap().clone()
    }

    /// Waits until `done` holds (20 s safety net).
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Report) -> bool) {
        let mut changed = self.shared.changed.subscribe();
        let wait = async {
            while !done(&self.report()) {
                let _ = changed.changed().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .unwrap_or_else(|_| panic!("{}: timed out waiting for {what}: {:?}", self.name, self.report()));
    }
}

fn track(name: &str, kind: RtpCodecKind, mime: &str, clock_rate: u32, channels: u16) -> Arc<TrackLocalStaticSample> {
    let codec = RTCRtpCodec {
        mime_type: mime.to_string(),
        clock_rate,
        channels,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    };
    let ssrc = rand_ssrc(name, kind);
    Arc::new(
        TrackLocalStaticSample::new(
            Instant::now(),
            MediaStreamTrack::new(
                name.to_string(),
                format!("{name}-{kind}"),
                format!("{name}-{kind}"),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec,
                    ..Default::default()
                }],
            ),
        )
        .expect("local track"),
    )
}

/// Distinct per bot and kind; no RNG needed for a test SSRC.
fn rand_ssrc(name: &str, kind: RtpCodecKind) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes().chain([kind as u8]) {
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

async fn negotiated_pt(sender: &Arc<dyn webrtc::rtp_transceiver::RtpSender>) -> Option<u8> {
    let params = sender.get_parameters().await.ok()?;
    params.rtp_parameters.codecs.first().map(|c| c.payload_type)
}

/// A 440 Hz tone at about −12 dBFS, as real Opus frames of 20 ms.
async fn send_audio(
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn webrtc::rtp_transceiver::RtpSender>,
    shared: Arc<Shared>,
) {
    wait_connected(&shared).await;
    let Some(pt) = negotiated_pt(&sender).await else { return };
    let ssrc = *track.ssrcs().await.first().expect("ssrc");
    let mut encoder = opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip).expect("encoder");
    let mut tick = tokio::time::interval(AUDIO_EVERY);
    let mut phase = 0f32;
    let step = 2.0 * std::f32::consts::PI * 440.0 / SAMPLE_RATE as f32;
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
        let sample = Sample {
            data: Bytes::from(frame),
            duration: AUDIO_EVERY,
            ..Sample::new(Instant::now())
        };
        let _ = track.sample_writer(ssrc, pt).write_sample(&sample).await;
    }
}

/// The str0m test peer's synthetic VP8 frames (layer 0), a keyframe every 90.
async fn send_video(
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn webrtc::rtp_transceiver::RtpSender>,
    tag: u8,
    shared: Arc<Shared>,
) {
    wait_connected(&shared).await;
    let Some(pt) = negotiated_pt(&sender).await else { return };
    let ssrc = *track.ssrcs().await.first().expect("ssrc");
    let mut tick = tokio::time::interval(VIDEO_EVERY);
    let mut counter = 0u32;
    loop {
        tick.tick().await;
        let keyframe = counter.is_multiple_of(90);
        let sample = Sample {
            data: Bytes::from(payload(tag, MediaKind::Video, 0, counter, keyframe, 600)),
            duration: VIDEO_EVERY,
            ..Sample::new(Instant::now())
        };
        let _ = track.sample_writer(ssrc, pt).write_sample(&sample).await;
        counter += 1;
    }
}
