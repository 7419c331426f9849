//! The relay's only I/O: one tokio task owning the one UDP socket, the ICE-TCP
//! connections' queues ([`crate::tcp`], on the same port number) and the
//! [`Relay`] core, and a cheap [`RelayHandle`] that talks to it over a bounded
//! channel. The task moves datagrams in and out, sleeps until the core's next
//! timeout, and forwards the core's events; every decision is in the core.
//!
//! Why one task and no lock: every `Rtc` lives in the task, so media never
//! waits on a mutex held by signaling; a command is one message and its
//! reply one `oneshot`.
//!
//! Backpressure: commands queue in a bounded channel (a flood of joins waits
//! rather than grows memory). Events go out on a bounded channel too, and the
//! task waits when it is full, so the signaling layer must keep reading
//! [`RelayEvents`]; dropping the receiver is fine (events are then discarded).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::net::Protocol;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::engine::{Input, Relay, RelayConfig, RelayEvent, RelayStats};
use crate::error::RelayError;
use crate::stats::ParticipantStats;
use crate::tcp::{self, TcpEvent};

const COMMAND_QUEUE: usize = 64;
const EVENT_QUEUE: usize = 256;
/// Larger than any datagram WebRTC sends (str0m keeps to ~1200 bytes).
const RECV_BUFFER: usize = 2048;
/// Frames from all ICE-TCP connections waiting for the relay task.
const TCP_QUEUE: usize = 1024;
/// How long the task sleeps when no `Rtc` has a timer (an empty relay).
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// Where to listen and what to announce.
#[derive(Debug, Clone)]
pub struct UdpConfig {
    /// The local socket address, e.g. `0.0.0.0:3478` (or `127.0.0.1:0` in tests).
    pub bind: SocketAddr,
    /// The address peers reach the socket at; `None` = the bound address
    /// (right when bound to a concrete, reachable IP).
    pub public_addr: Option<SocketAddr>,
    /// Also listen for ICE-TCP on the same port number and announce it. On
    /// an ephemeral `bind` port the relay tries up to [`EPHEMERAL_TRIES`]
    /// ports for one free for both; if that TCP port is taken (or none
    /// was found), the relay runs on UDP alone (and says so).
    pub tcp: bool,
}

/// Receives the relay's [`RelayEvent`]s; read it continuously.
pub type RelayEvents = mpsc::Receiver<RelayEvent>;

/// A cheap, cloneable handle to the running relay task. The task stops when
/// the last handle is dropped.
#[derive(Debug, Clone)]
pub struct RelayHandle {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
    public_addr: SocketAddr,
}

type Reply<T> = oneshot::Sender<Result<T, RelayError>>;

#[derive(Debug)]
enum Command {
    Join {
        room: String,
        participant: String,
        via: Option<SocketAddr>,
        reply: Reply<()>,
    },
    AcceptOffer {
        participant: String,
        sdp: String,
        reply: Reply<String>,
    },
    AcceptAnswer {
        participant: String,
        sdp: String,
        reply: Reply<()>,
    },
    Leave {
        participant: String,
        reply: Reply<()>,
    },
    ParticipantCount {
        reply: Reply<usize>,
    },
    Stats {
        reply: Reply<RelayStats>,
    },
    ParticipantStats {
        reply: Reply<Vec<ParticipantStats>>,
    },
}

/// How many ephemeral UDP ports to try for one whose number is also free
/// for TCP. Taking the first one, ICE-TCP was off now and then because that
/// number was some other TCP connection's local port (seen once in a test
/// run, with the relay tests beside Postgres clients and browsers).
const EPHEMERAL_TRIES: usize = 20;

/// The media socket and, when asked for, the TCP listener on the same port
/// number; without it (that number taken for TCP) the relay goes on with
/// UDP only, as browsers prefer it anyway.
async fn bind_media(config: &UdpConfig) -> io::Result<(UdpSocket, Option<TcpListener>)> {
    let tries = if config.tcp && config.bind.port() == 0 {
        EPHEMERAL_TRIES
    } else {
        1
    };
    // Ports whose number was taken for TCP stay bound until the end, so
    // the next try gets another one.
    let mut taken = Vec::new();
    for _ in 0..tries {
        let socket = UdpSocket::bind(config.bind).await?;
        if !config.tcp {
            return Ok((socket, None));
        }
        let local_addr = socket.local_addr()?;
        match TcpListener::bind(local_addr).await {
            Ok(listener) => return Ok((socket, Some(listener))),
            Err(e) => taken.push((socket, e)),
        }
    }
    let Some((socket, e)) = taken.pop() else {
        return Err(io::Error::other("no port tried"));
    };
    tracing::warn!(media_port = %socket.local_addr()?, error = %e, "ICE-TCP off: cannot listen on the media port");
    Ok((socket, None))
}

/// Binds the socket (and the TCP listener) and starts the relay task on the
/// current tokio runtime.
pub async fn spawn(config: UdpConfig) -> io::Result<(RelayHandle, RelayEvents)> {
    let (socket, listener) = bind_media(&config).await?;
    let local_addr = socket.local_addr()?;
    let public_addr = config.public_addr.unwrap_or(local_addr);
    let tcp_frames = listener.map(|listener| {
        let (tx, rx) = mpsc::channel(TCP_QUEUE);
        tokio::spawn(tcp::serve(listener, tx));
        rx
    });
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (event_tx, events) = mpsc::channel(EVENT_QUEUE);
    let relay = Relay::new(RelayConfig {
        tcp: tcp_frames.is_some(),
        ..RelayConfig::new(public_addr)
    });
    tokio::spawn(run(socket, tcp_frames, relay, command_rx, event_tx));
    Ok((
        RelayHandle {
            commands,
            local_addr,
            public_addr,
        },
        events,
    ))
}

impl RelayHandle {
    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address announced to peers as the relay's host candidate.
    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    pub async fn join(&self, room: String, participant: String) -> Result<(), RelayError> {
        self.join_via(room, participant, None).await
    }

    /// Joins announcing `via` (a link emulator) to this participant instead
    /// of the relay's own address; see [`crate::Relay::join_via`].
    pub async fn join_via(&self, room: String, participant: String, via: Option<SocketAddr>) -> Result<(), RelayError> {
        self.ask(|reply| Command::Join {
            room,
            participant,
            via,
            reply,
        })
        .await
    }

    /// Answers a participant's SDP offer; returns the SDP answer.
    pub async fn accept_offer(&self, participant: String, sdp_offer: String) -> Result<String, RelayError> {
        self.ask(|reply| Command::AcceptOffer {
            participant,
            sdp: sdp_offer,
            reply,
        })
        .await
    }

    /// Takes the answer to a [`RelayEvent::Offer`].
    pub async fn accept_answer(&self, participant: String, sdp_answer: String) -> Result<(), RelayError> {
        self.ask(|reply| Command::AcceptAnswer {
            participant,
            sdp: sdp_answer,
            reply,
        })
        .await
    }

    pub async fn leave(&self, participant: String) -> Result<(), RelayError> {
        self.ask(|reply| Command::Leave { participant, reply }).await
    }

    pub async fn participant_count(&self) -> Result<usize, RelayError> {
        self.ask(|reply| Command::ParticipantCount { reply }).await
    }

    pub async fn stats(&self) -> Result<RelayStats, RelayError> {
        self.ask(|reply| Command::Stats { reply }).await
    }

    /// Every participant's link figures (bitrates, estimate, loss, RTT, layers).
    pub async fn participant_stats(&self) -> Result<Vec<ParticipantStats>, RelayError> {
        self.ask(|reply| Command::ParticipantStats { reply }).await
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, RelayError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| RelayError::RelayGone)?;
        answer.await.map_err(|_| RelayError::RelayGone)?
    }
}

async fn run(
    socket: UdpSocket,
    mut tcp_frames: Option<mpsc::Receiver<TcpEvent>>,
    mut relay: Relay,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<RelayEvent>,
) {
    let mut buf = vec![0u8; RECV_BUFFER];
    // Each open ICE-TCP connection's write queue, by its peer address.
    let mut tcp_writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    loop {
        while let Some(t) = relay.poll_transmit() {
            match t.proto {
                Protocol::Tcp => {
                    // A connection that cannot keep up loses packets, as a
                    // congested UDP path would; the relay never waits on it.
                    if let Some(writer) = tcp_writers.get(&t.destination) {
                        let _ = writer.try_send(t.contents);
                    }
                }
                // UDP is lossy anyway; a failed send (e.g. an unreachable
                // peer) is what ICE consent and NACK exist for.
                _ => {
                    if let Err(e) = socket.send_to(&t.contents, t.destination).await {
                        tracing::debug!(error = %e, to = %t.destination, "send failed");
                    }
                }
            }
        }
        while let Some(e) = relay.poll_event() {
            // A closed receiver means nobody listens; the relay still serves media.
            let _ = events.send(e).await;
        }
        let deadline = relay.poll_timeout().unwrap_or_else(|| Instant::now() + IDLE_WAKE);
        tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, source)) => relay.handle_input(
                    Instant::now(),
                    Input::Receive { proto: Protocol::Udp, source, contents: &buf[..n] },
                ),
                // E.g. an ICMP port-unreachable reported on some platforms.
                Err(e) => tracing::debug!(error = %e, "recv failed"),
            },
            event = next_tcp_event(&mut tcp_frames) => match event {
                Some(TcpEvent::Opened { peer, writer }) => {
                    tcp_writers.insert(peer, writer);
                }
                Some(TcpEvent::Frame { peer, contents }) => relay.handle_input(
                    Instant::now(),
                    Input::Receive { proto: Protocol::Tcp, source: peer, contents: &contents },
                ),
                Some(TcpEvent::Closed { peer }) => {
                    tcp_writers.remove(&peer);
                }
                None => tcp_frames = None,
            },
            command = commands.recv() => match command {
                Some(c) => execute(&mut relay, c),
                None => break,
            },
            _ = tokio::time::sleep_until(deadline.into()) => relay.handle_input(Instant::now(), Input::Timeout),
        }
    }
    tracing::debug!("relay task stopped: every handle dropped");
}

/// The next ICE-TCP event; never, without TCP.
async fn next_tcp_event(frames: &mut Option<mpsc::Receiver<TcpEvent>>) -> Option<TcpEvent> {
    match frames {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn execute(relay: &mut Relay, command: Command) {
    let now = Instant::now();
    // A caller that stopped waiting for its reply is no error of ours.
    match command {
        Command::Join {
            room,
            participant,
            via,
            reply,
        } => {
            let _ = reply.send(relay.join_via(now, &room, &participant, via));
        }
        Command::AcceptOffer {
            participant,
            sdp,
            reply,
        } => {
            let _ = reply.send(relay.accept_offer(now, &participant, &sdp));
        }
        Command::AcceptAnswer {
            participant,
            sdp,
            reply,
        } => {
            let _ = reply.send(relay.accept_answer(now, &participant, &sdp));
        }
        Command::Leave { participant, reply } => {
            let _ = reply.send(relay.leave(now, &participant));
        }
        Command::ParticipantCount { reply } => {
            let _ = reply.send(Ok(relay.participant_count()));
        }
        Command::Stats { reply } => {
            let _ = reply.send(Ok(relay.stats()));
        }
        Command::ParticipantStats { reply } => {
            let _ = reply.send(Ok(relay.participant_stats()));
        }
    }
}
