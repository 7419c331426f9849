//! The relay sends each RTCP report that asks for something twice
//! (`rtcp_echo`, decision 0035), so a lost NACK does not cost its packet an
//! extra round trip. Here a publisher sits behind a link that loses the
//! first copy of every such datagram toward it, and some of its media on
//! the way up: the lost media must still be resent, which only the second
//! copies of the relay's NACKs can ask for.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Call, PeerOptions};
use tokio::net::UdpSocket;

/// Long enough for a layer switch on a loaded machine, as in `relay_udp.rs`.
const PATIENCE: Duration = Duration::from_secs(45);
/// Every this many RTP packets the publisher sends, one is lost.
const LOSE_EVERY: u64 = 25;

/// RTCP (RFC 5761's payload types) other than a TWCC report, whose second
/// copy the relay does not send. Written out here rather than taken from
/// the relay, so the test does not grade the relay by its own rule.
fn asks_for_something(d: &[u8]) -> bool {
    d.len() >= 2 && (128..=191).contains(&d[0]) && (192..=223).contains(&d[1]) && !(d[1] == 205 && d[0] & 0x1f == 15)
}

fn is_rtp(d: &[u8]) -> bool {
    d.len() >= 2 && (128..=191).contains(&d[0]) && !(192..=223).contains(&d[1])
}

/// A one-participant UDP proxy in front of the relay that loses every
/// [`LOSE_EVERY`]th RTP packet going up, and the first copy of every RTCP
/// datagram coming down that [`asks_for_something`] (a datagram it has seen
/// before is a second copy and goes through).
struct FirstCopyLoser {
    addr: SocketAddr,
    first_copies_lost: Arc<AtomicU64>,
    media_lost: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FirstCopyLoser {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FirstCopyLoser {
    async fn start(relay: SocketAddr) -> FirstCopyLoser {
        let near = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let far = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = near.local_addr().unwrap();
        let first_copies_lost = Arc::new(AtomicU64::new(0));
        let media_lost = Arc::new(AtomicU64::new(0));
        let (first, media) = (first_copies_lost.clone(), media_lost.clone());
        let task = tokio::spawn(async move {
            let (mut up_buf, mut down_buf) = ([0u8; 2048], [0u8; 2048]);
            let mut participant = None;
            let mut rtp_up = 0u64;
            let mut seen = HashSet::new();
            loop {
                tokio::select! {
                    Ok((n, from)) = near.recv_from(&mut up_buf) => {
                        participant = Some(from);
                        let d = &up_buf[..n];
                        if is_rtp(d) {
                            rtp_up += 1;
                            if rtp_up.is_multiple_of(LOSE_EVERY) {
                                media.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        }
                        let _ = far.send_to(d, relay).await;
                    }
                    Ok((n, _)) = far.recv_from(&mut down_buf) => {
                        let d = &down_buf[..n];
                        if asks_for_something(d) && seen.insert(d.to_vec()) {
                            first.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        if let Some(to) = participant {
                            let _ = near.send_to(d, to).await;
                        }
                    }
                }
            }
        });
        FirstCopyLoser {
            addr,
            first_copies_lost,
            media_lost,
            task,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_never_gets_a_first_copy_of_a_nack_still_resends() {
    let mut call = Call::start().await;
    let link = FirstCopyLoser::start(call.relay.local_addr()).await;
    let options = PeerOptions {
        simulcast: true,
        temporal_layers: true,
        ..PeerOptions::default()
    };
    let ana = call.join_with("consult-1", "ana", options, Some(link.addr)).await;
    let beto = call.join("consult-1", "beto").await;

    let tag = ana.tag;
    beto.wait_for_within("150 frames of ana's video", PATIENCE, |r| {
        r.video_from(tag).len() >= 150
    })
    .await;
    let (first_copies, media) = (
        link.first_copies_lost.load(Ordering::Relaxed),
        link.media_lost.load(Ordering::Relaxed),
    );
    assert!(
        first_copies >= 10 && media >= 10,
        "the link lost too little to test: {first_copies} first copies, {media} media packets"
    );
    // A frame given up on shows as a jump in the frame counter within a
    // layer, without a keyframe to restart on.
    let frames = beto.received().video_from(tag).to_vec();
    let given_up: Vec<_> = frames
        .windows(2)
        .filter(|p| p[1].layer == p[0].layer && !p[1].keyframe && p[1].counter != p[0].counter + 1)
        .map(|p| (p[0].counter, p[1].counter))
        .collect();
    assert!(
        given_up.is_empty(),
        "frames lost for good (before, after): {given_up:?}; {media} media packets lost"
    );
    let echoes = call.relay.stats().await.unwrap().rtcp_echoes_sent;
    assert!(
        echoes >= first_copies,
        "{echoes} second copies sent, {first_copies} first copies lost"
    );
}
