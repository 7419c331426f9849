//! The state every handler shares: a cheap clone of handles, no locks held
//! across awaits. [`AppState::start`] also starts the in-process media relay,
//! the task that carries its events to the sockets, and the call-quality task
//! ([`crate::quality`]).

use std::net::SocketAddr;
use std::sync::Arc;

use media_relay::{RelayHandle, UdpConfig};

use crate::api::network_check::NetworkChecks;
use crate::audit::AuditLog;
use crate::auth::ratelimit::RateLimiter;
use crate::config::Config;
use crate::db::Db;
use crate::ws::rooms::Rooms;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub audit: Arc<AuditLog>,
    pub login_limiter: Arc<RateLimiter>,
    /// The media relay (one UDP socket, its own task). The task stops when
    /// the last clone of this handle drops, i.e. when the server and its
    /// sockets have stopped.
    pub relay: RelayHandle,
    /// Who is connected to `/ws` and in which consult's room.
    pub rooms: Arc<Rooms>,
    /// The patients' network checks running in the relay.
    pub network_checks: Arc<NetworkChecks>,
}

impl AppState {
    /// Binds the relay's UDP socket, starts it and routes its events to the
    /// sockets in [`Rooms`].
    pub async fn start(db: Db, config: Config) -> std::io::Result<Self> {
        let (relay, events) = media_relay::spawn(relay_config(&config)?).await?;
        tracing::info!(local = %relay.local_addr(), announced = %relay.public_addr(), "media relay listening");
        if relay.public_addr().ip().is_unspecified() {
            tracing::warn!("the media relay announces an unspecified IP; set media_public_ip");
        }
        let rooms = Arc::new(Rooms::default());
        tokio::spawn(crate::ws::relay_events::route(events, rooms.clone()));
        let state = AppState {
            audit: Arc::new(AuditLog::new(db.clone())),
            login_limiter: Arc::new(RateLimiter::new(config.login_attempts, config.login_window)),
            db,
            config: Arc::new(config),
            relay,
            rooms,
            network_checks: Arc::default(),
        };
        tokio::spawn(crate::quality::run(state.clone()));
        Ok(state)
    }
}

/// The announced address needs the port actually bound; with port 0 and a
/// separate public IP we learn a free port first (a tiny race with other
/// programs binding it meanwhile, acceptable for the default set-up).
fn relay_config(config: &Config) -> std::io::Result<UdpConfig> {
    let Some(ip) = config.media_public_ip else {
        return Ok(UdpConfig {
            bind: config.media_addr,
            public_addr: None,
            tcp: config.media_tcp,
        });
    };
    let bind = if config.media_addr.port() == 0 {
        std::net::UdpSocket::bind(config.media_addr)?.local_addr()?
    } else {
        config.media_addr
    };
    Ok(UdpConfig {
        bind,
        public_addr: Some(SocketAddr::new(ip, bind.port())),
        tcp: config.media_tcp,
    })
}
