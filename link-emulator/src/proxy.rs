//! A UDP proxy that puts an emulated link between one participant and the
//! relay: the participant sends to [`LinkProxy::addr`] instead of the relay
//! (the relay's address in the SDP is swapped for it, or the relay announces
//! it), and each direction crosses its own [`Shaper`].
//!
//! One task, two sockets: the one the participant talks to, and one facing
//! the relay (so the relay sees the proxy as the participant's address).

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::UdpSocket;

use crate::shaper::{Impairment, Shaper, ShaperStats};

const RECV_BUFFER: usize = 2048;

struct Link {
    /// Participant → relay.
    up: Shaper,
    /// Relay → participant.
    down: Shaper,
}

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
        let far = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = near.local_addr()?;
        let link = Arc::new(Mutex::new(Link {
            up: Shaper::new(up, 0x5eed_0001),
            down: Shaper::new(down, 0x5eed_0002),
        }));
        let wake = Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn(run(near, far, relay, link.clone(), wake.clone()));
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

async fn run(
    near: UdpSocket,
    far: UdpSocket,
    relay: SocketAddr,
    link: Arc<Mutex<Link>>,
    wake: Arc<tokio::sync::Notify>,
) {
    let mut participant: Option<SocketAddr> = None;
    let mut near_buf = vec![0u8; RECV_BUFFER];
    let mut far_buf = vec![0u8; RECV_BUFFER];
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
            let _ = far.send_to(&p, relay).await;
        }
        if let Some(to) = participant {
            for p in to_participant {
                let _ = near.send_to(&p, to).await;
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
                participant = Some(from);
                let mut l = link.lock().unwrap_or_else(|e| e.into_inner());
                l.up.push(Instant::now(), near_buf[..n].to_vec());
            },
            r = far.recv_from(&mut far_buf) => if let Ok((n, from)) = r {
                // Only the relay's datagrams go back to the participant.
                if from == relay {
                    let mut l = link.lock().unwrap_or_else(|e| e.into_inner());
                    l.down.push(Instant::now(), far_buf[..n].to_vec());
                }
            },
            _ = sleep => {}
            _ = wake.notified() => {}
        }
    }
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
}
