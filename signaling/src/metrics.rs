//! `GET /metrics`: the relay's figures in Prometheus text format (version
//! 0.0.4), per participant labelled by consult id and opaque participant id —
//! never a name or anything clinical.
//!
//! Who may read it: a scraper on the same host. Requests from other
//! addresses, or that a reverse proxy forwarded (`X-Forwarded-For` set), get
//! 404, so putting Cerca behind a proxy does not publish it.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use media_relay::{ParticipantStats, RelayStats};

use crate::error::error_body;
use crate::extract::ClientInfo;
use crate::state::AppState;

pub async fn metrics(State(state): State<AppState>, client: ClientInfo, headers: HeaderMap) -> Response {
    let local = client.ip.is_some_and(|ip| ip.is_loopback());
    if !local || headers.contains_key("x-forwarded-for") {
        return (StatusCode::NOT_FOUND, Json(error_body("not_found", "no such page"))).into_response();
    }
    let (Ok(relay), Ok(participants)) = (state.relay.stats().await, state.relay.participant_stats().await) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(error_body("relay_unavailable", "the media relay is not running")),
        )
            .into_response();
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        render(&relay, &participants),
    )
        .into_response()
}

/// The exposition text; pure, so it is tested without a server.
pub fn render(relay: &RelayStats, participants: &[ParticipantStats]) -> String {
    let mut out = String::new();
    counter(
        &mut out,
        "cerca_relay_datagrams_received_total",
        "Datagrams received on the media port.",
    );
    let _ = writeln!(out, "cerca_relay_datagrams_received_total {}", relay.datagrams_received);
    counter(
        &mut out,
        "cerca_relay_datagrams_sent_total",
        "Datagrams sent from the media port.",
    );
    let _ = writeln!(out, "cerca_relay_datagrams_sent_total {}", relay.datagrams_sent);
    counter(
        &mut out,
        "cerca_relay_datagrams_dropped_total",
        "Datagrams dropped: unrouted (no participant) or refused (by its WebRTC stack).",
    );
    let _ = writeln!(
        out,
        "cerca_relay_datagrams_dropped_total{{reason=\"unrouted\"}} {}",
        relay.datagrams_unrouted
    );
    let _ = writeln!(
        out,
        "cerca_relay_datagrams_dropped_total{{reason=\"refused\"}} {}",
        relay.datagrams_refused
    );
    gauge(
        &mut out,
        "cerca_relay_participants",
        "Participants connected to the relay.",
    );
    let _ = writeln!(out, "cerca_relay_participants {}", participants.len());

    type Field = fn(&ParticipantStats) -> Option<f64>;
    let per_participant: [(&str, &str, bool, Field); 9] = [
        (
            "cerca_participant_bitrate_in_bps",
            "Media received from the participant, bit/s.",
            false,
            |p| Some(p.bitrate_in_bps as f64),
        ),
        (
            "cerca_participant_bitrate_out_bps",
            "Media sent to the participant, bit/s.",
            false,
            |p| Some(p.bitrate_out_bps as f64),
        ),
        (
            "cerca_participant_estimate_bps",
            "Send-side bandwidth estimate toward the participant, bit/s.",
            false,
            |p| p.estimate_bps.map(|v| v as f64),
        ),
        (
            "cerca_participant_loss_in_ratio",
            "Fraction of packets lost from the participant.",
            false,
            |p| p.loss_in.map(f64::from),
        ),
        (
            "cerca_participant_loss_out_ratio",
            "Fraction of packets lost toward the participant.",
            false,
            |p| p.loss_out.map(f64::from),
        ),
        (
            "cerca_participant_rtt_seconds",
            "Round-trip time to the participant.",
            false,
            |p| p.rtt_ms.map(|v| v as f64 / 1000.0),
        ),
        (
            "cerca_participant_nacks_total",
            "NACKs the participant sent.",
            true,
            |p| Some(p.nacks_received as f64),
        ),
        (
            "cerca_participant_keyframe_requests_total",
            "PLIs and FIRs the participant sent.",
            true,
            |p| Some(p.keyframe_requests_received as f64),
        ),
        (
            "cerca_participant_video_frames_skipped_total",
            "Video frames not sent because the participant's send queue was too deep.",
            true,
            |p| Some(p.video_frames_skipped as f64),
        ),
    ];
    for (name, help, is_counter, field) in per_participant {
        if is_counter {
            counter(&mut out, name, help);
        } else {
            gauge(&mut out, name, help);
        }
        for p in participants {
            if let Some(v) = field(p) {
                let _ = writeln!(out, "{name}{{{}}} {v}", labels(p));
            }
        }
    }
    gauge(
        &mut out,
        "cerca_participant_video_layer",
        "Simulcast layer of each received video (0 = lowest, -1 = paused).",
    );
    for p in participants {
        for v in &p.video {
            let layer = v.layer.map_or(-1, i32::from);
            let _ = writeln!(
                out,
                "cerca_participant_video_layer{{{},origin=\"{}\"}} {layer}",
                labels(p),
                escape(&v.origin)
            );
        }
    }
    out
}

fn labels(p: &ParticipantStats) -> String {
    format!(
        "consult=\"{}\",participant=\"{}\"",
        escape(&p.room),
        escape(&p.participant)
    )
}

fn counter(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
}

fn gauge(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_relay::VideoLayerStat;

    #[test]
    fn renders_counters_gauges_and_a_paused_layer() {
        let relay = RelayStats {
            datagrams_received: 10,
            datagrams_sent: 12,
            datagrams_unrouted: 2,
            datagrams_refused: 1,
        };
        let p = ParticipantStats {
            participant: "p1".into(),
            room: "42".into(),
            bitrate_in_bps: 500_000,
            bitrate_out_bps: 90_000,
            estimate_bps: None,
            loss_in: Some(0.25),
            loss_out: None,
            rtt_ms: Some(120),
            nacks_received: 3,
            keyframe_requests_received: 1,
            video_frames_skipped: 3,
            video: vec![VideoLayerStat {
                origin: "p\"2".into(),
                layer: None,
                paused: Some("bandwidth"),
            }],
        };
        let text = render(&relay, &[p]);
        assert!(text.contains("cerca_relay_datagrams_dropped_total{reason=\"unrouted\"} 2\n"));
        assert!(text.contains("cerca_participant_bitrate_in_bps{consult=\"42\",participant=\"p1\"} 500000\n"));
        assert!(text.contains("cerca_participant_rtt_seconds{consult=\"42\",participant=\"p1\"} 0.12\n"));
        assert!(text.contains("# TYPE cerca_participant_nacks_total counter\n"));
        // Unknown figures are left out rather than reported as 0.
        assert!(!text.contains("cerca_participant_estimate_bps{"));
        assert!(
            text.contains("cerca_participant_video_layer{consult=\"42\",participant=\"p1\",origin=\"p\\\"2\"} -1\n")
        );
    }
}
