//! The named networks Cerca must serve (`profiles.toml`, a copy of
//! `shared/link-profiles.toml` with its sources), as impairments per
//! direction over time: a profile may build on another (`base`), drop the
//! link for a while (`outages`) and change its rates at given times (`steps`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::shaper::Impairment;

/// The profiles shipped with Cerca.
pub const BUILTIN: &str = include_str!("../profiles.toml");

/// How much a bottleneck queues, in time at its rate: mobile networks buffer
/// generously, which is why congestion shows up as delay before loss.
pub const QUEUE: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    base: Option<String>,
    down: Option<u64>,
    up: Option<u64>,
    delay: Option<u64>,
    jitter: Option<u64>,
    loss: Option<f64>,
    burst: Option<f64>,
    #[serde(default)]
    outages: Vec<Outage>,
    #[serde(default)]
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    profiles: BTreeMap<String, Raw>,
}

/// The link is down from `at_s` for `for_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub at_s: f64,
    pub for_s: f64,
}

/// From `at_s` on, the rates become these (kbit/s).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub at_s: f64,
    pub down: Option<u64>,
    pub up: Option<u64>,
}

/// One resolved profile: rates in kbit/s, delays in ms one way, loss in %.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub name: String,
    pub down_kbps: u64,
    pub up_kbps: u64,
    pub delay_ms: u64,
    pub jitter_ms: u64,
    pub loss_pct: f64,
    pub burst: f64,
    pub outages: Vec<Outage>,
    pub steps: Vec<Step>,
}

impl Profile {
    /// A profile shipped with Cerca, by name.
    pub fn builtin(name: &str) -> Result<Profile, String> {
        Profile::load(BUILTIN, name)
    }

    /// The names in [`BUILTIN`].
    pub fn builtin_names() -> Vec<String> {
        Profile::names(BUILTIN).unwrap_or_default()
    }

    /// The names in a profiles file.
    pub fn names(text: &str) -> Result<Vec<String>, String> {
        toml::from_str::<File>(text)
            .map(|f| f.profiles.into_keys().collect())
            .map_err(|e| format!("profiles file: {e}"))
    }

    /// Profile `name` from a profiles file, its `base` chain resolved.
    pub fn load(text: &str, name: &str) -> Result<Profile, String> {
        let file: File = toml::from_str(text).map_err(|e| format!("profiles file: {e}"))?;
        let mut chain = Vec::new();
        let mut next = Some(name.to_string());
        while let Some(n) = next {
            if chain.len() > 8 {
                return Err(format!("profile {name:?}: base chain too long or circular"));
            }
            let raw = file
                .profiles
                .get(&n)
                .ok_or_else(|| format!("no profile named {n:?}"))?
                .clone();
            next = raw.base.clone();
            chain.push(raw);
        }
        // The most basic first, each later one overriding what it sets.
        let mut merged = Raw::default();
        for raw in chain.into_iter().rev() {
            merged.down = raw.down.or(merged.down);
            merged.up = raw.up.or(merged.up);
            merged.delay = raw.delay.or(merged.delay);
            merged.jitter = raw.jitter.or(merged.jitter);
            merged.loss = raw.loss.or(merged.loss);
            merged.burst = raw.burst.or(merged.burst);
            if !raw.outages.is_empty() {
                merged.outages = raw.outages;
            }
            if !raw.steps.is_empty() {
                merged.steps = raw.steps;
            }
        }
        let need = |v: Option<u64>, what: &str| v.ok_or_else(|| format!("profile {name:?} has no {what}"));
        let mut steps = merged.steps;
        steps.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        Ok(Profile {
            name: name.to_string(),
            down_kbps: need(merged.down, "down")?,
            up_kbps: need(merged.up, "up")?,
            delay_ms: merged.delay.unwrap_or(0),
            jitter_ms: merged.jitter.unwrap_or(0),
            loss_pct: merged.loss.unwrap_or(0.0),
            burst: merged.burst.unwrap_or(1.0),
            outages: merged.outages,
            steps,
        })
    }

    /// The (up, down) impairments at `t` into the run.
    pub fn at(&self, t: Duration) -> (Impairment, Impairment) {
        let secs = t.as_secs_f64();
        let (mut down, mut up) = (self.down_kbps, self.up_kbps);
        for step in self.steps.iter().filter(|s| s.at_s <= secs) {
            down = step.down.unwrap_or(down);
            up = step.up.unwrap_or(up);
        }
        let outage = self.outages.iter().any(|o| secs >= o.at_s && secs < o.at_s + o.for_s);
        let direction = |kbps: u64| Impairment {
            delay: Duration::from_millis(self.delay_ms),
            jitter: Duration::from_millis(self.jitter_ms),
            loss: self.loss_pct / 100.0,
            burst: self.burst,
            outage,
            ..Impairment::rate(kbps * 1000, QUEUE)
        };
        (direction(up), direction(down))
    }

    /// The times at which [`Profile::at`] changes, in order.
    pub fn changes(&self) -> Vec<Duration> {
        let mut times: Vec<f64> = self.steps.iter().map(|s| s.at_s).collect();
        for o in &self.outages {
            times.push(o.at_s);
            times.push(o.at_s + o.for_s);
        }
        times.retain(|t| t.is_finite() && *t > 0.0);
        times.sort_by(f64::total_cmp);
        times.dedup();
        times.into_iter().map(Duration::from_secs_f64).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_profile_loads() {
        let names = Profile::builtin_names();
        for expected in [
            "fiber",
            "rural-4g",
            "rural-3g",
            "satellite",
            "edge",
            "dropout",
            "step-down",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
        }
        for name in names {
            Profile::builtin(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_profile_reads_rates_delay_jitter_loss_and_bursts() {
        let edge = Profile::builtin("edge").unwrap();
        assert_eq!(
            (edge.down_kbps, edge.up_kbps, edge.delay_ms, edge.jitter_ms),
            (150, 100, 150, 50)
        );
        assert_eq!((edge.loss_pct, edge.burst), (5.0, 3.0));
        let (up, down) = edge.at(Duration::ZERO);
        assert_eq!(down.rate_bps, Some(150_000));
        assert_eq!(up.rate_bps, Some(100_000));
        assert_eq!(down.delay, Duration::from_millis(150));
        assert_eq!(down.jitter, Duration::from_millis(50));
        assert!((down.loss - 0.05).abs() < 1e-9);
        assert!(!down.outage);
    }

    #[test]
    fn dropout_is_rural_3g_with_a_five_second_outage_at_twenty() {
        let p = Profile::builtin("dropout").unwrap();
        let base = Profile::builtin("rural-3g").unwrap();
        assert_eq!(
            (p.down_kbps, p.up_kbps, p.delay_ms),
            (base.down_kbps, base.up_kbps, base.delay_ms)
        );
        assert!(!p.at(Duration::from_secs(19)).1.outage);
        assert!(p.at(Duration::from_secs(20)).1.outage);
        assert!(p.at(Duration::from_millis(24_900)).0.outage);
        assert!(!p.at(Duration::from_secs(25)).1.outage);
        assert_eq!(p.changes(), vec![Duration::from_secs(20), Duration::from_secs(25)]);
    }

    #[test]
    fn step_down_collapses_and_recovers_on_schedule() {
        let p = Profile::builtin("step-down").unwrap();
        assert_eq!(p.at(Duration::from_secs(10)).1.rate_bps, Some(50_000_000));
        assert_eq!(p.at(Duration::from_secs(20)).1.rate_bps, Some(250_000));
        assert_eq!(p.at(Duration::from_secs(49)).0.rate_bps, Some(250_000));
        assert_eq!(p.at(Duration::from_secs(50)).1.rate_bps, Some(50_000_000));
        assert_eq!(p.changes(), vec![Duration::from_secs(20), Duration::from_secs(50)]);
    }

    #[test]
    fn bad_files_and_names_are_errors() {
        assert!(Profile::builtin("moon").is_err());
        assert!(Profile::load("[profiles.a]\nbase = \"a\"\n", "a").is_err(), "circular");
        assert!(Profile::load("[profiles.a]\ndown = 1\n", "a").is_err(), "no up");
        assert!(Profile::load("[profiles.a]\ndown = 1\nup = 1\nspeed = 3\n", "a").is_err());
        assert!(Profile::load("not toml", "a").is_err());
    }
}
