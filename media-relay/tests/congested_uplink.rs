//! A publisher's uplink congests: the relay asks it to resend lost packets
//! of its lowest simulcast layer only (`nack_pause.rs`).
//!
//! What would fail if the rule broke: the relay NACKs the higher layers'
//! losses too. A browser's pacer sends retransmissions before new media, so
//! on a patient's collapsed uplink those requests held back the lowest
//! layer, the one the specialist was about to be switched to, for seconds
//! (`bench/bench rural --profile step-down`).

mod common;

use std::time::Duration;

use common::*;
use str0m::media::Rid;

/// NACKs the publisher has received for one of its encodings.
fn nacks_for(r: &Received, rid: &str) -> u64 {
    let rid = Rid::from(rid);
    r.nacks
        .iter()
        .filter(|((_, r), _)| *r == Some(rid))
        .map(|(_, &n)| n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_congested_uplink_only_the_lowest_layer_is_repaired() {
    let mut call = Call::start().await;
    let link = LinkProxy::start(call.relay.local_addr(), Impairment::NONE, Impairment::NONE)
        .await
        .unwrap();
    let ana = call.join_with("consult-n", "ana", PeerOptions::default(), None).await;
    let beto = call
        .join_with(
            "consult-n",
            "beto",
            PeerOptions {
                simulcast: true,
                ..PeerOptions::default()
            },
            Some(link.addr()),
        )
        .await;
    // Every layer flowing: ana takes beto's top one (her estimate climbs
    // to it by probing, over seconds).
    ana.wait_for_within("beto's top layer", Duration::from_secs(45), |r| {
        r.latest_layer(beto.tag) == Some(2)
    })
    .await;
    beto.wait_for("a send report", |r| r.send_reports > 0).await;
    let (low, top) = (RIDS[0], RIDS[2]);

    // A quarter of what beto sends is lost from now on: heavy loss, as at
    // a bottleneck's queue when an uplink collapses.
    link.set(
        Impairment {
            loss: 0.25,
            ..Impairment::NONE
        },
        Impairment::NONE,
    );
    // The relay learns of the loss from its next stats report (every
    // 250 ms); until then it NACKs every layer, as on any link.
    beto.wait_for("NACKs for the lowest layer", |r| nacks_for(r, low) >= 5)
        .await;
    // beto's counts are a snapshot every 500 ms: one more, so that what the
    // relay sent before it knew is counted.
    let reports = beto.received().send_reports;
    beto.wait_for("the next send report", |r| r.send_reports > reports)
        .await;
    let top_then = nacks_for(&beto.received(), top);
    let low_then = nacks_for(&beto.received(), low);
    beto.wait_for("20 more NACKs for the lowest layer", |r| {
        nacks_for(r, low) >= low_then + 20
    })
    .await;
    let top_now = nacks_for(&beto.received(), top);
    assert_eq!(
        top_now,
        top_then,
        "the top layer, which sends more packets than the lowest, was NACKed {} times more",
        top_now - top_then
    );

    // The congestion ends; light loss goes on. A second after the last
    // heavy loss, and 100 packets of the top layer later (str0m's NACK
    // window, clear of the congestion's losses), they are repaired again.
    link.set(
        Impairment {
            loss: 0.02,
            ..Impairment::NONE
        },
        Impairment::NONE,
    );
    beto.wait_for("NACKs for the top layer on a lossy, uncongested uplink", |r| {
        nacks_for(r, top) > top_now
    })
    .await;
}
