//! Per-subscriber adaptation end to end: a simulcast publisher, a subscriber
//! behind a user-space shaped link (`link-emulator`) on loopback, and the
//! relay choosing that subscriber's layer from its TWCC estimate.
//!
//! What would fail if adaptation broke: the subscriber stays on one layer
//! when its link shrinks or grows; a switch starts on a non-keyframe; the
//! RTP timestamps jump backwards at a switch; video is not paused (or audio
//! stops) under a very low limit; the publisher keeps sending layers nobody
//! takes; a subscriber whose layer the publisher stopped sending is not
//! told its video is paused while it waits for the lower layer's keyframe,
//! or is told so when only its own link was short.

mod common;

use std::time::Duration;

use common::*;
use media_relay::{PauseReason, RelayEvent};

/// Adaptation runs over seconds (hold times, probing): a longer net than
/// [`PATIENCE`], still only a safety net.
const ADAPT_PATIENCE: Duration = Duration::from_secs(45);

async fn wait_long(client: &Client, what: &str, done: impl Fn(&Received) -> bool) {
    client.wait_for_within(what, ADAPT_PATIENCE, done).await;
}

/// Every switch of layer starts on a keyframe, and the RTP timestamps the
/// subscriber sees only move forward. Returns the layer sequence.
///
/// The one exception is a keyframe the *link* lost (the shaper drops under
/// congestion, which is exactly when switches happen): then there is a gap
/// in sequence numbers right before the first frame the subscriber got. A
/// relay that switched on a delta frame would show no gap.
fn check_switches(frames: &[VideoFrame]) -> Vec<u8> {
    let mut layers = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if i == 0 || frames[i - 1].layer != f.layer {
            let lost_before = i > 0 && f.first_seq != frames[i - 1].last_seq + 1;
            assert!(
                f.keyframe || lost_before,
                "frame {i} starts layer {} without a keyframe: {:?}",
                f.layer,
                &frames[i.saturating_sub(3)..(i + 3).min(frames.len())]
            );
            layers.push(f.layer);
        }
        if i > 0 {
            assert!(
                f.rtp_time > frames[i - 1].rtp_time,
                "timestamp went back at frame {i}: {} after {}",
                f.rtp_time,
                frames[i - 1].rtp_time
            );
        }
    }
    layers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_subscriber_moves_down_a_layer_and_back_up() {
    let mut call = Call::start().await;
    let link = LinkProxy::start(call.relay.local_addr(), Impairment::NONE, Impairment::NONE)
        .await
        .unwrap();
    let simulcast = PeerOptions {
        simulcast: true,
        ..PeerOptions::default()
    };
    let ana = call.join_with("consult-1", "ana", simulcast, None).await;
    let beto = call
        .join_with("consult-1", "beto", PeerOptions::default(), Some(link.addr()))
        .await;

    // Unlimited: the estimate climbs by probing and beto reaches the top layer.
    wait_long(&beto, "ana's top layer", |r| r.latest_layer(ana.tag) == Some(2)).await;

    // 400 kbit/s: audio plus the lowest layer (~150 kbit/s) fit, the middle does not.
    let events_before = call.events().len();
    link.set_down(Impairment::rate(400_000, Duration::from_millis(200)));
    wait_long(&beto, "ana's lowest layer", |r| r.latest_layer(ana.tag) == Some(0)).await;
    // Nobody takes the top layer now: ana is told to stop it (once it has
    // gone untaken for `STOP_HOLD`).
    call.wait_event_since("ana told to drop unused layers", events_before, |e| {
        matches!(e, RelayEvent::LayersWanted { participant, rids, .. }
            if participant == "ana" && !rids.iter().any(|r| r == "f"))
    })
    .await;
    assert!(!ana.active_layers()[2], "ana still sends the top layer");
    let audio_before = beto.received().count(ana.tag, MediaKind::Audio);
    beto.wait_for("audio through the squeeze", |r| {
        r.count(ana.tag, MediaKind::Audio) > audio_before + 50
    })
    .await;

    // The link recovers: back up to the top layer, which ana resumes sending.
    link.set_down(Impairment::NONE);
    let frames_before = beto.received().video_from(ana.tag).len();
    wait_long(&beto, "ana's top layer again", |r| {
        r.video_from(ana.tag)[frames_before..].iter().any(|f| f.layer == 2)
    })
    .await;
    assert!(ana.active_layers()[2], "ana was not told to resume the top layer");

    let received = beto.received();
    let layers = check_switches(received.video_from(ana.tag));
    assert!(layers.contains(&0) && layers.last() == Some(&2), "{layers:?}");
    // Only beto's own link was short: ana's network is not blamed.
    assert!(
        !call.events().iter().any(
            |e| matches!(e, RelayEvent::VideoPaused { participant, reason: PauseReason::NoLayers, .. }
            if participant == "beto")
        ),
        "beto told ana's network paused her video: {:?}",
        call.events()
    );
    assert_eq!(received.corrupt, 0);
    // Sequence numbers continue across every switch made on a clean link
    // (the last one): the subscriber sees one stream, not three.
    let frames = received.video_from(ana.tag);
    let up = frames.iter().rposition(|f| f.layer != 2).expect("a switch up") + 1;
    assert_eq!(
        frames[up].first_seq,
        frames[up - 1].last_seq + 1,
        "sequence gap at the switch up"
    );
}

/// The relay's top-layer cap (decision 0032): beto's link carries 1.1
/// Mbit/s, never ana's 1.2 Mbit/s top layer. Ana is asked to keep that
/// layer under beto's share, follows it as a browser does, and beto gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_layer_no_subscriber_can_take_is_capped_until_one_can() {
    let mut call = Call::start().await;
    let link = LinkProxy::start(
        call.relay.local_addr(),
        Impairment::NONE,
        Impairment::rate(1_100_000, Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let publisher = PeerOptions {
        simulcast: true,
        follows_caps: true,
        ..PeerOptions::default()
    };
    let ana = call.join_with("consult-4", "ana", publisher, None).await;
    let beto = call
        .join_with("consult-4", "beto", PeerOptions::default(), Some(link.addr()))
        .await;

    wait_long(&beto, "ana's top layer, capped", |r| r.latest_layer(ana.tag) == Some(2)).await;
    let cap = call
        .events()
        .iter()
        .rev()
        .filter_map(|e| match e {
            RelayEvent::LayersWanted {
                participant, max_bps, ..
            } if participant == "ana" => max_bps.iter().find(|(rid, _)| rid == "f").map(|&(_, bps)| bps),
            _ => None,
        })
        .next();
    assert!(
        cap.is_some_and(|bps| bps < 1_100_000),
        "ana's top layer not capped under beto's link: {cap:?}"
    );
    assert_eq!(beto.received().corrupt, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_very_low_limit_video_pauses_audio_flows_and_video_comes_back() {
    let mut call = Call::start().await;
    let link = LinkProxy::start(call.relay.local_addr(), Impairment::NONE, Impairment::NONE)
        .await
        .unwrap();
    let ana = call
        .join_with(
            "consult-2",
            "ana",
            PeerOptions {
                simulcast: true,
                ..PeerOptions::default()
            },
            None,
        )
        .await;
    let beto = call
        .join_with("consult-2", "beto", PeerOptions::default(), Some(link.addr()))
        .await;
    beto.wait_for("ana's video", |r| r.count(ana.tag, MediaKind::Video) > 30)
        .await;

    // 110 kbit/s: room for audio, not for even the lowest video layer.
    link.set_down(Impairment::rate(110_000, Duration::from_millis(300)));
    call.wait_event("beto's video paused", |e| {
        matches!(e, RelayEvent::VideoPaused { participant, origin, reason: PauseReason::Bandwidth }
            if participant == "beto" && origin == "ana")
    })
    .await;
    // What was queued before the pause drains (relay pacer, link queue);
    // then a whole second of audio arrives with no video at all.
    let mut quiet_second = false;
    for _ in 0..10 {
        let video = beto.received().count(ana.tag, MediaKind::Video);
        let audio = beto.received().count(ana.tag, MediaKind::Audio);
        beto.wait_for("audio while paused", |r| {
            r.count(ana.tag, MediaKind::Audio) > audio + 50
        })
        .await;
        if beto.received().count(ana.tag, MediaKind::Video) == video {
            quiet_second = true;
            break;
        }
    }
    assert!(quiet_second, "video kept coming while paused: {:?}", call.events());
    // Every frame ana sends from now on reaches the relay after the pause.
    // Taken after the quiet second, not at the pause notice: a send queue
    // that fills is told as a pause for bandwidth too (`participant.rs`), a
    // moment before the allocator's own pause, and a keyframe asked for in
    // between may still get through (2 runs in 110 did so, 2026-12-06).
    let sent_at_pause = ana.sent(MediaKind::Video);
    assert!(
        !call
            .events()
            .iter()
            .any(|e| matches!(e, RelayEvent::VideoResumed { participant, .. } if participant == "beto")),
        "resumed while the link was still at 110 kbit/s: {:?}",
        call.events()
    );

    // The link recovers: video resumes by itself, starting on a keyframe.
    link.set_down(Impairment::NONE);
    call.wait_event(
        "beto's video resumed",
        |e| matches!(e, RelayEvent::VideoResumed { participant, origin } if participant == "beto" && origin == "ana"),
    )
    .await;
    // Counted at the resume: video from before the pause still in str0m's
    // queue can come out when the link recovers, before it (seen: frames
    // sent before the quiet second, in one burst, 2026-12-06).
    let frames_before = beto.received().video_from(ana.tag).len();
    beto.wait_for("video after the pause", |r| {
        r.video_from(ana.tag).len() > frames_before + 10
    })
    .await;
    // What ana sent after the pause went through the rewriter anew and must
    // start on a keyframe, with nothing older behind it.
    let received = beto.received();
    let frames = received.video_from(ana.tag);
    let first_new = frames
        .iter()
        .position(|f| f.counter >= sent_at_pause)
        .expect("frames sent after the pause arrived");
    assert!(
        first_new >= frames_before,
        "video sent while paused arrived before the resume: {:?}",
        &frames[first_new..frames_before]
    );
    assert!(
        frames[first_new].keyframe,
        "resumed on a non-keyframe: {:?}",
        &frames[first_new.saturating_sub(3)..]
    );
    // The relay stops queueing video that cannot leave (`send_queue.rs`):
    // without that, frames sent before the pause came out of str0m's queue
    // 2.4 s later, after the link had recovered. Checked here: none comes
    // after the first new frame. One frame from before the pause can still
    // come out after the resume, just ahead of its keyframe, most likely
    // kept in str0m's queue through the pause (a stricter check failed 7
    // of 42 runs so, 2.6 ms ahead of the keyframe; 2026-12-06).
    assert!(
        frames[first_new..].iter().all(|f| f.counter >= sent_at_pause),
        "a frame from before the pause came after the resume: {:?}",
        &frames[first_new..]
    );
    check_switches(frames);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_its_publisher_stops_sending_is_told_as_paused_until_the_lower_keyframe() {
    let mut call = Call::start().await;
    let ana = call
        .join_with(
            "consult-3",
            "ana",
            PeerOptions {
                simulcast: true,
                ..PeerOptions::default()
            },
            None,
        )
        .await;
    let beto = call.join("consult-3", "beto").await;
    wait_long(&beto, "ana's top layer", |r| r.latest_layer(ana.tag) == Some(2)).await;

    // ana's encoder drops its top layer, as a browser does on a congested
    // uplink, and the lower layer's keyframe is slow to come through it
    // (held here until the test lets it go, so the wait is certain).
    ana.hold_keyframes(true);
    let events_before = call.events().len();
    let frames_before = beto.received().video_from(ana.tag).len();
    ana.stall_layer(2, true);
    call.wait_event_since("beto told ana's video is paused", events_before, |e| {
        matches!(e, RelayEvent::VideoPaused { participant, origin, reason: PauseReason::NoLayers }
            if participant == "beto" && origin == "ana")
    })
    .await;

    // While no keyframe can come, nothing else of ana's video reaches beto
    // and the pause stands: a second of ana's audio arrives meanwhile.
    let audio = beto.received().count(ana.tag, MediaKind::Audio);
    beto.wait_for("a second of audio while paused", |r| {
        r.count(ana.tag, MediaKind::Audio) > audio + 50
    })
    .await;
    let received = beto.received();
    let waiting = &received.video_from(ana.tag)[frames_before..];
    assert!(
        waiting.iter().all(|f| f.layer == 2),
        "a lower layer reached beto with no keyframe: {waiting:?}"
    );

    // The keyframe comes: beto is told the video is back, and it starts on
    // that keyframe of a lower layer. Up to here, with no keyframe sent,
    // nothing may have told beto it was back.
    let events_held = call.events();
    ana.hold_keyframes(false);
    assert!(
        !events_held.iter().skip(events_before).any(
            |e| matches!(e, RelayEvent::VideoResumed { participant, origin } if participant == "beto" && origin == "ana")
        ),
        "resumed with no keyframe sent: {events_held:?}"
    );
    call.wait_event_since(
        "beto told ana's video is back",
        events_before,
        |e| matches!(e, RelayEvent::VideoResumed { participant, origin } if participant == "beto" && origin == "ana"),
    )
    .await;
    beto.wait_for("ana's lower layer", |r| {
        r.video_from(ana.tag)[frames_before..].iter().any(|f| f.layer < 2)
    })
    .await;
    let received = beto.received();
    let frames = received.video_from(ana.tag);
    let first_lower = frames_before
        + frames[frames_before..]
            .iter()
            .position(|f| f.layer < 2)
            .expect("a lower layer arrived");
    assert!(
        frames[first_lower].keyframe,
        "the lower layer started on a delta frame: {:?}",
        &frames[first_lower.saturating_sub(2)..(first_lower + 2).min(frames.len())]
    );
    check_switches(frames);
}
