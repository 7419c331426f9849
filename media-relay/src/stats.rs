//! Per-participant quality figures: what the relay knows about each link,
//! gathered from str0m's periodic stats events and the allocator's choices.
//! Read through [`crate::RelayHandle::participant_stats`] for the clients'
//! quality reports, `/metrics`, and the per-consult summary.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use str0m::media::Mid;
use str0m::Event;

/// How often str0m reports stats per participant. Often, because its loss
/// figures are how the relay sees a link collapse: with a report a second,
/// a downlink that fell from 50 Mbit/s to 250 kbit/s was seen losing 45 % of
/// the video only 1.2 s after the fall, and the picture froze for that long
/// (`bench/bench rural --profile step-down`).
pub const STATS_INTERVAL: Duration = Duration::from_millis(250);

/// The span bitrates and the loss toward the relay are averaged over, so
/// they read the same whatever [`STATS_INTERVAL`] is: a 250 ms span holds a
/// keyframe or not, and its bitrate swings with that.
pub const AVERAGE_OVER: Duration = Duration::from_secs(1);

/// Loss on a participant's link from which the link is congested, not merely
/// lossy; [`StatsCollector::heavy_loss_out_at`] and
/// [`StatsCollector::heavy_loss_in_at`] remember when it was last seen.
pub const HEAVY_LOSS: f32 = 0.1;

/// Whether a reported loss fraction is [`HEAVY_LOSS`] or more.
pub fn is_heavy(loss: Option<f32>) -> bool {
    loss.is_some_and(|l| l >= HEAVY_LOSS)
}

/// Loss toward the relay, in each of two reports in a row, from which the
/// participant's uplink has collapsed under what it sends: its higher
/// simulcast layers are then offered to nobody (`publish.rs`). On
/// `bench/bench rural --profile step-down` the patient's first four reports
/// after its uplink fell to 250 kbit/s lost 64, 58, 50 and 38 %; on
/// rural-4g and satellite, whose links lose 1 % at random, no report lost
/// more than 8 % (241 and 224 reports). Two reports, not one: the first
/// report after an outage counts the outage's gap as loss.
pub const SEVERE_LOSS: f32 = 0.25;

/// One participant's link as the relay sees it, at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantStats {
    pub participant: String,
    pub room: String,
    /// Media received from the participant (its uplink), bit/s.
    pub bitrate_in_bps: u64,
    /// Media sent to the participant (its downlink), bit/s.
    pub bitrate_out_bps: u64,
    /// The relay's send-side estimate of the participant's downlink, as it
    /// allocates by it (`Participant::estimate_now`).
    pub estimate_bps: Option<u64>,
    /// Fraction of packets lost on the way to the relay, 0–1.
    pub loss_in: Option<f32>,
    /// Fraction of packets lost on the way to the participant, 0–1.
    pub loss_out: Option<f32>,
    pub rtt_ms: Option<u64>,
    /// NACKs and PLIs/FIRs the participant sent about what it receives.
    pub nacks_received: u64,
    pub keyframe_requests_received: u64,
    /// Video frames the relay did not send because the participant's send
    /// queue was already too deep (`send_queue.rs`).
    pub video_frames_skipped: u64,
    /// Per received video: the publisher, and the layer forwarded now
    /// (`None` while paused).
    pub video: Vec<VideoLayerStat>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoLayerStat {
    pub origin: String,
    /// 0 = lowest; `None` = paused.
    pub layer: Option<u8>,
    /// Why it is paused, when it is: `bandwidth`, `not_wanted`, `no_layers`.
    pub paused: Option<&'static str>,
}

impl ParticipantStats {
    pub fn video_paused(&self) -> bool {
        self.video.iter().any(|v| v.layer.is_none())
    }
}

/// Accumulates str0m's stats events for one participant.
#[derive(Debug, Clone, Default)]
pub struct StatsCollector {
    /// Byte counters (at, received, sent) over the last [`AVERAGE_OVER`].
    peer_counters: VecDeque<(Instant, u64, u64)>,
    /// str0m's loss toward the relay per report, over the last [`AVERAGE_OVER`].
    loss_in_reports: VecDeque<(Instant, f32)>,
    pub bitrate_in_bps: u64,
    pub bitrate_out_bps: u64,
    pub loss_in: Option<f32>,
    /// Over the last second (str0m's own span).
    pub loss_out: Option<f32>,
    /// When loss toward the participant was last [`HEAVY_LOSS`] or more.
    pub heavy_loss_out_at: Option<Instant>,
    /// When loss toward the relay was last [`HEAVY_LOSS`] or more, in one
    /// report (not averaged: its uplink congested).
    pub heavy_loss_in_at: Option<Instant>,
    /// When loss toward the relay was last [`SEVERE_LOSS`] or more in two
    /// reports in a row (the time of the second).
    pub severe_loss_in_at: Option<Instant>,
    /// Whether the last report's loss toward the relay was [`SEVERE_LOSS`]
    /// or more (a report with no figure, as in an outage, was not).
    last_report_severe: bool,
    /// str0m's estimate toward the participant as its pacer follows it now
    /// (the one its events report is an average of the last 3 s).
    pub pacer_estimate_bps: Option<u64>,
    pub rtt: Option<Duration>,
    /// Totals per outgoing mid (str0m reports running totals).
    nacks: BTreeMap<Mid, u64>,
    keyframe_requests: BTreeMap<Mid, u64>,
    /// Frames skipped for a congested send queue, since the participant joined.
    pub video_frames_skipped: u64,
}

impl StatsCollector {
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::PeerStats(s) => {
                let at = s.timestamp;
                let (rx, tx) = (s.peer_bytes_rx, s.peer_bytes_tx);
                if let Some(&(from, rx0, tx0)) = keep_span(&mut self.peer_counters, at).front() {
                    let secs = at.saturating_duration_since(from).as_secs_f64();
                    if secs > 0.0 {
                        self.bitrate_in_bps = (rx.saturating_sub(rx0) as f64 * 8.0 / secs) as u64;
                        self.bitrate_out_bps = (tx.saturating_sub(tx0) as f64 * 8.0 / secs) as u64;
                    }
                }
                self.peer_counters.push_back((at, rx, tx));
                if is_heavy(s.ingress_loss_fraction) {
                    self.heavy_loss_in_at = Some(at);
                }
                // Every report counts, one without a figure (nothing came
                // in: an outage) as not severe: a severe report before an
                // outage and the first after it, which counts the outage's
                // gap as loss, are not two in a row.
                let severe = s.ingress_loss_fraction.is_some_and(|l| l >= SEVERE_LOSS);
                if severe && self.last_report_severe {
                    self.severe_loss_in_at = Some(at);
                }
                self.last_report_severe = severe;
                if let Some(loss) = s.ingress_loss_fraction {
                    // Dropped once older than the span, with the counters
                    // (`keep_span` keeps one entry older than it, which
                    // is a baseline for counters but no loss of this span).
                    self.loss_in_reports.push_back((at, loss));
                    while self
                        .loss_in_reports
                        .front()
                        .is_some_and(|&(t, _)| at.saturating_duration_since(t) >= AVERAGE_OVER)
                    {
                        self.loss_in_reports.pop_front();
                    }
                    let sum: f32 = self.loss_in_reports.iter().map(|&(_, l)| l).sum();
                    self.loss_in = Some(sum / self.loss_in_reports.len() as f32);
                }
                self.loss_out = s.egress_loss_fraction.or(self.loss_out);
                if is_heavy(s.egress_loss_fraction) {
                    self.heavy_loss_out_at = Some(at);
                }
                self.rtt = s.rtt.or(self.rtt);
                if let Some(estimate) = s.bwe_tx {
                    self.pacer_estimate_bps = Some(estimate.as_u64());
                }
            }
            Event::MediaEgressStats(s) => {
                // Simulcast never applies to what the relay sends, so one
                // entry per mid is the whole story.
                self.nacks.insert(s.mid, s.nacks);
                self.keyframe_requests.insert(s.mid, s.plis + s.firs);
                if s.rtt.is_some() {
                    self.rtt = s.rtt;
                }
            }
            _ => {}
        }
    }

    /// Whether loss toward the participant was heavy within `within` of `now`.
    pub fn heavy_loss_out_within(&self, now: Instant, within: Duration) -> bool {
        seen_within(self.heavy_loss_out_at, now, within)
    }

    /// Whether loss toward the relay was heavy within `within` of `now`.
    pub fn heavy_loss_in_within(&self, now: Instant, within: Duration) -> bool {
        seen_within(self.heavy_loss_in_at, now, within)
    }

    pub fn nacks(&self) -> u64 {
        self.nacks.values().sum()
    }

    pub fn keyframe_requests(&self) -> u64 {
        self.keyframe_requests.values().sum()
    }
}

/// Drops the counters a report at `at` no longer needs: all but the newest
/// one at least [`AVERAGE_OVER`] old, which is the baseline the rates are
/// taken from.
fn keep_span(counters: &mut VecDeque<(Instant, u64, u64)>, at: Instant) -> &VecDeque<(Instant, u64, u64)> {
    while counters
        .get(1)
        .is_some_and(|&(t, _, _)| at.saturating_duration_since(t) >= AVERAGE_OVER)
    {
        counters.pop_front();
    }
    counters
}

/// Whether `at` is within `within` before `now`.
fn seen_within(at: Option<Instant>, now: Instant, within: Duration) -> bool {
    at.is_some_and(|at| now.saturating_duration_since(at) < within)
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::stats::PeerStats;

    fn report(at: Instant, rx: u64, tx: u64, loss_in: Option<f32>, loss_out: Option<f32>) -> Event {
        Event::PeerStats(PeerStats {
            peer_bytes_rx: rx,
            peer_bytes_tx: tx,
            bytes_rx: rx,
            bytes_tx: tx,
            timestamp: at,
            bwe_tx: None,
            egress_loss_fraction: loss_out,
            ingress_loss_fraction: loss_in,
            rtt: None,
            selected_candidate_pair: None,
        })
    }

    #[test]
    fn bitrates_and_loss_in_are_averaged_over_a_second() {
        let t0 = Instant::now();
        let mut c = StatsCollector::default();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 125 000 bytes sent per 250 ms (4 Mbit/s), except a 250 000-byte
        // keyframe quarter: 5 Mbit/s over the second that holds it.
        let mut tx = 0;
        for (i, bytes) in [0, 125_000, 250_000, 125_000, 125_000].into_iter().enumerate() {
            tx += bytes;
            let loss = if i == 4 { 0.4 } else { 0.0 };
            c.on_event(&report(at(250 * i as u64), tx / 2, tx, Some(loss), None));
        }
        assert_eq!(c.bitrate_out_bps, 5_000_000);
        assert_eq!(c.bitrate_in_bps, 2_500_000);
        // Four reports in the last second, one of them losing 40 %.
        assert!((c.loss_in.unwrap() - 0.1).abs() < 1e-6, "{:?}", c.loss_in);
        tx += 125_000;
        c.on_event(&report(at(1250), tx / 2, tx, Some(0.0), None));
        assert_eq!(
            c.bitrate_out_bps, 5_000_000,
            "the keyframe's quarter is still in the span"
        );
        tx += 125_000;
        c.on_event(&report(at(1500), tx / 2, tx, Some(0.0), None));
        assert_eq!(c.bitrate_out_bps, 4_000_000, "and now it is out of it");
    }

    #[test]
    fn heavy_loss_toward_the_participant_is_remembered() {
        let t0 = Instant::now();
        let mut c = StatsCollector::default();
        c.on_event(&report(t0, 0, 0, None, Some(0.05)));
        assert!(!c.heavy_loss_out_within(t0, Duration::from_secs(10)));
        c.on_event(&report(t0 + Duration::from_secs(1), 0, 0, None, Some(HEAVY_LOSS)));
        c.on_event(&report(t0 + Duration::from_secs(2), 0, 0, None, Some(0.0)));
        assert_eq!(c.loss_out, Some(0.0));
        assert!(c.heavy_loss_out_within(t0 + Duration::from_secs(10), Duration::from_secs(10)));
        assert!(!c.heavy_loss_out_within(t0 + Duration::from_secs(11), Duration::from_secs(10)));
    }

    #[test]
    fn one_report_of_heavy_loss_toward_the_relay_is_remembered() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let second = Duration::from_secs(1);
        let mut c = StatsCollector::default();
        c.on_event(&report(at(0), 0, 0, Some(0.05), None));
        assert!(!c.heavy_loss_in_within(at(0), second));
        c.on_event(&report(at(250), 0, 0, Some(0.3), None));
        c.on_event(&report(at(500), 0, 0, Some(0.0), None));
        assert!(c.heavy_loss_in_within(at(1249), second), "whatever the average");
        assert!(!c.heavy_loss_in_within(at(1250), second));
    }

    #[test]
    fn severe_loss_toward_the_relay_counts_in_two_reports_in_a_row() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut c = StatsCollector::default();
        // One report, as after an outage: its gap is not a collapse.
        c.on_event(&report(at(0), 0, 0, Some(0.9), None));
        c.on_event(&report(at(250), 0, 0, Some(0.05), None));
        c.on_event(&report(at(500), 0, 0, Some(SEVERE_LOSS), None));
        assert_eq!(c.severe_loss_in_at, None);
        // Step-down's uplink: 64 % then 58 %.
        c.on_event(&report(at(750), 0, 0, Some(0.64), None));
        assert_eq!(c.severe_loss_in_at, Some(at(750)));
        c.on_event(&report(at(1000), 0, 0, Some(0.58), None));
        c.on_event(&report(at(1250), 0, 0, Some(0.1), None));
        c.on_event(&report(at(1500), 0, 0, Some(0.3), None));
        assert_eq!(c.severe_loss_in_at, Some(at(1000)));
        // Severe, then an outage (reports with nothing received), then the
        // first report after it: not a collapse.
        c.on_event(&report(at(1750), 0, 0, None, None));
        c.on_event(&report(at(6750), 0, 0, Some(0.9), None));
        assert_eq!(c.severe_loss_in_at, Some(at(1000)));
    }
}
