//! A relay plus a stand-in for the signaling server, for tests and the relay
//! benchmark (feature `test-peer`): it carries the relay's re-offers to
//! [`Client`]s and their answers back, tells publishers which layers are
//! wanted, and keeps every event for assertions.
//!
//! No sleeps synchronise anything: tests wait on state changes with a
//! timeout only as a safety net.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::test_peer::{within_for, Client, PeerOptions};
use crate::{RelayEvent, RelayEvents, RelayHandle, UdpConfig};

/// A relay plus the signaling stand-in: carries each `RelayEvent::Offer` to
/// its client and the answer back, and keeps every event for assertions.
pub struct Call {
    pub relay: RelayHandle,
    clients: Arc<Mutex<HashMap<String, Arc<Client>>>>,
    events: watch::Receiver<Vec<RelayEvent>>,
    next_tag: u8,
}

impl Call {
    /// Starts a relay on 127.0.0.1 in this runtime.
    pub async fn start() -> Call {
        Call::start_on(false).await
    }

    /// Starts a relay that also takes ICE-TCP on its port number.
    pub async fn start_with_tcp() -> Call {
        Call::start_on(true).await
    }

    async fn start_on(tcp: bool) -> Call {
        let (relay, events) = crate::spawn(UdpConfig {
            bind: "127.0.0.1:0".parse().expect("literal address"),
            public_addr: None,
            tcp,
        })
        .await
        .expect("relay binds");
        Call::with_relay(relay, events)
    }

    /// Drives a relay started elsewhere (e.g. on its own thread, to measure it).
    pub fn with_relay(relay: RelayHandle, events: RelayEvents) -> Call {
        let clients = Arc::new(Mutex::new(HashMap::new()));
        let (log_tx, log) = watch::channel(Vec::new());
        tokio::spawn(signal(relay.clone(), events, clients.clone(), log_tx));
        Call {
            relay,
            clients,
            events: log,
            next_tag: 1,
        }
    }

    /// A new client joins `room`: join, offer, answer.
    pub async fn join(&mut self, room: &str, name: &str) -> Arc<Client> {
        self.join_with(room, name, PeerOptions::default(), None).await
    }

    /// A client joins with `options`, reaching the relay through `link`
    /// when given: the relay announces the link's address to it.
    pub async fn join_with(
        &mut self,
        room: &str,
        name: &str,
        options: PeerOptions,
        link: Option<SocketAddr>,
    ) -> Arc<Client> {
        let client = Arc::new(Client::start_with(name, self.next_tag, options).await);
        self.next_tag += 1;
        self.clients.lock().unwrap().insert(name.to_string(), client.clone());
        self.relay
            .join_via(room.to_string(), name.to_string(), link)
            .await
            .expect("join");
        let answer = self
            .relay
            .accept_offer(name.to_string(), client.create_offer())
            .await
            .expect("relay answers");
        client.accept_answer(&answer);
        client
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<RelayEvent> {
        self.events.borrow().clone()
    }

    /// Waits for an event that `pred` picks.
    pub async fn wait_event(&self, what: &str, pred: impl Fn(&RelayEvent) -> bool) {
        self.wait_event_within(what, crate::test_peer::PATIENCE, pred).await;
    }

    /// [`Self::wait_event`] with another safety net, for what takes long by
    /// design (an ICE timeout).
    pub async fn wait_event_within(
        &self,
        what: &str,
        patience: std::time::Duration,
        pred: impl Fn(&RelayEvent) -> bool,
    ) {
        self.wait_event_after(what, patience, 0, pred).await;
    }

    /// Waits for an event that `pred` picks among those after the first
    /// `since` (see [`Self::events`]): for a change that an earlier event
    /// of the same kind would seem to answer.
    pub async fn wait_event_since(&self, what: &str, since: usize, pred: impl Fn(&RelayEvent) -> bool) {
        self.wait_event_after(what, crate::test_peer::PATIENCE, since, pred)
            .await;
    }

    async fn wait_event_after(
        &self,
        what: &str,
        patience: std::time::Duration,
        since: usize,
        pred: impl Fn(&RelayEvent) -> bool,
    ) {
        let mut log = self.events.clone();
        let found = log.wait_for(|events| events.iter().skip(since).any(&pred));
        within_for(what, patience, found).await.expect("signaling task alive");
    }

    /// Stops carrying offers to `name`: once the test drops its last handle
    /// too, that client's task and socket are gone, as a phone that lost its
    /// network would be, without a word to the relay.
    pub fn forget(&self, name: &str) {
        self.clients.lock().unwrap().remove(name);
    }
}

async fn signal(
    relay: RelayHandle,
    mut events: RelayEvents,
    clients: Arc<Mutex<HashMap<String, Arc<Client>>>>,
    log: watch::Sender<Vec<RelayEvent>>,
) {
    while let Some(event) = events.recv().await {
        match &event {
            RelayEvent::Offer { participant, sdp } => {
                let client = clients.lock().unwrap().get(participant).cloned();
                if let Some(client) = client {
                    // Over one WebSocket the relay's answer to the client's own
                    // offer would arrive before this offer; here the test body
                    // carries that answer, so wait for it.
                    client.wait_negotiated().await;
                    let answer = client.accept_offer(sdp);
                    // The participant may have left meanwhile; nothing to do then.
                    let _ = relay.accept_answer(participant.clone(), answer).await;
                }
            }
            RelayEvent::LayersWanted {
                participant,
                rids,
                max_bps,
                ..
            } => {
                let client = clients.lock().unwrap().get(participant).cloned();
                if let Some(client) = client {
                    client.set_active_rids(rids);
                    client.set_caps(max_bps);
                }
            }
            _ => {}
        }
        log.send_modify(|l| l.push(event));
    }
}
