//! Relay-side retransmission cache for one forwarded stream toward one
//! subscriber, keyed by the *outgoing* sequence number.
//!
//! Why at the relay: on a 600 ms satellite round trip, a NACK that travels all
//! the way back to the publisher costs a whole extra round trip, and the
//! publisher only knows its own numbering, not the rewritten one. Keeping the last
//! packets sent to each subscriber lets the relay answer from its own copy.
//!
//! Why the throttle: a subscriber on a lossy link repeats NACKs for a packet
//! until it arrives. Resending on every repeat only adds load to the link that
//! is already losing packets, so a sequence number is resent at most once per
//! round trip (floored by a configured minimum), the earliest a repeat could
//! mean the previous resend was lost.
//!
//! Bounded in both count and age, generic over what is stored (raw bytes
//! here; the I/O layer may store whatever its writer needs).

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitConfig {
    /// Packets kept; rounded up to a power of two so slots stay stable
    /// across the 16-bit sequence wrap.
    pub capacity: usize,
    /// Older packets are never resent: the subscriber's jitter buffer has
    /// moved on and a resend would only waste its bandwidth.
    pub max_age: Duration,
    /// Lower bound on the interval between two resends of one packet, for
    /// when the round trip estimate is tiny or missing.
    pub min_resend_interval: Duration,
}

impl Default for RetransmitConfig {
    fn default() -> RetransmitConfig {
        RetransmitConfig {
            capacity: 512,
            max_age: Duration::from_secs(1),
            min_resend_interval: Duration::from_millis(20),
        }
    }
}

/// The answer to a NACK for one sequence number.
#[derive(Debug, PartialEq, Eq)]
pub enum Resend<'a, T> {
    /// Send this copy again.
    Send(&'a T),
    /// Resent less than a round trip ago; the NACK likely crossed the resend.
    TooSoon,
    /// Stored, but older than `max_age`.
    Expired,
    /// Never stored here, or already overwritten. The I/O layer may ask the
    /// publisher instead (see `VideoRewriter::incoming_seq`).
    Unknown,
}

#[derive(Debug, Clone)]
struct Slot<T> {
    seq: u16,
    stored_at: Instant,
    last_resent: Option<Instant>,
    packet: T,
}

#[derive(Debug, Clone)]
pub struct RetransmitCache<T> {
    cfg: RetransmitConfig,
    slots: Vec<Option<Slot<T>>>,
}

impl<T> RetransmitCache<T> {
    pub fn new(cfg: RetransmitConfig) -> RetransmitCache<T> {
        // A power of two divides 65536, so consecutive sequence numbers take
        // consecutive slots even across the wrap; at most half the sequence
        // space, beyond which "newer" and "older" stop being meaningful.
        let capacity = cfg.capacity.clamp(1, 1 << 15).next_power_of_two();
        let slots = (0..capacity).map(|_| None).collect();
        RetransmitCache {
            cfg: RetransmitConfig { capacity, ..cfg },
            slots,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn index(&self, seq: u16) -> usize {
        usize::from(seq) & (self.slots.len() - 1)
    }

    /// Remembers a packet just sent with outgoing sequence number `seq`,
    /// replacing whatever shared its slot.
    pub fn insert(&mut self, now: Instant, seq: u16, packet: T) {
        let i = self.index(seq);
        self.slots[i] = Some(Slot {
            seq,
            stored_at: now,
            last_resent: None,
            packet,
        });
    }

    /// Answers a NACK for `seq`; `rtt` is the subscriber's current round-trip
    /// estimate. A `Send` is recorded, so the next one waits a round trip.
    pub fn on_nack(&mut self, now: Instant, seq: u16, rtt: Duration) -> Resend<'_, T> {
        let interval = rtt.max(self.cfg.min_resend_interval);
        let max_age = self.cfg.max_age;
        let i = self.index(seq);
        let Some(slot) = self.slots[i].as_mut().filter(|s| s.seq == seq) else {
            return Resend::Unknown;
        };
        if now.saturating_duration_since(slot.stored_at) > max_age {
            return Resend::Expired;
        }
        if slot
            .last_resent
            .is_some_and(|t| now.saturating_duration_since(t) < interval)
        {
            return Resend::TooSoon;
        }
        slot.last_resent = Some(now);
        Resend::Send(&slot.packet)
    }

    /// Drops every packet past `max_age`, so a stream that went quiet does
    /// not hold its last packets forever.
    pub fn expire(&mut self, now: Instant) {
        let max_age = self.cfg.max_age;
        for slot in &mut self.slots {
            if slot
                .as_ref()
                .is_some_and(|s| now.saturating_duration_since(s.stored_at) > max_age)
            {
                *slot = None;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The sequence numbers one Generic NACK entry (RFC 4585 §6.2.1) names: the
/// packet id plus each bit of the bitmask of following lost packets.
pub fn nack_seqs(pid: u16, blp: u16) -> impl Iterator<Item = u16> {
    std::iter::once(pid).chain(
        (0..16u16)
            .filter(move |bit| blp & (1 << bit) != 0)
            .map(move |bit| pid.wrapping_add(bit + 1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::SimClock;

    const RTT: Duration = Duration::from_millis(100);

    #[test]
    fn resends_a_stored_packet_once_per_round_trip() {
        let mut clock = SimClock::new();
        let mut cache = RetransmitCache::new(RetransmitConfig::default());
        cache.insert(clock.now, 7, "seven");
        assert_eq!(cache.on_nack(clock.now, 7, RTT), Resend::Send(&"seven"));
        clock.advance(Duration::from_millis(50));
        assert_eq!(cache.on_nack(clock.now, 7, RTT), Resend::TooSoon);
        clock.advance(Duration::from_millis(50));
        assert_eq!(cache.on_nack(clock.now, 7, RTT), Resend::Send(&"seven"));
        // A zero RTT estimate still waits the configured minimum.
        clock.advance(Duration::from_millis(5));
        assert_eq!(cache.on_nack(clock.now, 7, Duration::ZERO), Resend::TooSoon);
    }

    #[test]
    fn unknown_overwritten_and_expired_packets_are_not_resent() {
        let mut clock = SimClock::new();
        let cfg = RetransmitConfig {
            capacity: 500,
            ..RetransmitConfig::default()
        };
        let mut cache = RetransmitCache::new(cfg);
        assert_eq!(cache.capacity(), 512);
        assert_eq!(cache.on_nack(clock.now, 1, RTT), Resend::Unknown);
        for seq in 0..600u16 {
            cache.insert(clock.now, seq, seq);
        }
        assert_eq!(cache.len(), 512);
        assert_eq!(cache.on_nack(clock.now, 10, RTT), Resend::Unknown, "overwritten by 522");
        assert_eq!(cache.on_nack(clock.now, 522, RTT), Resend::Send(&522));
        clock.advance(Duration::from_millis(1001));
        assert_eq!(cache.on_nack(clock.now, 523, RTT), Resend::Expired);
        cache.insert(clock.now, 600, 600);
        cache.expire(clock.now);
        assert_eq!(cache.len(), 1);
        assert!(!cache.is_empty());
    }

    #[test]
    fn works_across_the_sequence_wrap() {
        let clock = SimClock::new();
        let mut cache = RetransmitCache::new(RetransmitConfig::default());
        for seq in (65500u16..=65535).chain(0..40) {
            cache.insert(clock.now, seq, u32::from(seq));
        }
        assert_eq!(cache.on_nack(clock.now, 65535, RTT), Resend::Send(&65535));
        assert_eq!(cache.on_nack(clock.now, 3, RTT), Resend::Send(&3));
    }

    #[test]
    fn nack_bitmask_expands_with_wrap() {
        assert_eq!(nack_seqs(10, 0).collect::<Vec<_>>(), vec![10]);
        assert_eq!(nack_seqs(65534, 0b101).collect::<Vec<_>>(), vec![65534, 65535, 1]);
        assert_eq!(nack_seqs(0, 0xffff).count(), 17);
    }
}
