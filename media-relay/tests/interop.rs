//! Interop: the relay (str0m) with participants on an independent WebRTC
//! stack (webrtc-rs, `tests/webrtc_bot`), real UDP on loopback. Two
//! webrtc-rs bots exchange real Opus audio and VP8 video through the relay;
//! a webrtc-rs bot and a str0m peer do the same across the two stacks.
//!
//! What would fail if interop broke: no connection (ICE-lite, DTLS roles,
//! SRTP profiles), no media (payload types, BUNDLE, re-offers a second stack
//! must accept), audio that does not decode (the tone's level), video that
//! does not start on a keyframe, or frames that arrive altered.

mod common;
mod webrtc_bot;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::*;
use media_relay::{RelayEvent, RelayEvents, RelayHandle, UdpConfig};
use tokio::sync::watch;
use webrtc_bot::WebrtcBot;

/// Either stack, as the signaling stand-in sees it.
#[derive(Clone)]
enum Peer {
    Webrtc(Arc<WebrtcBot>),
    Str0m(Arc<Client>),
}

/// Each participant, and whether its own first answer is in place (only
/// then may it take the relay's offers).
type Peers = Arc<Mutex<HashMap<String, (Peer, watch::Receiver<bool>)>>>;

/// A relay and a signaling stand-in carrying its re-offers to both kinds of peer.
struct Room {
    relay: RelayHandle,
    peers: Peers,
}

impl Room {
    async fn start() -> Room {
        let (relay, events) = media_relay::spawn(UdpConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            public_addr: None,
        })
        .await
        .expect("relay binds");
        let peers = Arc::new(Mutex::new(HashMap::new()));
        tokio::spawn(carry_offers(relay.clone(), events, peers.clone()));
        Room { relay, peers }
    }

    async fn join_webrtc(&self, name: &str, tag: u8) -> Arc<WebrtcBot> {
        let bot = Arc::new(WebrtcBot::start(name, tag).await);
        let (ready, ready_rx) = watch::channel(false);
        self.peers
            .lock()
            .unwrap()
            .insert(name.to_string(), (Peer::Webrtc(bot.clone()), ready_rx));
        self.relay.join("consult".into(), name.into()).await.expect("join");
        let answer = self
            .relay
            .accept_offer(name.into(), bot.create_offer().await)
            .await
            .expect("the relay answers webrtc-rs");
        bot.accept_answer(&answer).await;
        ready.send_replace(true);
        bot
    }

    async fn join_str0m(&self, name: &str, tag: u8) -> Arc<Client> {
        let client = Arc::new(Client::start(name, tag).await);
        let (ready, ready_rx) = watch::channel(false);
        self.peers
            .lock()
            .unwrap()
            .insert(name.to_string(), (Peer::Str0m(client.clone()), ready_rx));
        self.relay.join("consult".into(), name.into()).await.expect("join");
        let answer = self
            .relay
            .accept_offer(name.into(), client.create_offer())
            .await
            .expect("relay answers");
        client.accept_answer(&answer);
        ready.send_replace(true);
        client
    }
}

async fn carry_offers(relay: RelayHandle, mut events: RelayEvents, peers: Peers) {
    while let Some(event) = events.recv().await {
        let RelayEvent::Offer { participant, sdp } = event else {
            continue;
        };
        let entry = peers.lock().unwrap().get(&participant).cloned();
        let Some((peer, mut ready)) = entry else { continue };
        // Its own first answer must be in place before it takes our offer.
        let _ = ready.wait_for(|r| *r).await;
        let answer = match peer {
            Peer::Webrtc(bot) => bot.accept_offer(&sdp).await,
            Peer::Str0m(client) => client.accept_offer(&sdp),
        };
        let _ = relay.accept_answer(participant, answer).await;
    }
}

/// The tone is sent at RMS ≈ 0.18; decoded Opus keeps it well above this.
const TONE_LEVEL: f64 = 0.08;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_webrtc_rs_bots_hold_a_call_through_the_relay() {
    let room = Room::start().await;
    let ana = room.join_webrtc("ana", 1).await;
    let beto = room.join_webrtc("beto", 2).await;

    for (receiver, sender) in [(&ana, &beto), (&beto, &ana)] {
        receiver
            .wait_for(&format!("{}'s tone and video", sender.name), |r| {
                let audio = r.get(&sender.name, MediaKind::Audio);
                let video = r.get(&sender.name, MediaKind::Video);
                audio.packets >= 100 && audio.level > TONE_LEVEL && video.packets >= 60
            })
            .await;
        let r = receiver.report();
        let (audio, video) = (
            r.get(&sender.name, MediaKind::Audio),
            r.get(&sender.name, MediaKind::Video),
        );
        // Loopback loses nothing: one continuous stream each.
        assert_eq!(audio.gaps, 0, "{audio:?}");
        assert_eq!(video.gaps, 0, "{video:?}");
        assert_eq!(video.first_is_keyframe, Some(true), "video must start on a keyframe");
        // Nothing but the other participant's media arrives.
        assert_eq!(r.streams.len(), 2, "{:?}", r.streams.keys());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webrtc_rs_bot_and_a_str0m_peer_interoperate_through_the_relay() {
    let room = Room::start().await;
    let bot = room.join_webrtc("ana", 1).await;
    let peer = room.join_str0m("beto", 2).await;

    // webrtc-rs → relay → str0m: every video frame arrives exactly as sent
    // (the str0m peer checks each byte), and the bot's Opus frames arrive.
    peer.wait_for("the webrtc-rs bot's media", |r| {
        r.count(bot.tag, MediaKind::Video) >= 60 && r.foreign_audio >= 100 || r.corrupt > 0
    })
    .await;
    let r = peer.received();
    assert_eq!(r.corrupt, 0, "frames altered on the way");
    assert!(r.video_from(bot.tag)[0].keyframe, "video must start on a keyframe");

    // str0m → relay → webrtc-rs: RTP arrives in order, video from a keyframe.
    bot.wait_for("the str0m peer's media", |r| {
        r.get("beto", MediaKind::Video).packets >= 60 && r.get("beto", MediaKind::Audio).packets >= 100
    })
    .await;
    let r = bot.report();
    assert_eq!(r.get("beto", MediaKind::Video).gaps, 0);
    assert_eq!(r.get("beto", MediaKind::Video).first_is_keyframe, Some(true));
}
