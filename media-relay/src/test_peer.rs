//! A browser stand-in for tests, compiled only with the `test-peer` feature:
//! a str0m peer in normal (non-lite, controlling) mode on a real UDP socket
//! that sends synthetic Opus-sized audio and VP8 video — optionally as three
//! simulcast layers (`q`, `h`, `f`) at browser-like bitrates, with a keyframe
//! every 3 s and on request, stopping the layers the relay says nobody takes
//! — and logs what it receives, frame by frame.
//!
//! The relay's own tests and the signaling server's `/ws` media tests both
//! use it. It shares str0m with the relay; the independent-stack interop
//! participant is `media-relay/tests/webrtc_bot` (webrtc-rs). No sleeps synchronise anything: media is paced by intervals, as a
//! camera and a microphone would be, and waits have a timeout only as a
//! safety net.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
pub use str0m::media::MediaKind;
use str0m::media::{Direction, Frequency, MediaTime, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{watch, Notify};

use crate::vp8::PictureId;
use crate::vp8_packetize::{vp8_extra, FrameDescriptor, Temporal, Vp8Sender};
/// Safety net for every wait; a healthy test finishes far sooner.
pub const PATIENCE: Duration = Duration::from_secs(20);

const AUDIO_EVERY: Duration = Duration::from_millis(20);
const VIDEO_EVERY: Duration = Duration::from_millis(33);
/// A camera encoder sends a keyframe now and then even unasked.
pub const KEYFRAME_EVERY: u32 = 90;

/// Simulcast RIDs, lowest layer first, as Cerca's web client names them.
pub const RIDS: [&str; 3] = ["q", "h", "f"];
/// Frame size per simulcast layer at 30 fps: about 150, 500 and 1200 kbit/s,
/// what Chrome sends for a 640×360 camera in three layers.
const LAYER_FRAME_BYTES: [usize; 3] = [600, 2_000, 5_000];
/// Video frames a second (one every 2970 ticks of 90 kHz).
const FPS: u64 = 30;

/// A layer's frame size, `full` shrunk to keep the layer under `cap` (bit/s).
fn capped_frame_bytes(full: usize, cap: Option<u64>) -> usize {
    cap.map_or(full, |bps| full.min((bps / 8 / FPS) as usize).max(1))
}

/// Without simulcast, frames stay small: those tests check routing, not rates.
const SINGLE_FRAME_BYTES: usize = 24;

/// The synthetic frame a client with `tag` sends as its `counter`-th frame of
/// `kind` on simulcast layer `layer` (0 without simulcast): unique per
/// sender, kind, layer and frame, so a receiver can tell exactly who sent
/// what. Video keyframes start with a VP8 keyframe header (frame tag with the
/// key bit clear, start code, 320×240); other frames are interframes.
pub fn payload(tag: u8, kind: MediaKind, layer: u8, counter: u32, keyframe: bool, size: usize) -> Vec<u8> {
    let mut p = match kind {
        MediaKind::Audio => vec![0xFC, b'A'],
        MediaKind::Video if keyframe => vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, b'V'],
        MediaKind::Video => vec![0x11, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, b'V'],
    };
    p.push(tag);
    p.push(layer);
    p.extend_from_slice(&counter.to_be_bytes());
    p.extend((0..size).map(|i| (i as u8) ^ tag ^ layer));
    p
}

/// One frame as [`payload`] made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub tag: u8,
    pub kind: MediaKind,
    pub layer: u8,
    pub counter: u32,
    pub keyframe: bool,
}

/// Which sender, kind, layer and frame a payload is, if it is one `payload` made.
pub fn parse_payload(data: &[u8]) -> Option<Frame> {
    let (kind, keyframe, at) = match data.first()? {
        0xFC => (MediaKind::Audio, false, 2),
        0x10 => (MediaKind::Video, true, 11),
        0x11 => (MediaKind::Video, false, 11),
        _ => return None,
    };
    let tag = *data.get(at)?;
    let layer = *data.get(at + 1)?;
    let counter = u32::from_be_bytes(data.get(at + 2..at + 6)?.try_into().ok()?);
    let size = data.len().checked_sub(at + 6)?;
    (payload(tag, kind, layer, counter, keyframe, size) == data).then_some(Frame {
        tag,
        kind,
        layer,
        counter,
        keyframe,
    })
}

/// One received video frame, in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFrame {
    /// The sender's frame counter.
    pub counter: u32,
    pub layer: u8,
    pub keyframe: bool,
    /// The RTP timestamp as received (extended, 90 kHz).
    pub rtp_time: u64,
    /// The first RTP sequence number of the frame.
    pub first_seq: u64,
    pub last_seq: u64,
    pub at: Instant,
    /// The VP8 descriptor's picture id (extended by str0m), TL0PICIDX
    /// (extended) and temporal layer, where it carried them.
    pub picture_id: Option<u64>,
    pub tl0picidx: Option<u64>,
    pub temporal_id: Option<u8>,
}

#[derive(Default, Debug, Clone)]
pub struct Received {
    /// Frames received per (sender tag, kind).
    pub frames: HashMap<(u8, MediaKind), u64>,
    /// Highest frame counter received per (sender tag, kind).
    pub max_counter: HashMap<(u8, MediaKind), u32>,
    /// Every video frame per sender tag, in arrival order.
    pub video: HashMap<u8, Vec<VideoFrame>>,
    /// Frames that look like [`payload`]'s but are not exactly what some
    /// client sent.
    pub corrupt: u64,
    /// Audio frames from a real encoder (another stack's Opus), not ours.
    pub foreign_audio: u64,
    /// NACKs the relay sent about what we send, per track and encoding
    /// (str0m's running totals), and how many of str0m's periodic send
    /// reports came in.
    pub nacks: HashMap<(Mid, Option<Rid>), u64>,
    pub send_reports: u64,
}

impl Received {
    pub fn count(&self, tag: u8, kind: MediaKind) -> u64 {
        self.frames.get(&(tag, kind)).copied().unwrap_or(0)
    }

    /// The simulcast layer of the latest video frame from `tag`.
    pub fn latest_layer(&self, tag: u8) -> Option<u8> {
        self.video.get(&tag)?.last().map(|f| f.layer)
    }

    pub fn video_from(&self, tag: u8) -> &[VideoFrame] {
        self.video.get(&tag).map_or(&[], Vec::as_slice)
    }

    /// NACKs received so far, all tracks and encodings (only video is
    /// NACKed).
    pub fn nacks_received(&self) -> u64 {
        self.nacks.values().sum()
    }
}

/// How a client publishes.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerOptions {
    /// Send video as three simulcast layers ([`RIDS`]).
    pub simulcast: bool,
    /// Number video frames and give each temporal layers, as Chrome does
    /// (two here, every upper frame a sync frame; Chrome sends three,
    /// `L1T3`): picture ids, TL0PICIDX and the temporal layer index in the
    /// VP8 descriptor, base-layer and upper-layer frames alternating
    /// (keyframes always base). Without it str0m's packetizer writes none.
    pub temporal_layers: bool,
    /// Keep each simulcast layer under the cap the relay asked for (a
    /// browser's `maxBitrate`): its frames shrink to fit. Off, every layer
    /// sends at its own rate whatever the relay asks.
    pub follows_caps: bool,
}

struct State {
    rtc: Rtc,
    audio: Option<Mid>,
    video: Option<Mid>,
    pending: Option<SdpPendingOffer>,
    negotiated: bool,
    connected: bool,
    sent: HashMap<MediaKind, u32>,
    received: Received,
    options: PeerOptions,
    /// Layers (by index) the relay wants; the others are not sent.
    active: [bool; 3],
    /// Caps (bit/s) the relay asked the layers to keep under.
    caps: [Option<u64>; 3],
    /// The simulcast layer and temporal layer whose next delta frame loses
    /// its tail for good.
    lose_next: Option<(usize, u8)>,
    /// Counters of the video frames lost so.
    lost: Vec<u32>,
    /// Layers whose next frame must be a keyframe (asked for by the relay).
    keyframe_due: [bool; 3],
    /// Layers not sent whatever the relay asks, as a browser's encoder
    /// drops its top layer on a congested uplink.
    stalled: [bool; 3],
    /// No keyframe is sent while set; those asked for wait.
    keyframes_held: bool,
    /// Frames sent per layer.
    pub layer_frames: [u32; 3],
    /// Base temporal layer frames sent per layer (the TL0PICIDX).
    tl0picidx: [u8; 3],
    /// Packetizers per layer for [`PeerOptions::temporal_layers`].
    vp8: [Vp8Sender; 3],
    /// When each video frame was written, by counter (for latency figures).
    video_sent_at: Vec<Instant>,
}

/// One synthetic participant: a str0m peer with one Opus and one VP8
/// send-receive track, sending frames as soon as it is connected.
pub struct Client {
    pub name: String,
    pub tag: u8,
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    changed: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    pub async fn start(name: &str, tag: u8) -> Client {
        Client::start_with(name, tag, PeerOptions::default()).await
    }

    pub async fn start_with(name: &str, tag: u8, options: PeerOptions) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client socket");
        let addr = socket.local_addr().unwrap();
        // Send reports (NACKs received) for tests of what the relay asks for.
        let mut rtc = Rtc::builder()
            .set_stats_interval(Some(Duration::from_millis(500)))
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("host candidate"));
        let state = Arc::new(Mutex::new(State {
            rtc,
            audio: None,
            video: None,
            pending: None,
            negotiated: false,
            connected: false,
            sent: HashMap::new(),
            received: Received::default(),
            options,
            active: [true; 3],
            caps: [None; 3],
            lose_next: None,
            lost: Vec::new(),
            keyframe_due: [true; 3],
            stalled: [false; 3],
            keyframes_held: false,
            layer_frames: [0; 3],
            tl0picidx: [0; 3],
            vp8: [Vp8Sender::new(100), Vp8Sender::new(2_000), Vp8Sender::new(30_000)],
            video_sent_at: Vec::new(),
        }));
        let wake = Arc::new(Notify::new());
        let (changed_tx, changed) = watch::channel(0);
        let task = tokio::spawn(run_client(socket, addr, tag, state.clone(), wake.clone(), changed_tx));
        Client {
            name: name.to_string(),
            tag,
            addr,
            state,
            wake,
            changed,
            task,
        }
    }

    /// The client's first offer: one audio and one video track, both ways.
    pub fn create_offer(&self) -> String {
        let mut s = self.state.lock().unwrap();
        let simulcast = s.options.simulcast.then(|| {
            let mut sim = Simulcast::new();
            for rid in RIDS {
                sim.add_send_layer(SimulcastLayer::new(rid));
            }
            sim
        });
        let mut api = s.rtc.sdp_api();
        let audio = api.add_media(
            MediaKind::Audio,
            Direction::SendRecv,
            Some(self.name.clone()),
            None,
            None,
        );
        let video = api.add_media(
            MediaKind::Video,
            Direction::SendRecv,
            Some(self.name.clone()),
            None,
            simulcast,
        );
        let (offer, pending) = api.apply().expect("changes to offer");
        s.audio = Some(audio);
        s.video = Some(video);
        s.pending = Some(pending);
        offer.to_sdp_string()
    }

    pub fn accept_answer(&self, sdp: &str) {
        let mut s = self.state.lock().unwrap();
        let pending = s.pending.take().expect("an offer outstanding");
        let answer = SdpAnswer::from_sdp_string(sdp).expect("relay answer parses");
        s.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("relay answer accepted");
        s.negotiated = true;
        drop(s);
        self.wake.notify_one();
    }

    /// Answers a re-offer from the relay.
    pub fn accept_offer(&self, sdp: &str) -> String {
        let mut s = self.state.lock().unwrap();
        let offer = SdpOffer::from_sdp_string(sdp).expect("relay offer parses");
        let answer = s.rtc.sdp_api().accept_offer(offer).expect("relay offer accepted");
        drop(s);
        self.wake.notify_one();
        answer.to_sdp_string()
    }

    pub fn received(&self) -> Received {
        self.state.lock().unwrap().received.clone()
    }

    pub fn sent(&self, kind: MediaKind) -> u32 {
        self.state.lock().unwrap().sent.get(&kind).copied().unwrap_or(0)
    }

    /// The relay says only `rids` of our video are taken: stop the others
    /// (as the web client does with `RTCRtpSender.setParameters`).
    pub fn set_active_rids(&self, rids: &[String]) {
        let mut s = self.state.lock().unwrap();
        for (i, rid) in RIDS.iter().enumerate() {
            s.active[i] = rids.iter().any(|r| r == rid);
        }
    }

    /// Records the caps (RID, bit/s) the relay asked layers to keep under;
    /// a layer not named has none. Followed with
    /// [`PeerOptions::follows_caps`].
    pub fn set_caps(&self, caps: &[(String, u64)]) {
        let mut s = self.state.lock().unwrap();
        for (i, rid) in RIDS.iter().enumerate() {
            s.caps[i] = caps.iter().find(|(r, _)| r == rid).map(|&(_, bps)| bps);
        }
    }

    /// Loses the next delta frame of temporal layer `temporal_id` on
    /// simulcast layer `layer` (0 without simulcast) for good (with
    /// [`PeerOptions::temporal_layers`]): its last packet is numbered and
    /// never sent, so the relay's NACKs for it go unanswered, str0m gives
    /// the frame up, and hands on the frame after it past a gap.
    pub fn lose_next_frame(&self, layer: usize, temporal_id: u8) {
        self.state.lock().unwrap().lose_next = Some((layer, temporal_id));
    }

    /// The counters of the video frames lost by [`Self::lose_next_frame`].
    pub fn lost_frames(&self) -> Vec<u32> {
        self.state.lock().unwrap().lost.clone()
    }

    /// Stops (or restarts) sending simulcast layer `layer` whatever the
    /// relay asks: a browser's encoder dropping its top layer.
    pub fn stall_layer(&self, layer: usize, stalled: bool) {
        self.state.lock().unwrap().stalled[layer] = stalled;
    }

    /// Holds every keyframe (asked for or periodic) until released: a
    /// keyframe that takes long to come through the publisher's uplink.
    pub fn hold_keyframes(&self, held: bool) {
        self.state.lock().unwrap().keyframes_held = held;
    }

    /// Which layers are being sent now.
    pub fn active_layers(&self) -> [bool; 3] {
        self.state.lock().unwrap().active
    }

    /// When video frame `counter` was written to the connection.
    pub fn video_sent_at(&self, counter: u32) -> Option<Instant> {
        self.state.lock().unwrap().video_sent_at.get(counter as usize).copied()
    }

    /// Frames sent so far per simulcast layer.
    pub fn layer_frames(&self) -> [u32; 3] {
        self.state.lock().unwrap().layer_frames
    }

    pub fn is_negotiated(&self) -> bool {
        self.state.lock().unwrap().negotiated
    }

    /// Waits until `done` holds for what this client has received.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Received) -> bool) {
        self.wait_for_within(what, PATIENCE, done).await;
    }

    /// [`Self::wait_for`] with a longer safety net, for what takes seconds
    /// by design (bandwidth adaptation's hold times and probing).
    pub async fn wait_for_within(&self, what: &str, patience: Duration, done: impl Fn(&Received) -> bool) {
        let mut changed = self.changed.clone();
        let wait = async {
            loop {
                if done(&self.received()) {
                    return;
                }
                changed.changed().await.expect("client task alive");
            }
        };
        tokio::time::timeout(patience, wait)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {}: {what}", self.name));
    }

    pub async fn wait_negotiated(&self) {
        let mut changed = self.changed.clone();
        let wait = async {
            while !self.is_negotiated() {
                changed.changed().await.expect("client task alive");
            }
        };
        within(&format!("{} negotiated", self.name), wait).await;
    }
}

/// The client's I/O: its socket, its timers and its media clock.
async fn run_client(
    socket: UdpSocket,
    addr: SocketAddr,
    tag: u8,
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    changed: watch::Sender<u64>,
) {
    let mut buf = vec![0u8; 2048];
    let mut audio_tick = tokio::time::interval(AUDIO_EVERY);
    let mut video_tick = tokio::time::interval(VIDEO_EVERY);
    loop {
        // Drain the Rtc with the lock held, send with it released.
        let (transmits, timeout, news) = {
            let mut s = state.lock().unwrap();
            drain(&mut s)
        };
        for (to, data) in transmits {
            let _ = socket.send_to(&data, to).await;
        }
        if news {
            changed.send_modify(|n| *n += 1);
        }
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((n, source)) = r else { continue };
                let mut s = state.lock().unwrap();
                let Ok(contents) = buf[..n].try_into() else { continue };
                let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: addr, contents });
                if s.rtc.accepts(&input) {
                    s.rtc.handle_input(input).expect("client rtc handles input");
                }
            }
            _ = tokio::time::sleep_until(timeout.into()) => {
                let mut s = state.lock().unwrap();
                s.rtc.handle_input(Input::Timeout(Instant::now())).expect("client rtc handles timeout");
            }
            _ = wake.notified() => {}
            _ = audio_tick.tick() => {
                let mut s = state.lock().unwrap();
                send_frame(&mut s, tag, MediaKind::Audio);
            }
            _ = video_tick.tick() => {
                let mut s = state.lock().unwrap();
                send_frame(&mut s, tag, MediaKind::Video);
            }
        }
    }
}

fn drain(s: &mut State) -> (Vec<(SocketAddr, Vec<u8>)>, Instant, bool) {
    let mut transmits = Vec::new();
    let mut news = false;
    loop {
        match s.rtc.poll_output().expect("client rtc polls") {
            Output::Timeout(t) => return (transmits, t, news),
            Output::Transmit(t) => transmits.push((t.destination, t.contents.to_vec())),
            Output::Event(Event::Connected) => {
                s.connected = true;
                news = true;
            }
            Output::Event(Event::MediaData(data)) => {
                news = true;
                match parse_payload(&data.data) {
                    Some(f) => {
                        *s.received.frames.entry((f.tag, f.kind)).or_default() += 1;
                        let max = s.received.max_counter.entry((f.tag, f.kind)).or_default();
                        *max = (*max).max(f.counter);
                        if f.kind == MediaKind::Video {
                            let vp8 = vp8_extra(&data.codec_extra);
                            let tl0picidx = vp8.and_then(|e| e.tl0_picture_id);
                            s.received.video.entry(f.tag).or_default().push(VideoFrame {
                                counter: f.counter,
                                layer: f.layer,
                                keyframe: f.keyframe,
                                rtp_time: data.time.rebase(Frequency::NINETY_KHZ).numer(),
                                first_seq: **data.seq_range.start(),
                                last_seq: **data.seq_range.end(),
                                at: Instant::now(),
                                picture_id: vp8.and_then(|e| e.picture_id),
                                tl0picidx,
                                temporal_id: vp8.filter(|_| tl0picidx.is_some()).map(|e| e.layer_index),
                            });
                        }
                    }
                    None if data.params.spec().codec == Codec::Opus && !matches!(data.data.first(), Some(0xFC)) => {
                        s.received.foreign_audio += 1
                    }
                    None => s.received.corrupt += 1,
                }
            }
            Output::Event(Event::MediaEgressStats(stats)) => {
                s.received.nacks.insert((stats.mid, stats.rid), stats.nacks);
                s.received.send_reports += 1;
                news = true;
            }
            Output::Event(Event::KeyframeRequest(req)) => {
                let layer = match req.rid {
                    Some(rid) => RIDS.iter().position(|r| Rid::from(*r) == rid),
                    None => Some(0),
                };
                if let Some(layer) = layer {
                    s.keyframe_due[layer] = true;
                }
            }
            Output::Event(_) => {}
        }
    }
}

fn send_frame(s: &mut State, tag: u8, kind: MediaKind) {
    let mid = match kind {
        MediaKind::Audio => s.audio,
        MediaKind::Video => s.video,
    };
    let (Some(mid), true) = (mid, s.connected) else { return };
    let codec = if kind == MediaKind::Audio {
        Codec::Opus
    } else {
        Codec::Vp8
    };
    let counter = s.sent.get(&kind).copied().unwrap_or(0);
    let Some(pt) = s
        .rtc
        .writer(mid)
        .and_then(|w| w.payload_params().find(|p| p.spec().codec == codec).map(|p| p.pt()))
    else {
        return;
    };
    let time = match kind {
        MediaKind::Audio => MediaTime::new(counter as u64 * 960, Frequency::FORTY_EIGHT_KHZ),
        MediaKind::Video => MediaTime::new(counter as u64 * 2970, Frequency::NINETY_KHZ),
    };
    if kind == MediaKind::Video {
        s.video_sent_at.push(Instant::now());
    }
    let layers: &[Option<&str>] = match (kind, s.options.simulcast) {
        (MediaKind::Video, true) => &[Some(RIDS[0]), Some(RIDS[1]), Some(RIDS[2])],
        _ => &[None],
    };
    let mut lost = false;
    for (i, rid) in layers.iter().enumerate() {
        if !s.active[i] || (kind == MediaKind::Video && s.stalled[i]) {
            continue;
        }
        let keyframe =
            kind == MediaKind::Video && !s.keyframes_held && (s.keyframe_due[i] || counter % KEYFRAME_EVERY == 0);
        let size = match rid {
            Some(_) if s.options.follows_caps => capped_frame_bytes(LAYER_FRAME_BYTES[i], s.caps[i]),
            Some(_) => LAYER_FRAME_BYTES[i],
            None => SINGLE_FRAME_BYTES,
        };
        let data = payload(tag, kind, i as u8, counter, keyframe, size);
        if kind == MediaKind::Video && s.options.temporal_layers {
            lost |= write_with_temporal_layers(s, i, mid, rid.map(Rid::from), pt, time, keyframe, &data);
        } else {
            let Some(mut writer) = s.rtc.writer(mid) else { return };
            if let Some(rid) = rid {
                writer = writer.rid(Rid::from(*rid));
            }
            writer
                .write(pt, Instant::now(), time, data)
                .expect("client writes media");
        }
        if kind == MediaKind::Video {
            s.keyframe_due[i] &= !keyframe;
            s.layer_frames[i] += 1;
        }
    }
    if lost {
        s.lose_next = None;
        s.lost.push(counter);
    }
    s.sent.insert(kind, counter + 1);
}

/// Writes a video frame of `layer` with its picture id (the layer's frame
/// count) and two temporal layers: base and upper frames alternate, and a
/// keyframe is always base. Returns whether its tail was lost instead
/// ([`Client::lose_next_frame`]).
#[allow(clippy::too_many_arguments)]
fn write_with_temporal_layers(
    s: &mut State,
    layer: usize,
    mid: Mid,
    rid: Option<Rid>,
    pt: str0m::media::Pt,
    time: MediaTime,
    keyframe: bool,
    data: &[u8],
) -> bool {
    let temporal_id = if keyframe { 0 } else { (s.layer_frames[layer] % 2) as u8 };
    if temporal_id == 0 {
        s.tl0picidx[layer] = s.tl0picidx[layer].wrapping_add(1);
    }
    let desc = FrameDescriptor {
        non_reference: temporal_id == 1,
        picture_id: Some(PictureId::Long(s.layer_frames[layer] as u16 & 0x7fff)),
        temporal: Some(Temporal {
            tl0picidx: s.tl0picidx[layer],
            temporal_id,
            layer_sync: temporal_id == 1,
        }),
    };
    let lost = !keyframe && s.lose_next == Some((layer, temporal_id));
    if lost {
        s.vp8[layer].lose_tail_of_next_frame();
    }
    let State { rtc, vp8, .. } = s;
    if let Some(stream) = rtc.direct_api().stream_tx_by_mid(mid, rid) {
        vp8[layer].write(stream, pt, Instant::now(), time.numer() as u32, data, &desc);
    }
    lost
}

/// Awaits `fut`, failing the test with `what` if it takes longer than [`PATIENCE`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    within_for(what, PATIENCE, fut).await
}

/// [`within`] with another safety net, for what takes long by design.
pub async fn within_for<T>(what: &str, patience: Duration, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(patience, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
