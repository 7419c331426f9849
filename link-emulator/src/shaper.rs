//! One direction of an emulated link, sans I/O: packets go in with
//! [`Shaper::push`] and come out at the time the link would deliver them,
//! through [`Shaper::poll`] / [`Shaper::next_ready`].
//!
//! The model is a bottleneck as routers have one: a FIFO that drains at
//! `rate_bps`, holding at most `queue_bytes` waiting; what does not fit is
//! dropped (tail drop), then a propagation `delay` with ± `jitter`, and loss
//! before the queue: independent, or in bursts (Gilbert–Elliott: a good and
//! a bad state, the bad one losing every packet, with the mean burst length
//! and the overall loss rate as parameters). An `outage` drops everything.
//! Excess traffic is therefore first delayed (the queue grows, which is what
//! delay-based congestion control sees) and then dropped, as on a real 3G
//! cell. Order is kept: jitter never makes a packet overtake another.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What one direction of the link does to packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Bottleneck rate in bit/s; `None` = unlimited.
    pub rate_bps: Option<u64>,
    /// Bytes that may wait in the bottleneck queue.
    pub queue_bytes: usize,
    /// One-way propagation delay added to every packet.
    pub delay: Duration,
    /// Random extra delay, uniform in ± this, never reordering.
    pub jitter: Duration,
    /// Probability (0–1) that a packet is lost before the queue.
    pub loss: f64,
    /// Mean length of a loss burst in packets; 1 (or less) = independent losses.
    pub burst: f64,
    /// The link is down: every packet is lost.
    pub outage: bool,
}

impl Impairment {
    /// A perfect link: no limit, no delay, no loss.
    pub const NONE: Impairment = Impairment {
        rate_bps: None,
        queue_bytes: usize::MAX,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        loss: 0.0,
        burst: 1.0,
        outage: false,
    };

    /// A rate limit with a queue of about `queue` worth of traffic at that rate.
    pub fn rate(rate_bps: u64, queue: Duration) -> Impairment {
        Impairment {
            rate_bps: Some(rate_bps),
            queue_bytes: ((rate_bps as f64 / 8.0) * queue.as_secs_f64()).max(1500.0) as usize,
            ..Impairment::NONE
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShaperStats {
    pub packets_in: u64,
    pub packets_out: u64,
    pub dropped_queue: u64,
    pub dropped_loss: u64,
    pub dropped_outage: u64,
    pub bytes_out: u64,
}

/// A shaper carries datagrams, as bytes or tagged with where they go
/// (`proxy.rs`); only their length matters to the link.
#[derive(Debug)]
pub struct Shaper<P = Vec<u8>> {
    cfg: Impairment,
    /// (delivery time, leaves the bottleneck at, packet).
    queue: VecDeque<(Instant, Instant, P)>,
    /// When the bottleneck has sent everything accepted so far.
    busy_until: Option<Instant>,
    rng: u64,
    /// Gilbert–Elliott state: in a loss burst.
    in_burst: bool,
    stats: ShaperStats,
}

impl<P: AsRef<[u8]>> Shaper<P> {
    pub fn new(cfg: Impairment, seed: u64) -> Shaper<P> {
        Shaper {
            cfg,
            queue: VecDeque::new(),
            busy_until: None,
            rng: seed | 1,
            in_burst: false,
            stats: ShaperStats::default(),
        }
    }

    /// Changes the link from now on; packets already accepted keep their times.
    pub fn set(&mut self, cfg: Impairment) {
        self.cfg = cfg;
    }

    pub fn config(&self) -> Impairment {
        self.cfg
    }

    pub fn stats(&self) -> ShaperStats {
        self.stats
    }

    /// Offers a packet to the link; `false` when it was lost or dropped.
    pub fn push(&mut self, now: Instant, packet: P) -> bool {
        let len = packet.as_ref().len();
        self.stats.packets_in += 1;
        if self.cfg.outage {
            self.stats.dropped_outage += 1;
            return false;
        }
        if self.lost() {
            self.stats.dropped_loss += 1;
            return false;
        }
        let leaves = match self.cfg.rate_bps {
            None => now,
            Some(rate) => {
                let start = self.busy_until.map_or(now, |b| b.max(now));
                let backlog_bytes = bits_in(start - now, rate) / 8;
                if backlog_bytes as usize + len > self.cfg.queue_bytes {
                    self.stats.dropped_queue += 1;
                    return false;
                }
                let serialise = Duration::from_nanos((len as u64 * 8 * 1_000_000_000) / rate.max(1));
                start + serialise
            }
        };
        self.busy_until = Some(leaves);
        let delay = self.jittered_delay();
        // Never earlier than the packet before it: a link does not reorder,
        // even with jitter or when its delay was just lowered.
        let deliver = (leaves + delay).max(self.queue.back().map_or(now, |q| q.0));
        self.queue.push_back((deliver, leaves, packet));
        true
    }

    /// The next packet due at `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<P> {
        if self.queue.front().is_some_and(|q| q.0 <= now) {
            let (_, _, packet) = self.queue.pop_front()?;
            self.stats.packets_out += 1;
            self.stats.bytes_out += packet.as_ref().len() as u64;
            return Some(packet);
        }
        None
    }

    /// When the next packet is due.
    pub fn next_ready(&self) -> Option<Instant> {
        self.queue.front().map(|q| q.0)
    }

    /// Whether this packet is lost: independent, or Gilbert–Elliott when
    /// `burst` > 1 (the bad state is entered with p/(b(1−p)) and left with
    /// 1/b, so the long-run loss rate is p and bursts last b on average).
    fn lost(&mut self) -> bool {
        let p = self.cfg.loss.clamp(0.0, 1.0);
        if p <= 0.0 {
            self.in_burst = false;
            return false;
        }
        if self.cfg.burst <= 1.0 || p >= 1.0 {
            return self.random() < p;
        }
        let lost = self.in_burst;
        let b = self.cfg.burst;
        let next = self.random();
        self.in_burst = if self.in_burst {
            next >= 1.0 / b
        } else {
            next < p / (b * (1.0 - p))
        };
        lost
    }

    fn jittered_delay(&mut self) -> Duration {
        if self.cfg.jitter.is_zero() {
            return self.cfg.delay;
        }
        let j = self.cfg.jitter.as_secs_f64();
        let d = self.cfg.delay.as_secs_f64() + (self.random() * 2.0 - 1.0) * j;
        Duration::from_secs_f64(d.max(0.0))
    }

    /// xorshift64*: loss needs to be random-looking and repeatable per seed,
    /// not cryptographic.
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let v = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn bits_in(d: Duration, rate_bps: u64) -> u64 {
    (d.as_nanos() * u128::from(rate_bps) / 1_000_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offers `offered_bps` in 1000-byte packets for `secs`, draining as it
    /// goes; returns the delivered rate and the shaper.
    fn run(cfg: Impairment, offered_bps: u64, secs: u64) -> (f64, Shaper) {
        let mut s = Shaper::new(cfg, 7);
        let t0 = Instant::now();
        let every = Duration::from_nanos(8_000 * 1_000_000_000 / offered_bps);
        let end = t0 + Duration::from_secs(secs);
        let mut now = t0;
        let mut delivered = 0u64;
        while now < end {
            s.push(now, vec![0; 1000]);
            while let Some(p) = s.poll(now) {
                delivered += p.len() as u64;
            }
            now += every;
        }
        (delivered as f64 * 8.0 / secs as f64, s)
    }

    #[test]
    fn the_rate_limit_holds_within_five_percent() {
        let (rate, s) = run(Impairment::rate(500_000, Duration::from_millis(200)), 2_000_000, 10);
        assert!((rate - 500_000.0).abs() / 500_000.0 < 0.05, "{rate}");
        assert!(s.stats().dropped_queue > 0, "excess must be dropped");
    }

    #[test]
    fn traffic_under_the_limit_passes_whole() {
        let (rate, s) = run(Impairment::rate(1_000_000, Duration::from_millis(200)), 400_000, 10);
        assert_eq!(s.stats().dropped_queue, 0);
        assert!((rate - 400_000.0).abs() / 400_000.0 < 0.05, "{rate}");
    }

    #[test]
    fn excess_is_delayed_up_to_the_queue_then_dropped() {
        let cfg = Impairment::rate(800_000, Duration::from_millis(250));
        let mut s = Shaper::new(cfg, 1);
        let t0 = Instant::now();
        // A burst of 100 kB at once: 25 kB fit the queue (250 ms at 100 kB/s).
        let accepted = (0..100).filter(|_| s.push(t0, vec![0; 1000])).count();
        assert!((24..=26).contains(&accepted), "{accepted}");
        let last = s.queue.back().unwrap().0;
        let waited = last - t0;
        assert!(
            waited >= Duration::from_millis(240) && waited <= Duration::from_millis(260),
            "{waited:?}"
        );
    }

    #[test]
    fn delay_is_added_to_every_packet_and_order_is_kept() {
        let cfg = Impairment {
            delay: Duration::from_millis(300),
            ..Impairment::NONE
        };
        let mut s = Shaper::new(cfg, 1);
        let t0 = Instant::now();
        s.push(t0, vec![1]);
        s.set(Impairment::NONE);
        s.push(t0 + Duration::from_millis(10), vec![2]);
        assert_eq!(s.poll(t0 + Duration::from_millis(299)), None);
        assert_eq!(s.poll(t0 + Duration::from_millis(300)), Some(vec![1]));
        assert_eq!(s.poll(t0 + Duration::from_millis(300)), Some(vec![2]));
    }

    #[test]
    fn bursty_loss_has_the_asked_rate_and_burst_length() {
        let cfg = Impairment {
            loss: 0.05,
            burst: 3.0,
            ..Impairment::NONE
        };
        let mut s = Shaper::new(cfg, 11);
        let t0 = Instant::now();
        let (mut bursts, mut lost, mut run) = (0u64, 0u64, 0u64);
        let n = 200_000;
        for _ in 0..n {
            if s.push(t0, vec![0; 100]) {
                if run > 0 {
                    bursts += 1;
                }
                run = 0;
            } else {
                lost += 1;
                run += 1;
            }
            s.queue.clear();
        }
        let rate = lost as f64 / n as f64;
        let mean_burst = lost as f64 / bursts as f64;
        assert!((rate - 0.05).abs() < 0.01, "loss {rate}");
        assert!((mean_burst - 3.0).abs() < 0.4, "burst {mean_burst}");
    }

    #[test]
    fn jitter_spreads_delay_around_its_mean_without_reordering() {
        let cfg = Impairment {
            delay: Duration::from_millis(75),
            jitter: Duration::from_millis(30),
            ..Impairment::NONE
        };
        let mut s = Shaper::new(cfg, 5);
        let t0 = Instant::now();
        let mut sent_at = Vec::new();
        for i in 0..5_000u32 {
            let at = t0 + Duration::from_millis(u64::from(i) * 20);
            s.push(at, i.to_be_bytes().to_vec());
            sent_at.push(at);
        }
        let deliveries: Vec<Instant> = s.queue.iter().map(|q| q.0).collect();
        assert!(deliveries.windows(2).all(|w| w[0] <= w[1]), "reordered");
        let delays: Vec<f64> = deliveries
            .iter()
            .zip(&sent_at)
            .map(|(d, s)| (*d - *s).as_secs_f64() * 1000.0)
            .collect();
        let mean = delays.iter().sum::<f64>() / delays.len() as f64;
        let (min, max) = delays
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), d| (lo.min(*d), hi.max(*d)));
        // Holding order (packets 20 ms apart, ±30 ms jitter) lifts the mean a
        // little above the nominal delay: a packet never arrives before the
        // one sent before it.
        assert!((74.0..=81.0).contains(&mean), "mean {mean}");
        assert!(min >= 45.0 - 0.01 && max <= 105.0 + 0.01, "{min}..{max}");
    }

    #[test]
    fn an_outage_drops_everything_until_lifted() {
        let mut s = Shaper::new(
            Impairment {
                outage: true,
                ..Impairment::NONE
            },
            1,
        );
        let t0 = Instant::now();
        assert!(!(0..100).any(|_| s.push(t0, vec![0; 10])));
        assert_eq!(s.stats().dropped_outage, 100);
        s.set(Impairment::NONE);
        assert!(s.push(t0, vec![0; 10]));
    }

    #[test]
    fn random_loss_is_within_tolerance() {
        let cfg = Impairment {
            loss: 0.05,
            ..Impairment::NONE
        };
        let (_, s) = run(cfg, 1_000_000, 100);
        let st = s.stats();
        let ratio = st.dropped_loss as f64 / st.packets_in as f64;
        assert!((ratio - 0.05).abs() < 0.01, "{ratio}");
    }
}
