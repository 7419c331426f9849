//! `link-emulator`: an emulated link in front of the relay's UDP port, for
//! the browser tests and benchmarks.
//!
//! ```text
//! link-emulator --relay 127.0.0.1:40000
//!               [--profile NAME [--profiles FILE]]
//!               [--down-kbps N] [--up-kbps N] [--queue-ms N] [--delay-ms N] [--loss-pct N]
//! link-emulator --describe NAME [--profiles FILE]
//! link-emulator --list [--profiles FILE]
//! ```
//!
//! `--profile` plays a named network from `profiles.toml` (rural-3g, edge,
//! satellite, dropout, step-down, …) or from `--profiles FILE`: its starting
//! link at once, its outages and steps on schedule from the moment it starts
//! (or from a `play` command); the other flags and commands set a plain
//! link. `--describe` prints a profile, resolved, as JSON; `--list` the names.
//!
//! Listens on a free port of 127.0.0.1 (loopback only, by design) and
//! prints `listening on <addr>` once ready (announce that address to the
//! participant, e.g. `media_patient_via` in Cerca's config), then takes one
//! command per line on stdin, answering `ok` or `error: …`:
//!
//! ```text
//! down <kbps|off>     rate limit relay → participant
//! up <kbps|off>       rate limit participant → relay
//! delay <ms>          one-way delay, both directions
//! loss <percent>      random loss, both directions
//! play                start the profile's schedule again from now
//! stats               one line: `stats {"up": {…}, "down": {…}}`, the packet counters
//! ```
//!
//! It exits when stdin closes, so a test harness that dies leaves nothing behind.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use link_emulator::{Impairment, LinkProxy, Profile, ShaperStats};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Debug, Clone, Copy)]
struct Settings {
    down_kbps: Option<u64>,
    up_kbps: Option<u64>,
    queue: Duration,
    delay: Duration,
    loss: f64,
}

impl Settings {
    fn direction(&self, kbps: Option<u64>) -> Impairment {
        let base = match kbps {
            Some(k) => Impairment::rate(k * 1000, self.queue),
            None => Impairment::NONE,
        };
        Impairment {
            delay: self.delay,
            loss: self.loss,
            ..base
        }
    }

    fn apply(&self, proxy: &LinkProxy) {
        proxy.set(self.direction(self.up_kbps), self.direction(self.down_kbps));
    }

    /// Applies one `key value` pair, from a flag or a stdin command.
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let rate = |v: &str| -> Result<Option<u64>, String> {
            if v == "off" {
                return Ok(None);
            }
            v.parse::<u64>()
                .ok()
                .filter(|k| *k > 0)
                .map(Some)
                .ok_or_else(|| format!("{v:?} is not a rate in kbit/s or off"))
        };
        let number = |v: &str| v.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0);
        match key {
            "down" | "down-kbps" => self.down_kbps = rate(value)?,
            "up" | "up-kbps" => self.up_kbps = rate(value)?,
            "queue" | "queue-ms" => {
                self.queue = Duration::from_millis(number(value).ok_or("queue needs milliseconds")? as u64)
            }
            "delay" | "delay-ms" => {
                self.delay = Duration::from_millis(number(value).ok_or("delay needs milliseconds")? as u64)
            }
            "loss" | "loss-pct" => {
                let pct = number(value)
                    .filter(|p| *p <= 100.0)
                    .ok_or("loss needs a percentage 0–100")?;
                self.loss = pct / 100.0;
            }
            other => return Err(format!("unknown setting {other:?}")),
        }
        Ok(())
    }
}

/// Applies a profile now and each of its changes when due; abort the task
/// to stop the schedule.
fn play(profile: Profile, proxy: std::sync::Arc<LinkProxy>) -> tokio::task::JoinHandle<()> {
    let start = tokio::time::Instant::now();
    let (up, down) = profile.at(Duration::ZERO);
    proxy.set(up, down);
    tokio::spawn(async move {
        for at in profile.changes() {
            tokio::time::sleep_until(start + at).await;
            let (up, down) = profile.at(at);
            proxy.set(up, down);
            eprintln!(
                "link-emulator: {} at {:?}: up {:?}, down {:?}",
                profile.name, at, up.rate_bps, down.rate_bps
            );
        }
    })
}

/// The counters of both directions as one line of JSON.
fn stats_line(proxy: &LinkProxy) -> String {
    let (up, down) = proxy.stats();
    let json = |s: ShaperStats| {
        serde_json::json!({
            "packets_in": s.packets_in,
            "packets_out": s.packets_out,
            "bytes_out": s.bytes_out,
            "dropped_queue": s.dropped_queue,
            "dropped_loss": s.dropped_loss,
            "dropped_outage": s.dropped_outage,
        })
    };
    format!("stats {}", serde_json::json!({ "up": json(up), "down": json(down) }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("link-emulator: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), String> {
    let mut relay: Option<SocketAddr> = None;
    let mut settings = Settings {
        down_kbps: None,
        up_kbps: None,
        queue: Duration::from_millis(200),
        delay: Duration::ZERO,
        loss: 0.0,
    };
    let mut profile_name = None;
    let mut describe = None;
    let mut list = false;
    let mut profiles_text = link_emulator::profile::BUILTIN.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
        if name == "list" {
            list = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match name {
            "relay" => relay = Some(value.parse().map_err(|e| format!("--relay: {e}"))?),
            "profile" => profile_name = Some(value),
            "describe" => describe = Some(value),
            "profiles" => {
                profiles_text = std::fs::read_to_string(&value).map_err(|e| format!("--profiles {value}: {e}"))?
            }
            other => settings.set(other, &value)?,
        }
    }
    if list {
        for name in Profile::names(&profiles_text)? {
            println!("{name}");
        }
        return Ok(());
    }
    if let Some(name) = describe {
        let profile = Profile::load(&profiles_text, &name)?;
        println!("{}", serde_json::to_string(&profile).map_err(|e| e.to_string())?);
        return Ok(());
    }
    let profile = match profile_name {
        Some(name) => Some(Profile::load(&profiles_text, &name)?),
        None => None,
    };
    let relay = relay.ok_or("--relay <addr> is required")?;
    let proxy = std::sync::Arc::new(
        LinkProxy::start(relay, Impairment::NONE, Impairment::NONE)
            .await
            .map_err(|e| format!("cannot bind: {e}"))?,
    );
    let mut schedule = match &profile {
        Some(p) => Some(play(p.clone(), proxy.clone())),
        None => {
            settings.apply(&proxy);
            None
        }
    };
    println!("listening on {}", proxy.addr());

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.split_whitespace();
        let reply = match (words.next(), words.next(), words.next()) {
            (None, _, _) => continue,
            (Some("stats"), None, _) => {
                println!("{}", stats_line(&proxy));
                continue;
            }
            (Some("play"), None, _) => match &profile {
                Some(p) => {
                    if let Some(old) = schedule.take() {
                        old.abort();
                    }
                    schedule = Some(play(p.clone(), proxy.clone()));
                    Ok(())
                }
                None => Err("play needs --profile".to_string()),
            },
            (Some(key), Some(value), None) => {
                // A plain setting replaces the profile's schedule.
                if let Some(old) = schedule.take() {
                    old.abort();
                }
                settings.set(key, value).map(|()| settings.apply(&proxy))
            }
            _ => Err("expected: <down|up|delay|loss> <value>, play or stats".to_string()),
        };
        match reply {
            Ok(()) => println!("ok"),
            Err(e) => println!("error: {e}"),
        }
    }
    Ok(())
}
