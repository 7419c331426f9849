//! Passive ICE-TCP on the relay's port number: the answer names a
//! `tcptype passive` candidate on that port, and hostile TCP clients
//! (framed garbage, impossible lengths, half frames, a crowd of connections)
//! are dropped, counted or disconnected without disturbing a call in progress.
//! A browser's media over ICE-TCP is tested in Chromium
//! (`tests/browser/ice-tcp.test.js`).

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const AUDIO_FRAMES: u64 = 50;
const VIDEO_FRAMES: u64 = 30;

async fn wait_more_media(receiver: &Client, sender: &Client) {
    let r = receiver.received();
    let (audio, video) = (
        r.count(sender.tag, MediaKind::Audio) + AUDIO_FRAMES,
        r.count(sender.tag, MediaKind::Video) + VIDEO_FRAMES,
    );
    receiver
        .wait_for(&format!("{} from {}", receiver.name, sender.name), |r| {
            r.count(sender.tag, MediaKind::Audio) >= audio && r.count(sender.tag, MediaKind::Video) >= video
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_offers_a_passive_tcp_candidate_on_the_media_port() {
    let call = Call::start_with_tcp().await;
    let client = Client::start("ana", 1).await;
    call.relay.join("consult".into(), "ana".into()).await.unwrap();
    let answer = call
        .relay
        .accept_offer("ana".into(), client.create_offer())
        .await
        .unwrap();
    let port = call.relay.local_addr().port();
    let tcp = answer
        .lines()
        .find(|l| l.starts_with("a=candidate:") && l.contains(" tcp "))
        .unwrap_or_else(|| panic!("no TCP candidate in\n{answer}"));
    assert!(tcp.contains(&format!(" 127.0.0.1 {port} typ host")), "{tcp}");
    assert!(tcp.contains("tcptype passive"), "{tcp}");
    // UDP stays first choice: a browser uses TCP only when UDP fails.
    let udp = answer
        .lines()
        .find(|l| l.starts_with("a=candidate:") && l.contains(" udp "))
        .unwrap();
    let priority = |l: &str| l.split_whitespace().nth(3).unwrap().parse::<u64>().unwrap();
    assert!(priority(udp) > priority(tcp), "{udp}\n{tcp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tcp_clients_do_not_disturb_a_call() {
    let mut call = Call::start_with_tcp().await;
    let ana = call.join("consult-t", "ana").await;
    let beto = call.join("consult-t", "beto").await;
    wait_more_media(&ana, &beto).await;
    wait_more_media(&beto, &ana).await;
    let addr = call.relay.local_addr();
    let before = call.relay.stats().await.unwrap();

    // Well-framed garbage: each frame is routed like a datagram, matches
    // nobody and is counted.
    const FRAMES: u64 = 500;
    let mut framed = TcpStream::connect(addr).await.unwrap();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..FRAMES {
        let len = 1 + (i as usize * 7) % 300;
        let mut frame = (len as u16).to_be_bytes().to_vec();
        frame.extend((0..len).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        }));
        framed.write_all(&frame).await.unwrap();
    }
    within("the framed garbage to be counted", async {
        while call.relay.stats().await.unwrap().dropped() < before.dropped() + FRAMES {
            tokio::task::yield_now().await;
        }
    })
    .await;

    // Impossible lengths get the connection closed; so does nothing else.
    for bad in [[0u8, 0u8], [0xff, 0xff]] {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(&bad).await.unwrap();
        let mut buf = [0u8; 16];
        let read = within("the relay to close a bad connection", conn.read(&mut buf)).await;
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    // Half a frame, then gone; and a crowd of idle connections.
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(&[0, 200, 1, 2, 3]).await.unwrap();
    drop(half);
    let mut crowd = Vec::new();
    for _ in 0..100 {
        crowd.push(TcpStream::connect(addr).await.unwrap());
    }

    // The call goes on both ways, and nobody was added or lost.
    wait_more_media(&ana, &beto).await;
    wait_more_media(&beto, &ana).await;
    assert_eq!(call.relay.participant_count().await.unwrap(), 2);
    let after = call.relay.stats().await.unwrap();
    assert_eq!(after.dropped() - before.dropped(), FRAMES, "{after:?}");
    drop((crowd, framed));
}
