//! Runtime configuration: flags, environment and an optional TOML-free
//! `key = value` file, resolved once at start.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use chrono::Duration as ChronoDuration;

/// Everything the server needs to know that can differ between deployments.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP server listens.
    pub addr: SocketAddr,
    /// `postgres://…` for Postgres, `sqlite://…` for a SQLite file, or `None`
    /// for the zero-set-up default: a SQLite file under `data_dir`.
    pub database_url: Option<String>,
    /// Folder for the default SQLite file.
    pub data_dir: PathBuf,
    /// A patient's join link opens this long before the consult starts…
    pub join_opens_before: ChronoDuration,
    /// …and closes this long after it starts.
    pub join_closes_after: ChronoDuration,
    /// How long a staff or specialist session lasts without use.
    pub session_idle: ChronoDuration,
    /// Whether the session cookie carries `Secure` (off for plain-HTTP local
    /// use; a deployment behind TLS turns it on).
    pub secure_cookies: bool,
    /// Public base URL used when building share links (`/j/<token>`).
    /// Unset means the address the server actually bound.
    pub public_url: Option<String>,
    /// Login attempts allowed per account and per IP within `login_window`.
    pub login_attempts: u32,
    pub login_window: Duration,
    /// The responsible party's details shown in the privacy notice
    /// (`privacy.operator_name = …` in the config file); see
    /// [`crate::api::consent::NOTICE_FIELDS`].
    pub privacy: BTreeMap<String, String>,
    /// The media relay's one UDP socket. Port 0 takes any free port.
    pub media_addr: SocketAddr,
    /// The IP announced to browsers as the relay's ICE host candidate (behind
    /// NAT: the public one). Unset means the IP of `media_addr`.
    pub media_public_ip: Option<IpAddr>,
    /// Passive ICE-TCP on the relay's port number too, for clinics whose
    /// networks block UDP (browsers fall back to it by themselves).
    pub media_tcp: bool,
    /// Link emulation only (the browser tests and `bench rural`): the address
    /// announced to *patients* as the relay's, i.e. a `link-emulator` in
    /// front of the relay's port, so the patient's media crosses an emulated
    /// rural link while staff connect directly. Never set in production.
    pub media_patient_via: Option<SocketAddr>,
    /// `/ws` liveness: a ping this often, and a socket silent this long (no
    /// pong, no message) is closed. Not in the config file; tests shorten them.
    pub ws_ping_every: Duration,
    pub ws_idle_limit: Duration,
    /// How long a participant whose socket dropped during a call keeps its
    /// place, waiting for a `resume` (3G handovers, a tunnel, a lift).
    pub ws_resume_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: "127.0.0.1:8080".parse().expect("literal address"),
            database_url: None,
            data_dir: PathBuf::from("data"),
            join_opens_before: ChronoDuration::minutes(30),
            join_closes_after: ChronoDuration::hours(2),
            session_idle: ChronoDuration::hours(12),
            secure_cookies: false,
            public_url: None,
            login_attempts: 10,
            login_window: Duration::from_secs(15 * 60),
            privacy: BTreeMap::new(),
            media_addr: "127.0.0.1:0".parse().expect("literal address"),
            media_public_ip: None,
            media_tcp: true,
            media_patient_via: None,
            ws_ping_every: Duration::from_secs(10),
            ws_idle_limit: Duration::from_secs(30),
            ws_resume_grace: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// Applies `key = value` lines from a config file (comments with `#`).
    /// Environment and flags are applied by the caller afterwards, so they win.
    pub fn apply_file(&mut self, text: &str) -> anyhow::Result<()> {
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                anyhow::bail!("config line {}: expected key = value", n + 1);
            };
            let value = value.trim().trim_matches('"');
            self.set(key.trim(), value)
                .map_err(|e| anyhow::anyhow!("config line {}: {e}", n + 1))?;
        }
        Ok(())
    }

    /// Sets one setting by its file/env name.
    pub fn set(&mut self, key: &str, value: &str) -> anyhow::Result<()> {
        let minutes = |v: &str| -> anyhow::Result<ChronoDuration> { Ok(ChronoDuration::minutes(v.parse::<i64>()?)) };
        match key {
            "addr" => self.addr = value.parse()?,
            "database_url" => self.database_url = Some(value.to_string()),
            "data_dir" => self.data_dir = PathBuf::from(value),
            "join_opens_before_min" => self.join_opens_before = minutes(value)?,
            "join_closes_after_min" => self.join_closes_after = minutes(value)?,
            "session_idle_min" => self.session_idle = minutes(value)?,
            "secure_cookies" => self.secure_cookies = value.parse()?,
            "public_url" => self.public_url = Some(value.trim_end_matches('/').to_string()),
            "media_addr" => self.media_addr = value.parse()?,
            "media_public_ip" => self.media_public_ip = Some(value.parse()?),
            "media_tcp" => self.media_tcp = value.parse()?,
            "media_patient_via" => self.media_patient_via = Some(value.parse()?),
            other => match other.strip_prefix("privacy.") {
                Some(field) if crate::api::consent::NOTICE_FIELDS.contains(&field) => {
                    self.privacy.insert(field.to_string(), value.to_string());
                }
                _ => anyhow::bail!("unknown setting {other:?}"),
            },
        }
        Ok(())
    }
}
