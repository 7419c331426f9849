//! A subscriber whose ICE and DTLS take seconds to come up (a satellite
//! link's 600 ms round trip) gets nothing of what was published meanwhile.
//!
//! What would fail without the relay's gate (`Participant::connected`):
//! str0m accepts frames written before DTLS is up and sends them all at
//! once when it completes. In `bench/bench rural --profile satellite` that
//! was 4 s of the specialist's video in 0.75 s, which set Chrome's playout
//! clock running 10 % fast for the rest of the call: the patient's picture
//! froze every 5.5 s (decision 0009). Here the subscriber's first frame
//! would be one the publisher sent about two seconds before the subscriber
//! could receive anything.

mod common;

use std::time::Duration;

use common::*;
use media_relay::RelayEvent;
use str0m::media::MediaKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_connects_late_starts_on_a_keyframe_sent_after_it_connected() {
    let mut call = Call::start().await;
    let satellite = Impairment {
        delay: Duration::from_millis(300),
        ..Impairment::NONE
    };
    let link = LinkProxy::start(call.relay.local_addr(), satellite, satellite)
        .await
        .unwrap();
    let ana = call.join("consult-late", "ana").await;
    call.wait_event(
        "ana connected",
        |e| matches!(e, RelayEvent::ParticipantConnected { participant } if participant == "ana"),
    )
    .await;
    let beto = call
        .join_with("consult-late", "beto", PeerOptions::default(), Some(link.addr()))
        .await;
    call.wait_event(
        "beto connected",
        |e| matches!(e, RelayEvent::ParticipantConnected { participant } if participant == "beto"),
    )
    .await;
    // Read once the test hears of the connection, a little after the relay
    // did: ana's frames from a few before this on may legitimately come.
    let sent_at_connect = ana.sent(MediaKind::Video);
    let before_connect = beto.received().count(ana.tag, MediaKind::Video);

    beto.wait_for("30 of ana's frames", |r| r.video_from(ana.tag).len() >= 30)
        .await;
    let received = beto.received();
    let first = received.video_from(ana.tag)[0];
    assert_eq!(before_connect, 0, "nothing can arrive before DTLS is up");
    assert!(first.keyframe, "the stream starts on a keyframe: {first:?}");
    // Fifteen frames (0.5 s) for the moments between the relay's event and
    // this test reading ana's counter on a loaded machine; a backlog from
    // before the connection is what ana sends while ICE and DTLS come up
    // here, 45 frames when measured.
    assert!(
        first.counter + 15 >= sent_at_connect,
        "beto's first frame is ana's frame {} though ana had sent {sent_at_connect} when beto connected: \
         a backlog from before the connection was sent",
        first.counter
    );
}
