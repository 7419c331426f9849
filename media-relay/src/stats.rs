//! Per-participant quality figures: what the relay knows about each link,
//! gathered from str0m's periodic stats events and the allocator's choices.
//! Read through [`crate::RelayHandle::participant_stats`] for the clients'
//! quality reports, `/metrics`, and the per-consult summary.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use str0m::media::Mid;
use str0m::Event;

/// How often str0m reports stats per participant.
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// One participant's link as the relay sees it, at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantStats {
    pub participant: String,
    pub room: String,
    /// Media received from the participant (its uplink), bit/s.
    pub bitrate_in_bps: u64,
    /// Media sent to the participant (its downlink), bit/s.
    pub bitrate_out_bps: u64,
    /// The relay's send-side estimate of the participant's downlink.
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
    last_peer: Option<(Instant, u64, u64)>,
    pub bitrate_in_bps: u64,
    pub bitrate_out_bps: u64,
    pub loss_in: Option<f32>,
    pub loss_out: Option<f32>,
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
                if let Some((at, rx, tx)) = self.last_peer {
                    let secs = s.timestamp.saturating_duration_since(at).as_secs_f64();
                    if secs > 0.0 {
                        self.bitrate_in_bps = (s.peer_bytes_rx.saturating_sub(rx) as f64 * 8.0 / secs) as u64;
                        self.bitrate_out_bps = (s.peer_bytes_tx.saturating_sub(tx) as f64 * 8.0 / secs) as u64;
                    }
                }
                self.last_peer = Some((s.timestamp, s.peer_bytes_rx, s.peer_bytes_tx));
                self.loss_in = s.ingress_loss_fraction.or(self.loss_in);
                self.loss_out = s.egress_loss_fraction.or(self.loss_out);
                self.rtt = s.rtt.or(self.rtt);
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

    pub fn nacks(&self) -> u64 {
        self.nacks.values().sum()
    }

    pub fn keyframe_requests(&self) -> u64 {
        self.keyframe_requests.values().sum()
    }
}
