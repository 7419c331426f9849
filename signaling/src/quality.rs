//! Call quality from the relay's side, every [`REPORT_EVERY`]: each
//! participant gets a `quality` message about its own link (docs/protocol.md),
//! and each call's figures are summed so that, when its room empties, one
//! `call_quality` row per participant records how the link held up.
//!
//! Why sample here and not in the relay: the relay knows participants by
//! opaque id; signaling knows which consult and which role they are.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use media_relay::ParticipantStats;

use crate::on_db;
use crate::state::AppState;
use crate::ws::protocol::{QualityReport, QualityVideo, ServerMessage};

pub const REPORT_EVERY: Duration = Duration::from_secs(2);

/// One participant's figures over a call, summed sample by sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub role: String,
    pub samples: u32,
    sum_in: u64,
    sum_out: u64,
    sum_estimate: u64,
    estimates: u32,
    pub min_estimate: Option<u64>,
    pub max_loss_in: Option<f32>,
    pub max_loss_out: Option<f32>,
    pub max_rtt_ms: Option<u64>,
    pub paused_samples: u32,
    pub lowest_layer: Option<u8>,
}

impl Summary {
    pub fn add(&mut self, s: &ParticipantStats) {
        self.samples += 1;
        self.sum_in += s.bitrate_in_bps;
        self.sum_out += s.bitrate_out_bps;
        if let Some(e) = s.estimate_bps {
            self.sum_estimate += e;
            self.estimates += 1;
            self.min_estimate = Some(self.min_estimate.map_or(e, |m| m.min(e)));
        }
        self.max_loss_in = max_f(self.max_loss_in, s.loss_in);
        self.max_loss_out = max_f(self.max_loss_out, s.loss_out);
        self.max_rtt_ms = self.max_rtt_ms.max(s.rtt_ms);
        if s.video_paused() {
            self.paused_samples += 1;
        }
        for layer in s.video.iter().filter_map(|v| v.layer) {
            self.lowest_layer = Some(self.lowest_layer.map_or(layer, |l| l.min(layer)));
        }
    }

    pub fn avg_in(&self) -> u64 {
        self.sum_in / u64::from(self.samples.max(1))
    }

    pub fn avg_out(&self) -> u64 {
        self.sum_out / u64::from(self.samples.max(1))
    }

    pub fn avg_estimate(&self) -> Option<u64> {
        (self.estimates > 0).then(|| self.sum_estimate / u64::from(self.estimates))
    }

    fn seconds(&self, samples: u32) -> i64 {
        i64::from(samples) * REPORT_EVERY.as_secs() as i64
    }
}

fn max_f(a: Option<f32>, b: Option<f32>) -> Option<f32> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// `s`'s quality message; `all` (every participant the relay knows) gives
/// each received video's publisher round trip.
pub fn report(s: &ParticipantStats, all: &[ParticipantStats]) -> QualityReport {
    let rtt_of = |id: &str| all.iter().find(|p| p.participant == id).and_then(|p| p.rtt_ms);
    QualityReport {
        bitrate_in: s.bitrate_in_bps,
        bitrate_out: s.bitrate_out_bps,
        estimate: s.estimate_bps,
        loss_in: s.loss_in,
        loss_out: s.loss_out,
        rtt_ms: s.rtt_ms,
        video: s
            .video
            .iter()
            .map(|v| QualityVideo {
                participant_id: v.origin.clone(),
                layer: v.layer,
                sender_rtt_ms: rtt_of(&v.origin),
            })
            .collect(),
    }
}

/// Runs until the server shuts down.
pub async fn run(state: AppState) {
    let mut shutdown = state.rooms.shutdown_signal();
    let mut tick = tokio::time::interval(REPORT_EVERY);
    // consult id → participant id → summary.
    let mut calls: HashMap<i64, HashMap<String, Summary>> = HashMap::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        let Ok(stats) = state.relay.participant_stats().await else {
            break;
        };
        let mut live: HashMap<i64, ()> = HashMap::new();
        for s in &stats {
            // The relay's room is the consult id (ws::session joins it so).
            let Ok(consult_id) = s.room.parse::<i64>() else {
                continue;
            };
            live.insert(consult_id, ());
            state
                .rooms
                .send_to(&s.participant, ServerMessage::Quality(report(s, &stats)));
            let role = state.rooms.role_of(&s.participant);
            let summary = calls
                .entry(consult_id)
                .or_default()
                .entry(s.participant.clone())
                .or_default();
            if let Some(role) = role {
                summary.role = role.as_str().to_string();
            }
            summary.add(s);
        }
        let ended: Vec<i64> = calls.keys().filter(|c| !live.contains_key(c)).copied().collect();
        for consult_id in ended {
            if let Some(participants) = calls.remove(&consult_id) {
                if let Err(e) = store(&state, consult_id, participants.values()).await {
                    tracing::warn!(consult_id, error = %e, "call quality summary not stored");
                }
            }
        }
    }
    // Calls still running at shutdown end here; keep what was measured.
    for (consult_id, participants) in calls {
        if let Err(e) = store(&state, consult_id, participants.values()).await {
            tracing::warn!(consult_id, error = %e, "call quality summary not stored");
        }
    }
}

async fn store<'a>(
    state: &AppState,
    consult_id: i64,
    summaries: impl Iterator<Item = &'a Summary>,
) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    let recorded_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    for s in summaries.filter(|s| !s.role.is_empty()) {
        on_db!(&state.db, pool => {
            sqlx::query(
                "INSERT INTO call_quality (consult_id, role, sampled_seconds, avg_bitrate_in_bps, \
                 avg_bitrate_out_bps, min_estimate_bps, avg_estimate_bps, max_loss_in, max_loss_out, max_rtt_ms, \
                 video_paused_seconds, lowest_layer, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(consult_id)
            .bind(&s.role)
            .bind(s.seconds(s.samples) as i32)
            .bind(s.avg_in() as i64)
            .bind(s.avg_out() as i64)
            .bind(s.min_estimate.map(|v| v as i64))
            .bind(s.avg_estimate().map(|v| v as i64))
            .bind(s.max_loss_in.map(f64::from))
            .bind(s.max_loss_out.map(f64::from))
            .bind(s.max_rtt_ms.map(|v| v as i64))
            .bind(s.seconds(s.paused_samples) as i32)
            .bind(s.lowest_layer.map(i32::from))
            .bind(recorded_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_relay::VideoLayerStat;

    fn sample(in_bps: u64, estimate: Option<u64>, loss: Option<f32>, layer: Option<u8>) -> ParticipantStats {
        ParticipantStats {
            participant: "p1".into(),
            room: "7".into(),
            bitrate_in_bps: in_bps,
            bitrate_out_bps: 2 * in_bps,
            estimate_bps: estimate,
            loss_in: loss,
            loss_out: None,
            rtt_ms: Some(in_bps / 1000),
            nacks_received: 0,
            keyframe_requests_received: 0,
            video_frames_skipped: 0,
            video: vec![VideoLayerStat {
                origin: "p2".into(),
                layer,
                paused: layer.is_none().then_some("bandwidth"),
            }],
        }
    }

    #[test]
    fn a_summary_keeps_averages_extremes_and_paused_time() {
        let mut s = Summary::default();
        s.add(&sample(100_000, Some(900_000), Some(0.01), Some(2)));
        s.add(&sample(300_000, Some(200_000), None, None));
        s.add(&sample(200_000, None, Some(0.05), Some(0)));
        assert_eq!(s.samples, 3);
        assert_eq!(s.avg_in(), 200_000);
        assert_eq!(s.avg_out(), 400_000);
        assert_eq!(s.min_estimate, Some(200_000));
        assert_eq!(s.avg_estimate(), Some(550_000));
        assert_eq!(s.max_loss_in, Some(0.05));
        assert_eq!(s.max_rtt_ms, Some(300));
        assert_eq!(s.paused_samples, 1);
        assert_eq!(s.lowest_layer, Some(0));
    }

    #[test]
    fn a_report_gives_each_received_videos_publisher_round_trip() {
        let viewer = sample(100_000, Some(900_000), None, Some(1));
        let mut publisher = sample(640_000, None, None, None);
        publisher.participant = "p2".into();
        let report = report(&viewer, &[viewer.clone(), publisher]);
        assert_eq!(report.rtt_ms, Some(100));
        assert_eq!(report.video[0].participant_id, "p2");
        assert_eq!(report.video[0].sender_rtt_ms, Some(640));
        // A publisher the relay no longer knows: unknown, not 0.
        assert_eq!(super::report(&viewer, &[]).video[0].sender_rtt_ms, None);
    }
}
