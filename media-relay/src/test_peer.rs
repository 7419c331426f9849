//! A browser stand-in for tests, compiled only with the `test-peer` feature:
//! a str0m peer in normal (non-lite, controlling) mode on a real UDP socket
//! that sends synthetic Opus-sized audio and VP8 keyframe-headed video and
//! counts what it receives, frame by frame.
//!
//! The relay's own tests and the signaling server's `/ws` media tests both
//! use it. Both ends share one WebRTC implementation, so these are **not**
//! the independent-stack interop tests (the `webrtc` crate participant comes
//! later). No sleeps synchronise anything: media is paced by intervals, as a
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
use str0m::media::{Direction, Frequency, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{watch, Notify};
/// Safety net for every wait; a healthy test finishes far sooner.
pub const PATIENCE: Duration = Duration::from_secs(20);

const AUDIO_EVERY: Duration = Duration::from_millis(20);
const VIDEO_EVERY: Duration = Duration::from_millis(33);

/// The synthetic frame a client with `tag` sends as its `counter`-th frame of
/// `kind`: unique per sender, kind and frame, so a receiver can tell exactly
/// who sent what. Video frames start with a VP8 keyframe header (frame tag
/// with the key bit clear, start code, 320×240) so every frame can start a
/// decoder.
pub fn payload(tag: u8, kind: MediaKind, counter: u32) -> Vec<u8> {
    let mut p = match kind {
        MediaKind::Audio => vec![0xFC, b'A'],
        MediaKind::Video => vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, b'V'],
    };
    p.push(tag);
    p.extend_from_slice(&counter.to_be_bytes());
    p.extend((0..24u8).map(|i| i ^ tag));
    p
}

/// Which sender, kind and frame a payload is, if it is one `payload` made.
fn parse_payload(data: &[u8]) -> Option<(u8, MediaKind, u32)> {
    let (kind, at) = match data.first()? {
        0xFC => (MediaKind::Audio, 2),
        0x10 => (MediaKind::Video, 11),
        _ => return None,
    };
    let tag = *data.get(at)?;
    let counter = u32::from_be_bytes(data.get(at + 1..at + 5)?.try_into().ok()?);
    (payload(tag, kind, counter) == data).then_some((tag, kind, counter))
}

#[derive(Default, Debug, Clone)]
pub struct Received {
    /// Frames received per (sender tag, kind).
    pub frames: HashMap<(u8, MediaKind), u64>,
    /// Highest frame counter received per (sender tag, kind).
    pub max_counter: HashMap<(u8, MediaKind), u32>,
    /// Frames that were not exactly what some client sent.
    pub corrupt: u64,
}

impl Received {
    pub fn count(&self, tag: u8, kind: MediaKind) -> u64 {
        self.frames.get(&(tag, kind)).copied().unwrap_or(0)
    }
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
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client socket");
        let addr = socket.local_addr().unwrap();
        let mut rtc = Rtc::builder().build(Instant::now());
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
            None,
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

    pub fn is_negotiated(&self) -> bool {
        self.state.lock().unwrap().negotiated
    }

    /// Waits until `done` holds for what this client has received.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Received) -> bool) {
        let mut changed = self.changed.clone();
        let wait = async {
            loop {
                if done(&self.received()) {
                    return;
                }
                changed.changed().await.expect("client task alive");
            }
        };
        within(&format!("{}: {what}", self.name), wait).await;
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
                    Some((from, kind, counter)) => {
                        *s.received.frames.entry((from, kind)).or_default() += 1;
                        let max = s.received.max_counter.entry((from, kind)).or_default();
                        *max = (*max).max(counter);
                    }
                    None => s.received.corrupt += 1,
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
    let Some(writer) = s.rtc.writer(mid) else { return };
    let Some(pt) = writer
        .payload_params()
        .find(|p| p.spec().codec == codec)
        .map(|p| p.pt())
    else {
        return;
    };
    let time = match kind {
        MediaKind::Audio => MediaTime::new(counter as u64 * 960, Frequency::FORTY_EIGHT_KHZ),
        MediaKind::Video => MediaTime::new(counter as u64 * 2970, Frequency::NINETY_KHZ),
    };
    writer
        .write(pt, Instant::now(), time, payload(tag, kind, counter))
        .expect("client writes media");
    s.sent.insert(kind, counter + 1);
}

/// Awaits `fut`, failing the test with `what` if it takes longer than [`PATIENCE`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
