//! The relay over real UDP on 127.0.0.1 with real WebRTC peers (str0m in
//! normal mode; see `common` for why these are not yet interop tests):
//! peers join a consult, exchange audio and video through the relay, a third
//! joins a running call, a simulcast publisher's picture ids and temporal
//! layers reach the subscriber renumbered across a layer switch, garbage on
//! the port is dropped and counted, and leaving cleans up.

mod common;

use common::{within, Call, Client, Impairment, LinkProxy, PeerOptions, VideoFrame};
use media_relay::test_peer::KEYFRAME_EVERY;
use media_relay::{LeaveReason, RelayError, RelayEvent};
use std::time::Duration;
use str0m::media::MediaKind;

use tokio::net::UdpSocket;

/// Under a second of media each: 40 audio frames at 20 ms, 20 video at 33 ms.
const AUDIO_FRAMES: u64 = 40;
const VIDEO_FRAMES: u64 = 20;
/// A layer switch waits on the relay's estimate or its stall detection,
/// seconds by design: a longer safety net than `PATIENCE`.
const SWITCH_PATIENCE: Duration = Duration::from_secs(45);

/// Waits until `receiver` has at least `audio` audio and `video` video frames
/// from `sender` in all, then checks every frame it got is exactly one the
/// sender sent.
async fn wait_media_from(receiver: &Client, sender: &Client, audio: u64, video: u64) {
    let tag = sender.tag;
    receiver
        .wait_for(
            &format!("{audio} audio and {video} video frames from {}", sender.name),
            |r| r.count(tag, MediaKind::Audio) >= audio && r.count(tag, MediaKind::Video) >= video,
        )
        .await;
    let r = receiver.received();
    assert_eq!(r.corrupt, 0, "{} got frames nobody sent", receiver.name);
    for kind in [MediaKind::Audio, MediaKind::Video] {
        let max = r.max_counter[&(tag, kind)];
        assert!(
            max < sender.sent(kind),
            "{} got {kind:?} frame {max} that {} never sent",
            receiver.name,
            sender.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_exchange_audio_and_video_through_the_relay() {
    let mut call = Call::start().await;
    let ana = call.join("consult-1", "ana").await;
    let beto = call.join("consult-1", "beto").await;

    wait_media_from(&ana, &beto, AUDIO_FRAMES, VIDEO_FRAMES).await;
    wait_media_from(&beto, &ana, AUDIO_FRAMES, VIDEO_FRAMES).await;

    // Nobody hears themselves: the relay forwards only to the others.
    assert_eq!(ana.received().count(ana.tag, MediaKind::Audio), 0);
    assert_eq!(beto.received().count(beto.tag, MediaKind::Video), 0);
    call.wait_event(
        "ana connected",
        |e| matches!(e, RelayEvent::ParticipantConnected { participant } if participant == "ana"),
    )
    .await;
    call.wait_event(
        "beto connected",
        |e| matches!(e, RelayEvent::ParticipantConnected { participant } if participant == "beto"),
    )
    .await;
}

/// Decision 0019: the relay writes each forwarded VP8 frame's picture id,
/// TL0PICIDX and temporal layer, renumbered into one series across layer
/// switches, so a receiver can decode the base layer past a lost upper-layer
/// frame. Without them it would take each frame to depend on the one before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picture_ids_and_temporal_layers_reach_the_subscriber_in_one_series_across_a_switch() {
    let mut call = Call::start().await;
    let options = PeerOptions {
        simulcast: true,
        temporal_layers: true,
        ..PeerOptions::default()
    };
    let ana = call.join_with("consult-1", "ana", options, None).await;
    let beto = call.join("consult-1", "beto").await;

    // At least one switch: up as the relay's estimate of beto's link grows,
    // or down when ana's encoder stops the layer he has.
    let tag = ana.tag;
    beto.wait_for("30 frames of ana's video", |r| r.video_from(tag).len() >= 30)
        .await;
    let first = beto.received().latest_layer(tag).expect("a frame");
    if first > 0 {
        ana.stall_layer(usize::from(first), true);
    }
    beto.wait_for_within(
        "ana's video on another layer, and 30 frames of it",
        SWITCH_PATIENCE,
        |r| {
            let frames = r.video_from(tag);
            let switched = frames.iter().rposition(|f| f.layer == first);
            switched.is_some_and(|last| frames[last + 1..].len() >= 30)
        },
    )
    .await;

    let frames = beto.received().video_from(tag).to_vec();
    let fields = |f: &VideoFrame| (f.picture_id, f.tl0picidx, f.temporal_id);
    for (i, f) in frames.iter().enumerate() {
        assert!(
            f.picture_id.is_some() && f.tl0picidx.is_some() && f.temporal_id.is_some(),
            "frame {i} came without picture id or temporal layer: {f:?}"
        );
        assert!(
            !f.keyframe || f.temporal_id == Some(0),
            "keyframe {i} not on the base layer: {f:?}"
        );
    }
    for (i, pair) in frames.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        let (pid_a, tl0_a, _) = fields(a);
        let (pid_b, tl0_b, tid_b) = fields(b);
        assert_eq!(
            pid_b,
            pid_a.map(|p| p + 1),
            "picture id not one on at frame {}: {a:?} then {b:?}",
            i + 1
        );
        // The relay numbers the packets it cuts: nothing is lost on
        // loopback, and a frame it does not forward leaves no hole.
        assert_eq!(
            b.first_seq,
            a.last_seq + 1,
            "packets not numbered one on at frame {}: {a:?} then {b:?}",
            i + 1
        );
        // A base-layer frame (a switch's keyframe included) starts the next
        // TL0PICIDX; an upper-layer frame belongs to the base frame before it.
        let step = u64::from(tid_b == Some(0));
        assert_eq!(
            tl0_b,
            tl0_a.map(|t| t + step),
            "TL0PICIDX off at frame {}: {a:?} then {b:?}",
            i + 1
        );
    }
    assert!(
        frames.iter().any(|f| f.temporal_id == Some(1)),
        "no upper temporal layer frame came through"
    );
}

/// The relay numbers the packets of its VP8 streams itself (decision 0019),
/// and str0m must still answer a subscriber's NACKs from them: behind a
/// link that loses 3 % of what reaches him, every frame of the layer beto
/// gets arrives, repaired by retransmission, none given up on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_a_lossy_link_gets_every_frame_through_retransmission() {
    let mut call = Call::start().await;
    let lossy = Impairment {
        loss: 0.03,
        delay: Duration::from_millis(20),
        ..Impairment::NONE
    };
    let link = LinkProxy::start(call.relay.local_addr(), Impairment::NONE, lossy)
        .await
        .unwrap();
    let options = PeerOptions {
        simulcast: true,
        temporal_layers: true,
        ..PeerOptions::default()
    };
    let ana = call.join_with("consult-1", "ana", options, None).await;
    let beto = call
        .join_with("consult-1", "beto", PeerOptions::default(), Some(link.addr()))
        .await;

    let tag = ana.tag;
    beto.wait_for_within("150 frames of ana's video", SWITCH_PATIENCE, |r| {
        r.video_from(tag).len() >= 150
    })
    .await;
    let (_, down) = link.stats();
    assert!(
        down.dropped_loss >= 10,
        "the link lost too little to test repair: {down:?}"
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
        "frames lost for good (before, after): {given_up:?}; link {down:?}"
    );
}

/// A video frame lost for good on the way to the relay (its last packet
/// never sent, the relay's NACKs unanswered, str0m gives it up). An upper
/// temporal layer's: the base frame after it goes on as it is (decision
/// 0033). A base frame: nothing after it is forwarded until a keyframe, as
/// everything after it refers to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_lost_for_good_costs_a_keyframe_only_on_the_base_layer() {
    let mut call = Call::start().await;
    // Simulcast for frames of several packets (the top layer's): str0m
    // gives up a frame it has only part of.
    let options = PeerOptions {
        simulcast: true,
        temporal_layers: true,
        ..PeerOptions::default()
    };
    let ana = call.join_with("consult-6", "ana", options, None).await;
    let beto = call.join("consult-6", "beto").await;
    let tag = ana.tag;
    beto.wait_for_within("ana's top layer", SWITCH_PATIENCE, |r| r.latest_layer(tag) == Some(2))
        .await;

    for (temporal_id, what) in [(1, "an upper frame"), (0, "a base frame")] {
        // The loss shows only on the layer beto gets; should the allocator
        // switch beto's layer around it (a loaded machine), try again.
        for attempt in 1.. {
            // Well clear of ana's periodic keyframes, which would restart
            // the picture anyway.
            beto.wait_for("ana's video, between her keyframes", |r| {
                r.video_from(tag)
                    .last()
                    .is_some_and(|f| (10..40).contains(&(f.counter % KEYFRAME_EVERY)))
            })
            .await;
            let layer = beto.received().latest_layer(tag).expect("a layer");
            let lost_before = ana.lost_frames().len();
            ana.lose_next_frame(usize::from(layer), temporal_id);
            beto.wait_for("frames after the lost one", |r| {
                r.video_from(tag)
                    .last()
                    .is_some_and(|f| f.counter % KEYFRAME_EVERY >= 50)
            })
            .await;
            let lost = ana.lost_frames()[lost_before];
            let received = beto.received();
            let frames = received.video_from(tag);
            let after = frames
                .iter()
                .find(|f| f.counter > lost)
                .expect("a frame after the lost one");
            let stayed = frames
                .iter()
                .filter(|f| f.counter + 5 > lost && f.counter <= lost)
                .all(|f| f.layer == layer);
            if !stayed || (temporal_id > 0 && after.layer != layer) {
                assert!(
                    attempt < 3,
                    "{what} lost on layer {layer}: beto's layer changed around it every time"
                );
                continue;
            }
            if temporal_id == 0 {
                assert!(
                    after.keyframe,
                    "{what} lost: frame {} forwarded, not a keyframe",
                    after.counter
                );
            } else {
                assert_eq!(
                    (after.counter, after.keyframe),
                    (lost + 1, false),
                    "{what} lost: the base frame after it did not go on"
                );
            }
            assert_eq!(received.corrupt, 0);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_participant_joins_a_running_call() {
    let mut call = Call::start().await;
    let ana = call.join("consult-2", "ana").await;
    let beto = call.join("consult-2", "beto").await;
    wait_media_from(&ana, &beto, AUDIO_FRAMES, VIDEO_FRAMES).await;

    let carla = call.join("consult-2", "carla").await;
    for (receiver, senders) in [
        (&carla, [&ana, &beto]),
        (&ana, [&beto, &carla]),
        (&beto, [&ana, &carla]),
    ] {
        for sender in senders {
            let audio_before = receiver.received().count(sender.tag, MediaKind::Audio);
            let video_before = receiver.received().count(sender.tag, MediaKind::Video);
            wait_media_from(
                receiver,
                sender,
                audio_before + AUDIO_FRAMES,
                video_before + VIDEO_FRAMES,
            )
            .await;
        }
    }
    assert_eq!(call.relay.participant_count().await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_isolated() {
    let mut call = Call::start().await;
    let ana = call.join("consult-a", "ana").await;
    let beto = call.join("consult-a", "beto").await;
    let dora = call.join("consult-b", "dora").await;
    let eli = call.join("consult-b", "eli").await;
    wait_media_from(&ana, &beto, AUDIO_FRAMES, VIDEO_FRAMES).await;
    wait_media_from(&eli, &dora, AUDIO_FRAMES, VIDEO_FRAMES).await;
    for (receiver, stranger) in [(&ana, &dora), (&ana, &eli), (&dora, &ana), (&eli, &beto)] {
        let r = receiver.received();
        assert_eq!(
            r.count(stranger.tag, MediaKind::Audio) + r.count(stranger.tag, MediaKind::Video),
            0
        );
    }
}

/// Seeded xorshift: the same garbage on every run.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Random bytes, truncated STUN, or well-formed STUN naming an ICE
    /// username the relay never issued.
    fn datagram(&mut self, i: usize) -> Vec<u8> {
        let len = 1 + (self.next() % 300) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
        match i % 3 {
            0 => d,
            1 => {
                d.splice(0..d.len().min(8), [0x00, 0x01, 0x00, 0x20, 0x21, 0x12, 0xA4, 0x42]);
                d.truncate(1 + (self.next() % 28) as usize);
                d
            }
            _ => {
                let username = b"nobody00:peer";
                let mut m = vec![0x00, 0x01, 0x00, 20, 0x21, 0x12, 0xA4, 0x42];
                m.extend((0..12).map(|_| self.next() as u8));
                m.extend_from_slice(&[0x00, 0x06, 0x00, username.len() as u8]);
                m.extend_from_slice(username);
                m.extend_from_slice(&[0, 0, 0]);
                m
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_datagrams_are_dropped_and_counted_while_the_call_flows() {
    let mut call = Call::start().await;
    let ana = call.join("consult-3", "ana").await;
    let beto = call.join("consult-3", "beto").await;
    wait_media_from(&ana, &beto, AUDIO_FRAMES, VIDEO_FRAMES).await;
    wait_media_from(&beto, &ana, AUDIO_FRAMES, VIDEO_FRAMES).await;

    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = call.relay.local_addr();
    let before = call.relay.stats().await.unwrap().dropped();
    let mut garbage = Garbage(0x9E37_79B9_7F4A_7C15);
    const TOTAL: u64 = 10_000;
    // Small enough that a batch fits the kernel's default receive buffer
    // (each datagram costs a couple of KiB of buffer there, whatever its size).
    const BATCH: u64 = 40;
    let mut sent = 0;
    while sent < TOTAL {
        for _ in 0..BATCH {
            attacker
                .send_to(&garbage.datagram(sent as usize), relay_addr)
                .await
                .unwrap();
            sent += 1;
        }
        // Flow control, not timing: let the relay drain each batch so the
        // kernel's receive buffer never has to drop any.
        within("relay to count the batch", async {
            while call.relay.stats().await.unwrap().dropped() < before + sent {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
    let stats = call.relay.stats().await.unwrap();
    assert_eq!(
        stats.dropped(),
        before + TOTAL,
        "every garbage datagram counted once: {stats:?}"
    );

    // The call is still flowing both ways afterwards.
    let a = ana.received();
    let b = beto.received();
    wait_media_from(
        &ana,
        &beto,
        a.count(beto.tag, MediaKind::Audio) + AUDIO_FRAMES,
        a.count(beto.tag, MediaKind::Video) + VIDEO_FRAMES,
    )
    .await;
    wait_media_from(
        &beto,
        &ana,
        b.count(ana.tag, MediaKind::Audio) + AUDIO_FRAMES,
        b.count(ana.tag, MediaKind::Video) + VIDEO_FRAMES,
    )
    .await;
}

/// Waits for the relay to re-offer `who` with a stopped video m-line: the
/// sign that a departed participant's tracks were taken away.
async fn wait_reoffer_without_video(call: &mut Call, who: &str) {
    call.wait_event(
        "re-offer without the departed video",
        |e| matches!(e, RelayEvent::Offer { participant, sdp } if participant == who && sdp.contains("m=video 0")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_removes_the_participant_and_the_room() {
    let mut call = Call::start().await;
    let ana = call.join("consult-4", "ana").await;
    let beto = call.join("consult-4", "beto").await;
    wait_media_from(&beto, &ana, AUDIO_FRAMES, VIDEO_FRAMES).await;

    call.relay.leave("ana".into()).await.unwrap();
    call.wait_event(
        "ana left",
        |e| matches!(e, RelayEvent::ParticipantLeft { participant, reason: LeaveReason::Left } if participant == "ana"),
    )
    .await;
    assert_eq!(call.relay.participant_count().await.unwrap(), 1);
    // Beto is re-offered without ana's tracks; the offer is answered by the
    // signaling stand-in, and beto's media still flows to nobody harmlessly.
    wait_reoffer_without_video(&mut call, "beto").await;

    call.relay.leave("beto".into()).await.unwrap();
    assert_eq!(call.relay.participant_count().await.unwrap(), 0);
    assert_eq!(
        call.relay.leave("beto".into()).await,
        Err(RelayError::UnknownParticipant("beto".into()))
    );
    drop(ana);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_that_vanishes_is_removed_with_everything_it_held() {
    let mut call = Call::start().await;
    let ana = call.join("consult-5", "ana").await;
    let beto = call.join("consult-5", "beto").await;
    wait_media_from(&beto, &ana, AUDIO_FRAMES, VIDEO_FRAMES).await;
    let ana_addr = ana.addr;

    // Ana's phone loses its network: no leave, no close, just silence.
    call.forget("ana");
    drop(ana);
    // ICE consent runs out (15 s without a binding request in ICE-lite).
    call.wait_event_within("ana dropped by the relay", Duration::from_secs(40), |e| {
        matches!(e, RelayEvent::ParticipantLeft { participant, reason: LeaveReason::Disconnected } if participant == "ana")
    })
    .await;
    assert_eq!(call.relay.participant_count().await.unwrap(), 1);
    // Beto is offered the stop of ana's tracks, and keeps its own call.
    wait_reoffer_without_video(&mut call, "beto").await;
    // Nothing routes to ana any more: a datagram from her old address is a stranger's.
    let before = call.relay.stats().await.unwrap();
    let ghost = UdpSocket::bind(ana_addr).await.unwrap();
    ghost
        .send_to(&[0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1], call.relay.local_addr())
        .await
        .unwrap();
    within("the ghost datagram counted", async {
        while call.relay.stats().await.unwrap().datagrams_unrouted == before.datagrams_unrouted {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // And when beto goes too, the relay holds nobody.
    call.relay.leave("beto".into()).await.unwrap();
    assert_eq!(call.relay.participant_count().await.unwrap(), 0);
    drop(beto);
}

#[tokio::test]
async fn bad_requests_are_errors_not_panics() {
    let call = within("relay", Call::start()).await;
    let relay = &call.relay;
    assert!(matches!(
        relay.accept_offer("nobody".into(), "v=0".into()).await,
        Err(RelayError::BadSdp(_))
    ));
    relay.join("r".into(), "ana".into()).await.unwrap();
    assert_eq!(
        relay.join("r".into(), "ana".into()).await,
        Err(RelayError::AlreadyJoined("ana".into()))
    );
    assert!(matches!(
        relay.accept_offer("ana".into(), "not sdp at all".into()).await,
        Err(RelayError::BadSdp(_))
    ));
    assert!(matches!(
        relay.accept_answer("ana".into(), "garbage\r\n".into()).await,
        Err(RelayError::BadSdp(_))
    ));
    let client = Client::start("ana", 1).await;
    // Well-formed SDP, but the relay asked ana nothing.
    assert_eq!(
        relay.accept_answer("ana".into(), client.create_offer()).await,
        Err(RelayError::NoPendingOffer("ana".into()))
    );
    assert!(matches!(
        relay.accept_offer("ghost".into(), client.create_offer()).await,
        Err(RelayError::UnknownParticipant(_))
    ));
    for name in ["b", "c", "d", "e", "f"] {
        relay.join("r".into(), name.into()).await.unwrap();
    }
    assert!(matches!(
        relay.join("r".into(), "g".into()).await,
        Err(RelayError::RoomFull { max: 6, .. })
    ));
    for name in ["ana", "b", "c", "d", "e", "f"] {
        relay.leave(name.into()).await.unwrap();
    }
    assert_eq!(relay.participant_count().await.unwrap(), 0);
}
