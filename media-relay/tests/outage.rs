//! A subscriber's link goes down for a few seconds and comes back (a
//! dropped cell, a satellite fade): what the relay sent meanwhile is lost,
//! and its estimator learns of the loss all at once when the link returns.
//!
//! What would fail if the relay did not handle it (`outage.rs` in the
//! crate): the subscriber gets delta frames whose references were lost in
//! the outage (a browser shows nothing, or garbage, until it asks for a
//! keyframe itself a second or more later).
//!
//! A publisher's link goes down and comes back: the relay does not NACK
//! what the publisher sent into the outage (`nack_pause.rs`). Those packets
//! are of no use (the video restarts on a keyframe), and the requests hold
//! the stream at the relay until they are answered or given up, and fill
//! the publisher's uplink, just back, with retransmissions.
//!
//! The other half, holding the estimate through the outage and restarting
//! str0m's estimator after it, is unit-tested in the crate and measured with
//! `bench/bench rural --profile dropout`: the collapse it answers came with
//! Chrome's behaviour after an outage (its retransmissions filling its
//! uplink) and did not show with the str0m peers here.

mod common;

use std::time::Duration;

use common::*;
use str0m::media::MediaKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_the_subscriber_restarts_on_a_keyframe_asked_for_at_once() {
    let mut call = Call::start().await;
    // A rural 3G downlink, as in the dropout profile, but without random
    // loss: a keyframe lost on the link would blur what is checked here.
    let three_g = Impairment {
        delay: Duration::from_millis(40),
        ..Impairment::rate(750_000, Duration::from_millis(300))
    };
    let link = LinkProxy::start(call.relay.local_addr(), Impairment::NONE, three_g)
        .await
        .unwrap();
    let ana = call
        .join_with(
            "consult-o",
            "ana",
            PeerOptions {
                simulcast: true,
                ..PeerOptions::default()
            },
            None,
        )
        .await;
    let beto = call
        .join_with("consult-o", "beto", PeerOptions::default(), Some(link.addr()))
        .await;
    beto.wait_for_within("ana's middle layer", Duration::from_secs(45), |r| {
        r.latest_layer(ana.tag) == Some(1)
    })
    .await;

    // Down both ways for 3 s: a scenario's length, not a wait for an event.
    let down = Impairment {
        outage: true,
        ..Impairment::NONE
    };
    link.set(down, down);
    tokio::time::sleep(Duration::from_secs(3)).await;
    link.set(Impairment::NONE, three_g);
    let restored = ana.sent(MediaKind::Video);
    // The relay hears beto again within a few frames (beto sends audio every
    // 20 ms); what ana writes from then on must reach beto starting with a
    // keyframe, which the relay asks for as soon as it hears beto.
    let heard_by = restored + 3;

    beto.wait_for("ana's video after the outage", |r| {
        r.video_from(ana.tag).iter().filter(|f| f.counter >= heard_by).count() > 90
    })
    .await;
    let received = beto.received();
    let after: Vec<_> = received
        .video_from(ana.tag)
        .iter()
        .filter(|f| f.counter >= restored)
        .collect();
    let key = after
        .iter()
        .position(|f| f.keyframe)
        .expect("a keyframe after the outage");
    assert!(
        after[..key].iter().all(|f| f.counter < heard_by),
        "video after the outage went on with delta frames: {:?}",
        &after[..=key]
    );
    // Asked for, not the publisher's periodic one.
    assert_ne!(after[key].counter % KEYFRAME_EVERY, 0, "{:?}", after[key]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_publishers_outage_the_relay_asks_for_none_of_what_it_lost() {
    let mut call = Call::start().await;
    // The publisher behind the link; loopback loses nothing, so any NACK is
    // about the outage.
    let link = LinkProxy::start(call.relay.local_addr(), Impairment::NONE, Impairment::NONE)
        .await
        .unwrap();
    let ana = call.join_with("consult-p", "ana", PeerOptions::default(), None).await;
    let beto = call
        .join_with("consult-p", "beto", PeerOptions::default(), Some(link.addr()))
        .await;
    ana.wait_for("beto's video", |r| r.count(beto.tag, MediaKind::Video) >= 30)
        .await;
    beto.wait_for("a send report", |r| r.send_reports > 0).await;
    let before = beto.received().nacks_received();

    // Down both ways for 3 s (about 90 video frames, each one packet or
    // more): a scenario's length, not a wait for an event.
    let down = Impairment {
        outage: true,
        ..Impairment::NONE
    };
    link.set(down, down);
    tokio::time::sleep(Duration::from_secs(3)).await;
    link.set(Impairment::NONE, Impairment::NONE);
    let restored = beto.sent(MediaKind::Video);

    // Well past str0m's NACK window (100 packets) after the return, and two
    // send reports later, any NACK for the outage would have been counted.
    ana.wait_for("beto's video after the outage", |r| {
        r.video_from(beto.tag).iter().filter(|f| f.counter >= restored).count() > 150
    })
    .await;
    let reports = beto.received().send_reports;
    beto.wait_for("two more send reports", |r| r.send_reports >= reports + 2)
        .await;
    let after = beto.received().nacks_received();
    assert_eq!(after, before, "the relay NACKed packets lost in the outage");
}
