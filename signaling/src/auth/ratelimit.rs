//! Login rate limit: a sliding window of failed attempts per key (an account
//! e-mail, or a client IP). In memory, because one server process handles the
//! logins of a deployment; a restart forgets attempts, which only helps a
//! legitimate user locked out by someone else.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bound on tracked keys, so a flood of distinct keys cannot grow
/// memory without limit. Past it, the oldest expired keys are dropped first.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    // The lock is never held across an await.
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether another attempt under `key` is allowed at `now`.
    pub fn allowed(&self, key: &str, now: Instant) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(key) {
            Some(times) => {
                prune(times, now, self.window);
                (times.len() as u32) < self.limit
            }
            None => true,
        }
    }

    pub fn record_failure(&self, key: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            let window = self.window;
            map.retain(|_, times| {
                prune(times, now, window);
                !times.is_empty()
            });
        }
        let times = map.entry(key.to_string()).or_default();
        prune(times, now, self.window);
        times.push_back(now);
    }

    pub fn reset(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times.front().is_some_and(|t| now.duration_since(*t) >= window) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_and_frees_after_window() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.allowed("a@x", t0));
            limiter.record_failure("a@x", t0);
        }
        assert!(!limiter.allowed("a@x", t0));
        assert!(limiter.allowed("b@x", t0), "other keys are unaffected");
        assert!(limiter.allowed("a@x", t0 + Duration::from_secs(61)));
    }

    #[test]
    fn reset_clears_a_key() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        limiter.record_failure("k", t0);
        assert!(!limiter.allowed("k", t0));
        limiter.reset("k");
        assert!(limiter.allowed("k", t0));
    }
}
