//! A UDP proxy that puts an emulated link between one participant and the
//! relay: the participant sends to [`LinkProxy::addr`] instead of the relay
//! (the relay's address in the SDP is swapped for it, or the relay announces
//! it), and each direction crosses its own [`Shaper`].
//!
//! The proxy behaves like a NAT on the participant's path: each address the
//! participant sends from gets its own relay-facing socket, so the relay
//! sees one remote address per participant socket and answers each on its
//! own path. (A browser gathers a host candidate per interface and checks
//! from all of them; with one shared relay-facing socket, the relay's
//! answers went to whichever socket spoke last, and the DTLS handshake
//! of the pair ICE chose never completed.) Both directions share the link's
//! two shapers, as flows on one access link do.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::UdpSocket;

use crate::shaper::{Impairment, Shaper, ShaperStats};

const RECV_BUFFER: usize = 2048;

struct Link {
    /// Participant → relay.
    up: Shaper<Datagram>,
    /// Relay → participant.
    down: Shaper<Datagram>,
}

/// A datagram on the emulated link, and which participant socket (flow)
/// it belongs to.
struct Datagram {
    flow: usize,
    bytes: Vec<u8>,
}

impl AsRef<[u8]> for Datagram {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// One participant socket and its relay-facing socket.
struct Flow {
    participant: SocketAddr,
    far: Arc<UdpSocket>,
}

/// The most participant sockets one proxy serves (a browser has a few).
const MAX_FLOWS: usize = 16;

/// A running proxy; dropping it stops the task.
pub struct LinkProxy {
    addr: SocketAddr,
    link: Arc<Mutex<Link>>,
    wake: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LinkProxy {
    /// Starts a proxy on 127.0.0.1 in front of `relay`.
    pub async fn start(relay: SocketAddr, up: Impairment, down: Impairment) -> io::Result<LinkProxy> {
        let near = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = near.local_addr()?;
        let link = Arc::new(Mutex::new(Link {
            up: Shaper::new(up, 0x5eed_0001),
            down: Shaper::new(down, 0x5eed_0002),
        }));
        let wake = Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn(run(near, relay, link.clone(), wake.clone()));
        Ok(LinkProxy { addr, link, wake, task })
    }

    /// The address the participant must send to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes both directions from now on (a scripted step).
    pub fn set(&self, up: Impairment, down: Impairment) {
        let mut link = self.link.lock().unwrap_or_else(|e| e.into_inner());
        link.up.set(up);
        link.down.set(down);
        drop(link);
        self.wake.notify_one();
    }

    /// Changes only the relay → participant direction.
    pub fn set_down(&self, down: Impairment) {
        let up = self.link.lock().unwrap_or_else(|e| e.into_inner()).up.config();
        self.set(up, down);
    }

    /// (up, down) counters.
    pub fn stats(&self) -> (ShaperStats, ShaperStats) {
        let link = self.link.lock().unwrap_or_else(|e| e.into_inner());
        (link.up.stats(), link.down.stats())
    }
}

async fn run(near: UdpSocket, relay: SocketAddr, link: Arc<Mutex<Link>>, wake: Arc<tokio::sync::Notify>) {
    let mut flows: Vec<Flow> = Vec::new();
    // What the relay sends, from every flow's socket, tagged with the flow.
    let (from_relay_tx, mut from_relay) = tokio::sync::mpsc::unbounded_channel::<Datagram>();
    let mut readers = tokio::task::JoinSet::new();
    let mut near_buf = vec![0u8; RECV_BUFFER];
    loop {
        let (mut to_relay, mut to_participant) = (Vec::new(), Vec::new());
        let next = {
            let mut l = link.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            while let Some(p) = l.up.poll(now) {
                to_relay.push(p);
            }
            while let Some(p) = l.down.poll(now) {
                to_participant.push(p);
            }
            l.up.next_ready().into_iter().chain(l.down.next_ready()).min()
        };
        for p in to_relay {
            if let Some(flow) = flows.get(p.flow) {
                let _ = flow.far.send_to(&p.bytes, relay).await;
            }
        }
        for p in to_participant {
            if let Some(flow) = flows.get(p.flow) {
                let _ = near.send_to(&p.bytes, flow.participant).await;
            }
        }
        let sleep = async {
            match next {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = near.recv_from(&mut near_buf) => if let Ok((n, from)) = r {
                let Some(flow) = flow_of(&mut flows, from, &mut readers, &from_relay_tx, relay).await else {
                    continue;
                };
                let mut l = link.lock().unwrap_or_else(|e| e.into_inner());
                l.up.push(Instant::now(), Datagram { flow, bytes: near_buf[..n].to_vec() });
            },
            Some(d) = from_relay.recv() => {
                let mut l = link.lock().unwrap_or_else(|e| e.into_inner());
                l.down.push(Instant::now(), d);
            },
            _ = sleep => {}
            _ = wake.notified() => {}
        }
    }
}

/// The flow of participant socket `from`, opening its relay-facing socket
/// the first time it speaks. `None` past [`MAX_FLOWS`] or if no socket can
/// be bound: that datagram is dropped, as a full NAT table would.
async fn flow_of(
    flows: &mut Vec<Flow>,
    from: SocketAddr,
    readers: &mut tokio::task::JoinSet<()>,
    from_relay: &tokio::sync::mpsc::UnboundedSender<Datagram>,
    relay: SocketAddr,
) -> Option<usize> {
    if let Some(i) = flows.iter().position(|f| f.participant == from) {
        return Some(i);
    }
    if flows.len() >= MAX_FLOWS {
        return None;
    }
    let far = Arc::new(UdpSocket::bind("127.0.0.1:0").await.ok()?);
    let flow = flows.len();
    let reader = far.clone();
    let tx = from_relay.clone();
    readers.spawn(async move {
        let mut buf = vec![0u8; RECV_BUFFER];
        while let Ok((n, source)) = reader.recv_from(&mut buf).await {
            // Only the relay's datagrams go back to the participant.
            if source == relay
                && tx
                    .send(Datagram {
                        flow,
                        bytes: buf[..n].to_vec(),
                    })
                    .is_err()
            {
                break;
            }
        }
    });
    flows.push(Flow { participant: from, far });
    Some(flow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn datagrams_cross_both_ways_and_the_downlink_is_limited() {
        let relay = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let proxy = LinkProxy::start(
            relay.local_addr().unwrap(),
            Impairment::NONE,
            Impairment::rate(400_000, Duration::from_millis(100)),
        )
        .await
        .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(b"hello", proxy.addr()).await.unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = relay.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        // 200 kB at once toward a 400 kbit/s link with 5 kB of queue: most is dropped.
        for _ in 0..200 {
            relay.send_to(&[0u8; 1000], from).await.unwrap();
        }
        let mut got = 0;
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(300), client.recv_from(&mut buf)).await {
            got += 1;
        }
        let (_, down) = proxy.stats();
        assert_eq!(got, down.packets_out);
        assert!(got < 20 && got > 0, "{got}");
        // The kernel may drop part of the burst before the proxy reads it;
        // of what the link got, the queue limit dropped the excess.
        assert_eq!(down.packets_in, down.packets_out + down.dropped_queue);
        assert!(down.dropped_queue > 2 * got, "{down:?}");
    }

    #[tokio::test]
    async fn each_participant_socket_gets_its_own_path_to_the_relay_and_back() {
        // A browser checks from a socket per interface: the relay must see
        // them as distinct addresses, and each answer reach the socket it
        // answers.
        let relay = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let proxy = LinkProxy::start(relay.local_addr().unwrap(), Impairment::NONE, Impairment::NONE)
            .await
            .unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.send_to(b"from a", proxy.addr()).await.unwrap();
        let mut buf = [0u8; 2048];
        let (_, seen_a) = relay.recv_from(&mut buf).await.unwrap();
        b.send_to(b"from b", proxy.addr()).await.unwrap();
        let (n, seen_b) = relay.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"from b");
        assert_ne!(seen_a, seen_b, "one relay-facing address per participant socket");
        // Answer a after b has spoken: it still goes to a.
        relay.send_to(b"to a", seen_a).await.unwrap();
        let wait = Duration::from_secs(5);
        let (n, _) = tokio::time::timeout(wait, a.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"to a");
        relay.send_to(b"to b", seen_b).await.unwrap();
        let (n, _) = tokio::time::timeout(wait, b.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"to b");
        // Nothing of b's reached a.
        let stray = tokio::time::timeout(Duration::from_millis(200), a.recv_from(&mut buf)).await;
        assert!(stray.is_err(), "a got b's datagram");
    }
}
