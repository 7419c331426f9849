//! The sans-I/O core under hostile input, with no sockets and no sleeps: a
//! str0m peer negotiates with the relay in memory, then seeded garbage —
//! random bytes, truncated and bit-flipped copies of the peer's real STUN,
//! STUN naming the participant's real ICE username, and datagrams spoofing
//! the peer's address — goes into `Relay::handle_input`. Nothing may panic,
//! every datagram is accounted for, and the participant still answers STUN.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media_relay::engine::{Input, Relay, RelayConfig};
use media_relay::Protocol;
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, Output, Rtc};

struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The peer's next datagram toward the relay (its STUN binding request).
fn next_transmit(rtc: &mut Rtc, mut now: Instant) -> Vec<u8> {
    for _ in 0..100 {
        match rtc.poll_output().unwrap() {
            Output::Transmit(t) => return t.contents.to_vec(),
            Output::Timeout(t) => {
                now = now.max(t);
                rtc.handle_input(str0m::Input::Timeout(now)).unwrap();
            }
            Output::Event(_) => {}
        }
    }
    panic!("the peer never sent anything");
}

#[test]
fn hostile_datagrams_never_panic_and_are_all_accounted_for() {
    let start = Instant::now();
    let relay_addr: SocketAddr = "10.0.0.1:3478".parse().unwrap();
    let peer_addr: SocketAddr = "10.0.0.2:50000".parse().unwrap();
    let mut relay = Relay::new(RelayConfig::new(relay_addr));
    relay.join(start, "consult", "ana").unwrap();

    let mut peer = Rtc::builder().build(start);
    peer.add_local_candidate(Candidate::host(peer_addr, "udp").unwrap());
    let mut api = peer.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let answer = relay.accept_offer(start, "ana", &offer.to_sdp_string()).unwrap();
    assert!(answer.contains("a=ice-lite"), "the relay answers as ICE-lite");
    let ufrag = answer
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .expect("an ICE ufrag in the answer")
        .to_string();
    peer.sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();

    // A real binding request: the relay learns the peer's address from it.
    let stun = next_transmit(&mut peer, start);
    let mut now = start + Duration::from_millis(10);
    relay.handle_input(
        now,
        Input::Receive {
            proto: Protocol::Udp,
            source: peer_addr,
            contents: &stun,
        },
    );
    let replies = std::iter::from_fn(|| relay.poll_transmit())
        .filter(|t| t.destination == peer_addr)
        .count();
    assert!(replies > 0, "the relay answers a real binding request");

    let mut rng = Seeded(0xD1B5_4A32_D192_ED03);
    const N: u64 = 30_000;
    for i in 0..N {
        let mut d: Vec<u8> = match i % 5 {
            0 => (0..1 + rng.next() % 1400).map(|_| rng.next() as u8).collect(),
            1 => stun[..(rng.next() as usize % stun.len())].to_vec(),
            2 => {
                let mut d = stun.clone();
                let at = rng.next() as usize % d.len();
                d[at] ^= 1 << (rng.next() % 8);
                d
            }
            3 => {
                // Our real ufrag, then noise where integrity should be.
                let username = format!("{ufrag}:x");
                let mut d = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
                d.extend((0..12).map(|_| rng.next() as u8));
                d.extend_from_slice(&[0x00, 0x06, 0x00, username.len() as u8]);
                d.extend_from_slice(username.as_bytes());
                d.resize((d.len() + 3) & !3, 0);
                d.extend((0..rng.next() % 64).map(|_| rng.next() as u8));
                let body = (d.len() - 20) as u16;
                d[2..4].copy_from_slice(&body.to_be_bytes());
                d
            }
            // DTLS-, RTP- or RTCP-looking bytes spoofing the peer's address.
            _ => (0..1 + rng.next() % 200).map(|_| rng.next() as u8).collect(),
        };
        if d.is_empty() {
            d.push(0);
        }
        let source = if i % 5 >= 2 {
            peer_addr
        } else {
            SocketAddr::from(([10, 9, 9, (i % 250) as u8], 40000))
        };
        now += Duration::from_micros(50);
        // Some as ICE-TCP frames: a relay without TCP drops them the same way.
        let proto = if i % 7 == 0 { Protocol::Tcp } else { Protocol::Udp };
        relay.handle_input(
            now,
            Input::Receive {
                proto,
                source,
                contents: &d,
            },
        );
        while relay.poll_transmit().is_some() {}
        while relay.poll_event().is_some() {}
    }

    let stats = relay.stats();
    assert_eq!(stats.datagrams_received, N + 1);
    assert!(stats.dropped() <= N, "{stats:?}");
    assert!(
        stats.datagrams_unrouted >= N / 5,
        "random bytes from strangers match nobody: {stats:?}"
    );
    assert_eq!(relay.participant_count(), 1, "garbage does not end a call");

    // And the participant still answers its peer.
    let stun = next_transmit(&mut peer, now);
    relay.handle_input(
        now,
        Input::Receive {
            proto: Protocol::Udp,
            source: peer_addr,
            contents: &stun,
        },
    );
    let replies = std::iter::from_fn(|| relay.poll_transmit())
        .filter(|t| t.destination == peer_addr)
        .count();
    assert!(replies > 0, "the relay still answers a real binding request");
}
