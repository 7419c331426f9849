//! The adaptation pass, run a few times a second over every participant:
//! per subscriber, the allocator picks each received video's layer from that
//! subscriber's bandwidth estimate; the rewriters get their targets; pauses
//! and resumes are told to the subscriber; the congestion controller is told
//! what to probe for; publishers are told which layers nobody takes; and the
//! keyframes that pending switches wait for are requested (throttled).
//!
//! Why a periodic pass and not per frame: estimates change a few times a
//! second and the allocator's hysteresis works in hundreds of milliseconds,
//! while frames arrive hundreds of times a second.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::media::{KeyframeRequestKind, Mid};

use crate::allocator::{Priority, Target, VideoTrack};
use crate::engine::RelayEvent;
use crate::layer::{Layer, LayerSet, MAX_LAYERS};
use crate::participant::{OutState, Participant};

/// How often the pass runs.
pub const ADAPT_EVERY: Duration = Duration::from_millis(200);

/// Where str0m's estimate starts for a new participant: enough for audio and
/// the lowest layer, so video starts at once on a 3G link, and probing
/// climbs from there.
pub const INITIAL_ESTIMATE_BPS: u64 = 300_000;

type TrackKey = (String, Mid);

pub(crate) fn run(
    now: Instant,
    participants: &mut HashMap<String, Participant>,
    events: &mut VecDeque<RelayEvent>,
    dirty: &mut BTreeSet<String>,
) {
    let mut rates: HashMap<TrackKey, [Option<u64>; MAX_LAYERS]> = HashMap::new();
    for p in participants.values_mut() {
        for t in &mut p.tracks_in {
            if let Some(video) = &mut t.video {
                rates.insert((p.id.clone(), t.mid), video.layer_rates(now));
            }
        }
    }

    let mut taken: HashMap<TrackKey, LayerSet> = HashMap::new();
    let mut keyframes_wanted: Vec<(String, Mid, Layer)> = Vec::new();
    for s in participants.values_mut() {
        allocate_for(now, s, &rates, events, &mut taken, &mut keyframes_wanted);
        dirty.insert(s.id.clone());
    }

    for p in participants.values_mut() {
        tell_unused_layers(now, p, &taken, events);
    }
    for (origin, mid, layer) in keyframes_wanted {
        if let Some(p) = participants.get_mut(&origin) {
            p.request_keyframe(now, mid, layer, KeyframeRequestKind::Pli);
            dirty.insert(origin);
        }
    }
    for p in participants.values_mut() {
        p.send_deferred_keyframe_requests(now);
    }
}

/// One subscriber: allocate, apply, report, probe.
fn allocate_for(
    now: Instant,
    s: &mut Participant,
    rates: &HashMap<TrackKey, [Option<u64>; MAX_LAYERS]>,
    events: &mut VecDeque<RelayEvent>,
    taken: &mut HashMap<TrackKey, LayerSet>,
    keyframes_wanted: &mut Vec<(String, Mid, Layer)>,
) {
    let mut tracks = Vec::new();
    let mut audio_tracks = 0;
    for t in &s.tracks_out {
        if !matches!(t.state, OutState::Open(_)) {
            continue;
        }
        match (&t.video, rates.get(&(t.origin.clone(), t.mid_in))) {
            (None, _) => audio_tracks += 1,
            (Some(v), Some(layers)) => tracks.push(VideoTrack {
                id: v.id,
                layers: *layers,
                priority: Priority::Normal,
                max_layer: Some(Layer::HIGH),
            }),
            (Some(_), None) => {}
        }
    }
    if tracks.is_empty() {
        return;
    }
    let estimate = s.estimate_bps.unwrap_or(INITIAL_ESTIMATE_BPS);
    if s.probe.confirmed(estimate) {
        s.allocator.probe_succeeded();
    }
    let allocations = s.allocator.update(now, estimate, &tracks, audio_tracks);

    let mut allocated = s.allocator.audio_reserve(audio_tracks);
    let mut next_step = u64::MAX;
    for (a, track) in allocations.iter().zip(&tracks) {
        allocated += a.bitrate_bps;
        next_step = next_step.min(step_above(track, a.layer()));
        let Some(out) = s
            .tracks_out
            .iter_mut()
            .find(|t| t.video.as_ref().is_some_and(|v| v.id == a.track))
        else {
            continue;
        };
        let key = (out.origin.clone(), out.mid_in);
        let Some(v) = out.video.as_mut() else { continue };
        v.rewriter.set_target(a.layer());
        let paused = match a.target {
            Target::Paused(reason) => Some(reason),
            Target::Layer(_) => None,
        };
        if paused != v.told_paused {
            events.push_back(match paused {
                Some(reason) => RelayEvent::VideoPaused {
                    participant: s.id.clone(),
                    origin: out.origin.clone(),
                    reason,
                },
                None => RelayEvent::VideoResumed {
                    participant: s.id.clone(),
                    origin: out.origin.clone(),
                },
            });
            v.told_paused = paused;
        }
        let set = taken.entry(key.clone()).or_default();
        for layer in [v.rewriter.current(), v.rewriter.target()].into_iter().flatten() {
            set.insert(layer);
        }
        if let Some(layer) = v.rewriter.awaiting_keyframe() {
            keyframes_wanted.push((key.0, key.1, layer));
        }
    }

    // `desired` is what the subscriber would take: str0m probes toward it in
    // short bursts, which is how the estimate finds room a paused or low
    // layer does not use. `minimum`
    // is traffic str0m sustains with padding: only when the next step is
    // within reach of the estimate (a delay-based estimate grows to about 1.5×
    // what is sent), padding up to that step lets the estimate confirm it.
    // Otherwise no padding at all: on a 3G link whose next layer can never
    // fit, sustained padding would fill the patient's downlink, queue their
    // audio behind it, and cost them data they often pay for by the megabyte
    // (measured with `bench/bench rural`: 650 kbit/s of padding under a
    // 250 kbit/s layer, before this rule).
    let desired = s.allocator.desired_bps(&tracks, audio_tracks).max(allocated);
    let next = allocated.saturating_add(next_step);
    let up_headroom = s.allocator.config().up_headroom;
    let within_reach = (estimate as f64) * 1.5 >= next as f64 * up_headroom;
    let minimum = if next_step != u64::MAX && within_reach {
        next
    } else {
        allocated
    }
    .min(desired);
    // And short probes (`probe.rs`) while the next step does not fit yet.
    let wants_more = next_step != u64::MAX && (estimate as f64) < next as f64 * up_headroom;
    let desired = s.probe.desired(now, desired, estimate, wants_more);
    let minimum = minimum.min(desired);
    if s.bwe_target != (minimum, desired) {
        s.bwe_target = (minimum, desired);
        s.rtc.bwe().set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired));
    }
}

/// What one more step costs for this track: the floor when paused, the
/// difference to the next layer otherwise; `u64::MAX` at the top.
fn step_above(track: &VideoTrack, current: Option<Layer>) -> u64 {
    let current_rate = current.and_then(|l| track.layers[l.index()]).unwrap_or(0);
    let from = current.map_or(0, |l| l.index() + 1);
    track.layers[from.min(MAX_LAYERS)..]
        .iter()
        .flatten()
        .next()
        .map_or(u64::MAX, |&next| next.saturating_sub(current_rate))
}

/// Tells a publisher which simulcast layers of each track someone takes,
/// when that changed. The lowest layer always stays on: resuming it would
/// cost a keyframe and a ramp-up exactly when a subscriber's link is worst.
fn tell_unused_layers(
    now: Instant,
    p: &mut Participant,
    taken: &HashMap<TrackKey, LayerSet>,
    events: &mut VecDeque<RelayEvent>,
) {
    for t in &mut p.tracks_in {
        let Some(video) = &mut t.video else { continue };
        if !video.is_simulcast() {
            continue;
        }
        let mut wanted = taken.get(&(p.id.clone(), t.mid)).copied().unwrap_or_default();
        wanted.insert(Layer::LOW);
        if wanted != video.told_active() {
            video.tell_active(now, wanted);
            events.push_back(RelayEvent::LayersWanted {
                participant: p.id.clone(),
                mid: t.mid.to_string(),
                rids: video.rids_in(wanted),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::TrackId;

    fn track(layers: [Option<u64>; 3]) -> VideoTrack {
        VideoTrack {
            id: TrackId(1),
            layers,
            priority: Priority::Normal,
            max_layer: Some(Layer::HIGH),
        }
    }

    #[test]
    fn the_step_above_a_paused_track_is_its_lowest_layer() {
        let t = track([Some(150_000), Some(500_000), Some(1_200_000)]);
        assert_eq!(step_above(&t, None), 150_000);
        assert_eq!(step_above(&t, Some(Layer::LOW)), 350_000);
        assert_eq!(step_above(&t, Some(Layer::MID)), 700_000);
        assert_eq!(step_above(&t, Some(Layer::HIGH)), u64::MAX);
    }

    #[test]
    fn a_single_layer_track_has_no_step_once_sent() {
        let t = track([Some(300_000), None, None]);
        assert_eq!(step_above(&t, Some(Layer::LOW)), u64::MAX);
        assert_eq!(step_above(&t, None), 300_000);
    }
}
