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

use crate::allocator::{PauseReason, Priority, Target, VideoTrack};
use crate::engine::RelayEvent;
use crate::held_estimate::NextLayer;
use crate::layer::{Layer, LayerSet, MAX_LAYERS};
use crate::outage::Hold;
use crate::participant::{OutState, Participant, SKIP_TOLD_OVER_AFTER};
use crate::publish::{nominal_bps, LayerCaps};

/// How often the pass runs.
pub const ADAPT_EVERY: Duration = Duration::from_millis(200);

/// Where str0m's estimate starts for a new participant: enough for audio and
/// the lowest layer, so video starts at once on a 3G link, and probing
/// climbs from there.
pub const INITIAL_ESTIMATE_BPS: u64 = 300_000;

/// The lowest layer is never asked to go below this: less is no longer a
/// picture worth sending (the subscriber is paused instead).
pub const LOW_CAP_MIN_BPS: u64 = 80_000;
/// The part of a subscriber's estimate its lowest layer (with audio) may take.
const LOW_SHARE_OF_ESTIMATE: f64 = 0.85;
/// A new cap is sent only when it differs from the last by more than this
/// fraction (or lifts it): encoders need a moment to follow, and estimates
/// wobble.
const CAP_CHANGE: f64 = 0.2;
/// While a subscriber's video is paused for bandwidth, the lowest layer's
/// cap is this share of what would let it resume at the current estimate,
/// so an estimate that wobbles by a few percent over the resume's hold
/// still lets it. A cap already between the two is left alone.
const RESUME_MARGIN: f64 = 0.9;

/// The top layer of a track is capped at its strongest subscriber's share
/// only from this up: under it a link cannot carry the top layer well
/// anyway (a 3G downlink of 750 kbit/s), and a top layer priced that low
/// would have the relay pad such a link toward it, queueing the audio.
pub const TOP_CAP_MIN_BPS: u64 = 600_000;
/// The part of what the upgrade's headroom leaves a subscriber that its top
/// layer is capped at, so that the encoder's overshoot and a few percent of
/// wobble in the estimate still let the subscriber switch to it.
const TOP_SHARE_MARGIN: f64 = 0.9;

/// What the subscribers of a track leave its layers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TrackBudget {
    /// The weakest subscriber's, for the lowest layer.
    low: LowBudget,
    /// The strongest subscriber's, for the top layer.
    top_bps: u64,
}

/// What the weakest subscriber of a track leaves its lowest layer.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LowBudget {
    bps: u64,
    /// `bps` is set by a subscriber whose video of the track is paused for
    /// bandwidth: a cap over what resumes it keeps it paused, so
    /// [`CAP_CHANGE`]'s hysteresis may not hold the cap there.
    for_a_resume: bool,
}

type TrackKey = (String, Mid);

/// What each layer of a published track costs: as it arrives now, and as it
/// would if the publisher sent every layer it was asked for
/// ([`crate::publish::PublishedVideo::rates_if_sent`]).
#[derive(Debug, Clone, Copy)]
struct LayerRates {
    now: [Option<u64>; MAX_LAYERS],
    if_sent: [Option<u64>; MAX_LAYERS],
    /// The publisher's uplink collapsed lately (`publish.rs`).
    collapsed: bool,
    /// The highest layer the publisher sends (or was asked for).
    top: Layer,
    /// The layers a subscriber may be switched to (`PublishedVideo::proven`).
    proven: LayerSet,
    /// Stalled while their packets still arrive: held for a retransmission
    /// (`PublishedVideo::held_layers`).
    held: LayerSet,
}

impl LayerRates {
    /// Whether `layer` is no longer offered because the publisher's uplink
    /// stopped carrying it (collapsed, stalled, asked for and absent, or
    /// arriving as a slideshow), as opposed to a subscriber's link being
    /// too small for it. Asked only of the layer a subscriber had before a
    /// step down, never the lowest (which a collapse leaves offered).
    fn lost(&self, layer: Layer) -> bool {
        self.collapsed || self.now[layer.index()].is_none()
    }

    /// Whether `layer` is lost only for now: its frames are held for a
    /// retransmission on an uplink that has not collapsed, and come on
    /// from where they stopped, so a subscriber on it keeps it until they
    /// do or the lower layer's keyframe comes, whichever is first.
    fn held(&self, layer: Layer) -> bool {
        !self.collapsed && self.held.contains(layer)
    }
}

pub(crate) fn run(
    now: Instant,
    participants: &mut HashMap<String, Participant>,
    events: &mut VecDeque<RelayEvent>,
    dirty: &mut BTreeSet<String>,
) {
    let mut rates: HashMap<TrackKey, LayerRates> = HashMap::new();
    for p in participants.values_mut() {
        p.note_newest_media(now);
        for t in &mut p.tracks_in {
            if let Some(video) = &mut t.video {
                video.note_publisher_rtt(p.stats.rtt);
                video.note_uplink_collapse(p.stats.severe_loss_in_at);
                let now_rates = video.layer_rates(now);
                let if_sent = video.rates_if_sent(now, now_rates);
                rates.insert(
                    (p.id.clone(), t.mid),
                    LayerRates {
                        now: now_rates,
                        if_sent,
                        collapsed: video.uplink_collapsed(now),
                        top: Layer::ALL[video.layer_count().min(MAX_LAYERS) - 1],
                        proven: video.proven(),
                        held: video.held_layers(now),
                    },
                );
            }
        }
    }

    let mut taken: HashMap<TrackKey, LayerSet> = HashMap::new();
    let mut budgets: HashMap<TrackKey, TrackBudget> = HashMap::new();
    let mut keyframes_wanted: Vec<(String, Mid, Layer)> = Vec::new();
    for s in participants.values_mut() {
        allocate_for(now, s, &rates, events, &mut taken, &mut budgets, &mut keyframes_wanted);
        dirty.insert(s.id.clone());
    }

    for p in participants.values_mut() {
        tell_unused_layers(now, p, &taken, &budgets, events);
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
    rates: &HashMap<TrackKey, LayerRates>,
    events: &mut VecDeque<RelayEvent>,
    taken: &mut HashMap<TrackKey, LayerSet>,
    budgets: &mut HashMap<TrackKey, TrackBudget>,
    keyframes_wanted: &mut Vec<(String, Mid, Layer)>,
) {
    let mut tracks = Vec::new();
    let mut if_sent = Vec::new();
    let mut audio_tracks = 0;
    for t in &s.tracks_out {
        if !matches!(t.state, OutState::Open(_)) {
            continue;
        }
        match (&t.video, rates.get(&(t.origin.clone(), t.mid_in))) {
            (None, _) => audio_tracks += 1,
            (Some(v), Some(layers)) => {
                let track = VideoTrack {
                    id: v.id,
                    layers: layers.now,
                    priority: Priority::Normal,
                    max_layer: Some(Layer::HIGH),
                };
                if_sent.push(VideoTrack {
                    layers: layers.if_sent,
                    ..track.clone()
                });
                tracks.push(track);
            }
            (Some(_), None) => {}
        }
    }
    let (estimate, own_estimate) = estimate_for(now, s);
    s.estimate_trend.record(now, estimate);
    if tracks.is_empty() {
        return;
    }
    // This subscriber's fair share for each video once audio is served: the
    // most its lowest layer may cost for it to get a picture at all. Only
    // most of the estimate: a picture squeezed to the last bit of the link
    // queues the audio behind it (bench rural, ci-step-down: 1.9 % of the
    // audio concealed across the drop with the whole estimate given out).
    //
    // While paused for bandwidth, the share is what lets the video resume:
    // its floor with the upgrade's headroom under the estimate. The 85 %
    // share above is a little more than that, and with the cap's hysteresis
    // a cap set on a higher estimate stayed over it: the specialist's 240p
    // capped at 140 kbit/s, paused toward the patient for the whole 30 s of
    // step-down's drop on a steady 220-245 kbit/s estimate (a resume needed
    // 118 kbit/s or less; `bench/bench rural --profile step-down`).
    let reserve = s.allocator.audio_reserve(audio_tracks);
    let cfg = s.allocator.config();
    let per_track = |video_bps: f64| video_bps / tracks.len() as f64 / cfg.floor_headroom;
    let share = per_track((estimate as f64 * LOW_SHARE_OF_ESTIMATE - reserve as f64).max(0.0)) as u64;
    // The allocator resumes a paused video when its floor fits what audio
    // leaves of the estimate, divided by the upgrade headroom.
    let resume_share = (per_track(estimate.saturating_sub(reserve) as f64 / cfg.up_headroom) * RESUME_MARGIN) as u64;
    // The most this subscriber could switch a video up to: what audio
    // leaves of the estimate, under the upgrade's headroom. A top layer
    // costing more than every subscriber's share is taken by nobody, and so
    // never sent: the specialist's 480p at its 1 Mbit/s cap, toward a
    // satellite patient whose downlink estimate held at 0.97-1.14 Mbit/s,
    // for a whole call (bench rural, satellite; decision 0032).
    let top_share =
        (estimate.saturating_sub(reserve) as f64 / cfg.up_headroom / tracks.len() as f64 * TOP_SHARE_MARGIN) as u64;
    for t in &s.tracks_out {
        let Some(v) = t.video.as_ref() else { continue };
        if !matches!(t.state, OutState::Open(_)) {
            continue;
        }
        // The allocator's own pause: a wait for a keyframe told as one
        // (`told_pause`) is over within a second or two, and moving the
        // cap for it would move it back and forth with every skip.
        let paused = v.allocator_paused == Some(PauseReason::Bandwidth);
        let bps = if paused { resume_share } else { share };
        let budget = budgets.entry((t.origin.clone(), t.mid_in)).or_insert(TrackBudget {
            low: LowBudget {
                bps: u64::MAX,
                for_a_resume: false,
            },
            top_bps: 0,
        });
        budget.top_bps = budget.top_bps.max(top_share);
        let low = &mut budget.low;
        if bps < low.bps {
            *low = LowBudget {
                bps,
                for_a_resume: paused,
            };
        } else if bps == low.bps {
            low.for_a_resume |= paused;
        }
    }
    if s.probe.confirmed(now, estimate, own_estimate && !s.pacer_governs()) {
        tracing::debug!(participant = %s.id, estimate, "a probe confirmed the estimate");
        s.allocator.probe_succeeded();
    }
    let link_collapsing = s.link_collapsing();
    if link_collapsing {
        s.allocator.link_collapsing();
    }
    // A layer the publisher was asked for and could not send (its uplink is
    // short) stays asked for while this subscriber could take it: a browser
    // probes its uplink for a layer only while the layer is on, so stopping
    // it left a patient whose uplink recovered on the lowest layer for the
    // rest of the call (`bench/bench rural --profile step-down`).
    let affordable = s.allocator.affordable(estimate, &if_sent, audio_tracks);
    s.allocator.note_if_sent(now, &affordable);
    let allocations = s.allocator.update(now, estimate, &tracks, audio_tracks);
    let went_down_on_collapse = s.allocator.went_down_on_collapse();
    tracing::trace!(
        participant = %s.id, estimate, share,
        layers = ?tracks.iter().map(|t| t.layers).collect::<Vec<_>>(),
        targets = ?allocations.iter().map(|a| a.target).collect::<Vec<_>>(),
        "allocated"
    );

    let congested = s.congested_video(now);
    let audio_reserve = s.allocator.audio_reserve(audio_tracks);
    let video_budget = estimate.saturating_sub(audio_reserve);
    let collapse = s.allocator.config().collapse;
    let mut allocated = audio_reserve;
    let mut next_step = u64::MAX;
    let mut next_step_if_sent = u64::MAX;
    // Every video on the highest layer its publisher has (not merely the
    // highest still arriving): what resets `held_estimate.rs`'s gap.
    let mut on_top = true;
    for ((a, track), track_if_sent) in allocations.iter().zip(&tracks).zip(&if_sent) {
        allocated += a.bitrate_bps;
        next_step = next_step.min(step_above(track, a.layer()));
        next_step_if_sent = next_step_if_sent.min(step_above(track_if_sent, a.layer()));
        let Some(out) = s
            .tracks_out
            .iter_mut()
            .find(|t| t.video.as_ref().is_some_and(|v| v.id == a.track))
        else {
            continue;
        };
        let key = (out.origin.clone(), out.mid_in);
        on_top &= rates.get(&key).is_some_and(|r| a.layer() == Some(r.top));
        let mid_out = match out.state {
            OutState::Open(mid) => Some(mid),
            _ => None,
        };
        let Some(v) = out.video.as_mut() else { continue };
        // Down on a collapsing link (or from a layer that stopped arriving):
        // stop the current layer now rather than keep it filling a link
        // that cannot carry it until the lower layer's keyframe. Down from
        // an ordinary shortfall: the current layer flows until then, as the
        // send queue's limit allows; stopping it froze the picture for the
        // keyframe's round trip to the publisher (bench rural, satellite:
        // 0.67 s at the specialist when the estimate toward the specialist
        // dipped; decision 0025). The allocator's own collapse test judges
        // the pass that goes down; the per-track test and the pacer's fall
        // every pass until the switch, so a collapse that follows an
        // ordinary downgrade still stops it. A layer held for a
        // retransmission is not stopped: its frames may come on from where
        // they stopped before the lower layer's keyframe, and move the
        // picture until it comes (decision 0026).
        let had = v.rewriter.current();
        let down = matches!((had, a.layer()), (Some(c), Some(t)) if t < c);
        let had_rates = had.zip(rates.get(&key));
        let lost = down && had_rates.is_some_and(|(c, r)| r.lost(c));
        let held = lost && had_rates.is_some_and(|(c, r)| r.held(c));
        v.rewriter.set_target(a.layer());
        let had_bps = had.and_then(|c| track.layers[c.index()]);
        let must_stop = went_down_on_collapse || link_collapsing || (lost && !held);
        if down && stops_at_once(had_bps, video_budget, collapse, must_stop) {
            v.rewriter.drop_current();
        } else if held && v.until_keyframe.is_none() {
            tracing::debug!(participant = %s.id, origin = %out.origin, "layer held for a retransmission: kept until its frames or the lower keyframe");
        }
        // The layer this subscriber had was dropped because its publisher's
        // uplink stopped carrying it (collapsed, or the layer stalled), or
        // is held for a retransmission: the picture already stands still,
        // and the lower layer's keyframe comes through that uplink, often
        // more than a second later (bench rural, step-down: the patient's
        // picture at the specialist stood still for 1.6-1.8 s in three
        // runs before the screen said why; satellite: 1.0-2.3 s each time
        // the patient's browser stopped sending its 480p).
        if lost {
            v.until_keyframe.get_or_insert(PauseReason::NoLayers);
        }
        v.allocator_paused = match a.target {
            Target::Paused(reason) => Some(reason),
            Target::Layer(_) => None,
        };
        if v.allocator_paused.is_some() {
            // Its resume waits for a keyframe too, and is told by the
            // allocator; a reason left from before would be told with it.
            v.until_keyframe = None;
            v.keyframe_after_skip_at = None;
        }
        let (over, keyframe_at) = skip_wait(now, v.keyframe_after_skip_at, v.rewriter.current().is_some());
        v.keyframe_after_skip_at = keyframe_at;
        if over {
            v.until_keyframe = None;
        }
        let paused = told_pause(a.target, v.until_keyframe);
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
        if let Some(&Some(could)) = affordable.get(&track.id) {
            for layer in Layer::ALL
                .into_iter()
                .filter(|&l| l <= could && track.layers[l.index()].is_none())
            {
                set.insert(layer);
            }
        }
        let proven = rates.get(&key).map_or(LayerSet::ALL, |r| r.proven);
        if let Some(layer) = crate::participant::keyframe_to_ask(v, proven) {
            if !mid_out.is_some_and(|m| congested.contains(&m)) {
                keyframes_wanted.push((key.0, key.1, layer));
            }
        }
    }

    // `desired` is what the subscriber would take: str0m probes toward it in
    // short bursts, which is how the estimate finds room a paused or low
    // layer does not use. `minimum`
    // is traffic str0m sustains with padding: only when the next step is
    // within reach of the estimate (a delay-based estimate grows to about 1.5×
    // what is sent), padding up to that step with the upgrade's headroom
    // lets the estimate confirm it. With the headroom: after a loss episode
    // str0m's loss-based estimator lets the estimate grow to only 1.2× what
    // is acknowledged, and padded to the bare step it stopped a few percent
    // under the step with headroom (bench rural, step-down: 1.24 Mbit/s,
    // still for 5 s after the link recovered, until the held-estimate
    // restart). Otherwise no padding at all: on a 3G link whose next layer
    // can never fit, sustained padding would fill the patient's downlink,
    // queue their audio behind it, and cost them data they often pay for by
    // the megabyte (measured with `bench/bench rural`: 650 kbit/s of padding
    // under a 250 kbit/s layer, before this rule).
    let desired = s.allocator.desired_bps(&if_sent, audio_tracks).max(allocated);
    let next = allocated.saturating_add(next_step);
    let up_headroom = s.allocator.config().up_headroom;
    let within_reach = (estimate as f64) * 1.5 >= next as f64 * up_headroom;
    let minimum = if next_step != u64::MAX && within_reach {
        (next as f64 * up_headroom) as u64
    } else {
        allocated
    }
    .min(desired);
    // And short probes (`probe.rs`) while the next step does not fit yet,
    // counting layers the publisher could not send: the estimate must stay
    // high enough to take them the moment they arrive.
    let next_if_sent = allocated.saturating_add(next_step_if_sent);
    let wants_more = next_step_if_sent != u64::MAX && (estimate as f64) < next_if_sent as f64 * up_headroom;
    let desired = s.probe.desired(now, desired, estimate, wants_more);
    // A held estimate under a next step within reach: restart the
    // estimator (`held_estimate.rs`).
    let next_layer = NextLayer::of(
        estimate,
        (next_step_if_sent != u64::MAX).then_some(next_if_sent as f64 * up_headroom),
        on_top,
    );
    if !own_estimate {
        s.held_estimate.interrupted();
    } else if s.held_estimate.restart_due(now, estimate, next_layer) {
        tracing::debug!(participant = %s.id, estimate, "estimator restarted out of a held estimate");
        s.restart_estimator(estimate);
        s.probe.restarted(now, estimate);
    }
    let minimum = minimum.min(desired);
    if s.bwe_target != (minimum, desired) {
        tracing::trace!(participant = %s.id, estimate, minimum, desired, sent = s.stats.bitrate_out_bps, "bwe target");
        s.bwe_target = (minimum, desired);
        s.rtc.bwe().set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired));
    }
}

/// Whether a subscriber's video moving down stops the layer it has at once
/// rather than letting it flow until the lower layer's keyframe: the layer
/// (`had_bps`) would not fit the allocator's collapse margin over what the
/// estimate leaves for video (`collapse` × `video_budget`, the test it goes
/// down at once by, made here per track on every pass until the switch),
/// or the caller knows the link is collapsing or the layer no longer
/// arrives (`must_stop`).
fn stops_at_once(had_bps: Option<u64>, video_budget: u64, collapse: f64, must_stop: bool) -> bool {
    must_stop || had_bps.is_some_and(|bps| bps as f64 > video_budget as f64 * collapse)
}

/// After frames were skipped for a full send queue and a keyframe was then
/// written at `keyframe_at`: whether the wait is over now
/// ([`SKIP_TOLD_OVER_AFTER`] later), and the keyframe time to keep. A
/// subscriber left with no picture since (a step down, a frame past a gap)
/// waits for the next keyframe's write again.
fn skip_wait(now: Instant, keyframe_at: Option<Instant>, has_picture: bool) -> (bool, Option<Instant>) {
    match keyframe_at.filter(|_| has_picture) {
        Some(t) if now.saturating_duration_since(t) >= SKIP_TOLD_OVER_AFTER => (true, None),
        kept => (false, kept),
    }
}

/// The pause to tell the subscriber about one video: the allocator's, or,
/// while nothing of it can reach the subscriber until its next keyframe
/// goes out (`VideoOut::until_keyframe`), why. That wait is often longer
/// than a second: when the subscriber's link collapses, its send queue
/// drains at the collapsed rate before the keyframe is even asked for
/// (bench rural, step-down: the specialist's picture at the patient stood
/// still for 1.3-1.9 s in each of six runs from the drop, with nothing on
/// screen to say why).
fn told_pause(target: Target, until_keyframe: Option<PauseReason>) -> Option<PauseReason> {
    match target {
        Target::Paused(reason) => Some(reason),
        Target::Layer(_) => until_keyframe,
    }
}

/// Loss toward the subscriber from which a fall of the estimate after a
/// probe is believed (`ProbePacer::undercut`): a link losing this much is
/// congested whatever the probe measured. Above the 1 % a satellite link
/// loses at random.
const PROBE_UNDO_LOSS: f32 = 0.03;
/// Nor after the link was congested this recently: a probe cutting an
/// estimate that heavy loss already brought down is the link's new size,
/// not a bad measurement (bench rural, step-down: undoing a probe's 173
/// kbit/s put a 250 kbit/s link's estimate back at 361 kbit/s, and the
/// frames that queued behind it were skipped).
const PROBE_UNDO_AFTER_CONGESTION: Duration = Duration::from_secs(10);

/// What a probe's cut must leave the estimate under, as a share of what the
/// relay sent in the last second, to be disproved by it.
const PROBE_UNDO_UNDER_SENT: f64 = 0.9;

/// Whether the link itself disproves a probe that cut the estimate to
/// `estimate`: in the last second it carried more than that (`sent_bps`,
/// with 10 % to spare) and lost under [`PROBE_UNDO_LOSS`] of it, and it was
/// not congested lately. A probe under what the link just delivered is a
/// bad measurement; one at or above it may be the link's size: on the
/// step-down's 250 kbit/s link, a probe measured 233 kbit/s while the
/// relay sent 225 kbit/s, and undoing it lifted the estimate to 321 kbit/s;
/// str0m's loss-based estimator went into a decrease 1.7 s later (bench
/// rural, step-down). Such a loss-limited state can hold the estimate
/// after the link recovers, and once did for 20 s (at 258 543 bit/s, in a
/// run without logs, so its cause there is not known).
fn probe_cut_disproved(estimate: u64, sent_bps: u64, loss: Option<f32>, congested_lately: bool) -> bool {
    let lossless = loss.is_none_or(|l| l < PROBE_UNDO_LOSS);
    lossless && !congested_lately && (estimate as f64) < sent_bps as f64 * PROBE_UNDO_UNDER_SENT
}

/// The estimate this pass allocates from: str0m's, bounded under heavy loss;
/// during an outage and while its feedback comes in, the one from before it,
/// and then str0m's estimator restarts from that (`outage.rs`); after a
/// probe (the relay's, or str0m's own) cut it under what the link just
/// carried ([`probe_cut_disproved`]), the one from before the probe or the
/// highest its results reached, from which str0m's estimator restarts too
/// (`probe.rs`, decisions 0010 and 0027); for a second after such a
/// restart, not under its figure ([`settled`]).
/// The second value: whether it is str0m's own figure, neither kept
/// through an outage, nor floored after a restart, nor bounded for loss.
fn estimate_for(now: Instant, s: &mut Participant) -> (u64, bool) {
    let estimate = s.estimate_now().unwrap_or(INITIAL_ESTIMATE_BPS);
    match s.outage.hold(now, estimate) {
        Hold::None => {
            let disproved = probe_cut_disproved(
                estimate,
                s.stats.bitrate_out_bps,
                s.stats.loss_out,
                s.stats.heavy_loss_out_within(now, PROBE_UNDO_AFTER_CONGESTION),
            );
            let undercut = s.probe.undercut(now, estimate, s.stats.bitrate_out_bps);
            if undercut.is_some() && !disproved {
                tracing::debug!(
                    participant = %s.id,
                    estimate,
                    sent = s.stats.bitrate_out_bps,
                    loss = s.stats.loss_out,
                    "a probe cut the estimate, and the link did not disprove it"
                );
            }
            if let Some(before) = undercut.filter(|_| disproved) {
                tracing::debug!(participant = %s.id, from = estimate, to = before, "estimator restarted after a probe cut it");
                s.restart_estimator(before);
                s.probe.undone(now, before);
                s.estimate_bps = Some(before);
                return (before, false);
            }
            let floored = settled(estimate, s.probe.settling(now), s.stats.loss_out);
            let bounded = congestion_bound(floored, s.stats.bitrate_out_bps, s.stats.loss_out);
            (bounded, bounded == estimate && s.estimate_bps.is_some())
        }
        Hold::Keep(before) => (before, false),
        Hold::Restart(before) => {
            tracing::debug!(participant = %s.id, from = estimate, to = before, "estimator restarted after an outage");
            s.restart_estimator(before);
            s.estimate_bps = Some(before);
            (before, false)
        }
    }
}

/// The estimate, but not under the figure str0m's estimator was restarted
/// from while it settles (`ProbePacer::settling`), unless the subscriber
/// reports heavy loss: then the link is congested whatever the restart
/// said, and the floor would lift the estimate over what str0m measured.
fn settled(estimate: u64, settling_from: Option<u64>, loss: Option<f32>) -> u64 {
    match settling_from {
        Some(from) if !crate::stats::is_heavy(loss) => estimate.max(from),
        _ => estimate,
    }
}

/// The estimate, unless the subscriber reports losing a tenth or more of
/// what the relay sends: then the link is congested now, whatever the
/// delay-based estimate still says a second or two later, and only what got
/// through is budgeted (bench rural, ci-step-down: the layer stayed up 2 s
/// into a collapse to 250 kbit/s while the estimate caught up).
fn congestion_bound(estimate: u64, sent_bps: u64, loss: Option<f32>) -> u64 {
    match loss {
        Some(l) if l >= crate::stats::HEAVY_LOSS && sent_bps > 0 => {
            estimate.min((sent_bps as f64 * (1.0 - f64::from(l))) as u64)
        }
        _ => estimate,
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

/// Tells a publisher which simulcast layers of each track someone takes
/// (or took within [`crate::publish::STOP_HOLD`]), and what its lowest and
/// top layers may cost, when any of it changed. The lowest layer
/// always stays on: resuming it would cost a keyframe and a ramp-up exactly
/// when a subscriber's link is worst. It is the weakest subscriber's layer,
/// so it is capped at that subscriber's share of its link: on a 3G downlink
/// whose estimate wobbles around 300 kbit/s, a 200 kbit/s layer would have
/// the patient's video paused half the time (measured with `bench/bench
/// rural --profile rural-3g`); capped at what fits, it keeps flowing. The
/// top layer is capped at the strongest subscriber's share (decision 0032).
fn tell_unused_layers(
    now: Instant,
    p: &mut Participant,
    taken: &HashMap<TrackKey, LayerSet>,
    budgets: &HashMap<TrackKey, TrackBudget>,
    events: &mut VecDeque<RelayEvent>,
) {
    for t in &mut p.tracks_in {
        let Some(video) = &mut t.video else { continue };
        if !video.is_simulcast() {
            continue;
        }
        let key = (p.id.clone(), t.mid);
        let mut wanted = video.layers_to_keep(now, taken.get(&key).copied().unwrap_or_default());
        wanted.insert(Layer::LOW);
        let count = video.layer_count();
        let budget = budgets.get(&key);
        let told = video.caps();
        let caps = LayerCaps {
            low: low_cap(told.low, budget.map(|b| b.low), nominal_bps(count, 0)),
            top: video
                .top_layer()
                .and_then(|top| top_cap(told.top, budget.map(|b| b.top_bps), nominal_bps(count, top.index()))),
        };
        if wanted != video.told_active() || caps != told {
            video.tell_active(now, wanted);
            video.tell_caps(now, caps);
            events.push_back(RelayEvent::LayersWanted {
                participant: p.id.clone(),
                mid: t.mid.to_string(),
                rids: video.rids_in(wanted),
                max_bps: video.rid_caps(caps),
            });
        }
    }
}

/// The cap for a lowest layer: the weakest subscriber's budget, within
/// [`LOW_CAP_MIN_BPS`] and the layer's nominal rate (`None`: no cap), changed
/// only by more than [`CAP_CHANGE`], or down to a paused subscriber's
/// budget when the cap is over what resumes it.
fn low_cap(current: Option<u64>, budget: Option<LowBudget>, nominal: u64) -> Option<u64> {
    let for_a_resume = budget.is_some_and(|b| b.for_a_resume);
    let wanted = budget
        .map(|b| b.bps)
        .filter(|&b| b < nominal)
        .map(|b| b.max(LOW_CAP_MIN_BPS).min(nominal));
    match (current, wanted) {
        (Some(c), Some(w)) if for_a_resume && c as f64 * RESUME_MARGIN > w as f64 => Some(w),
        (Some(c), Some(w)) if barely_moved(c, w) => Some(c),
        _ => wanted,
    }
}

/// Whether a cap `wanted` is too close to the `current` one to be worth
/// telling ([`CAP_CHANGE`]).
fn barely_moved(current: u64, wanted: u64) -> bool {
    (wanted as f64 - current as f64).abs() <= current as f64 * CAP_CHANGE
}

/// The cap for a top layer: the strongest subscriber's share `best`, when
/// that is at least [`TOP_CAP_MIN_BPS`] and under the layer's nominal rate
/// (`None`: no cap). A cap is kept while the share (up to the nominal rate)
/// moves by no more than [`CAP_CHANGE`], at either end of that range too,
/// so a share wobbling across an end does not lift and set it on every
/// pass; but not once the subscriber could no longer switch up to it (over
/// the share without its margin): [`CAP_CHANGE`] is wider than
/// [`TOP_SHARE_MARGIN`], and a cap set on a higher estimate kept the
/// layer out of reach.
fn top_cap(current: Option<u64>, best: Option<u64>, nominal: u64) -> Option<u64> {
    let best = best?;
    match current {
        Some(c) if barely_moved(c, best.min(nominal)) && c as f64 * TOP_SHARE_MARGIN <= best as f64 => Some(c),
        _ if (TOP_CAP_MIN_BPS..nominal).contains(&best) => Some(best),
        _ => None,
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
    fn a_restart_s_figure_floors_the_estimate_unless_the_link_loses_heavily() {
        assert_eq!(settled(257_000, Some(1_045_000), Some(0.01)), 1_045_000);
        assert_eq!(settled(1_200_000, Some(1_045_000), None), 1_200_000);
        assert_eq!(settled(257_000, None, Some(0.01)), 257_000);
        assert_eq!(settled(257_000, Some(1_045_000), Some(0.2)), 257_000);
    }

    #[test]
    fn video_that_waits_for_a_keyframe_is_told_as_paused_until_one_goes_out() {
        let layer = Target::Layer(Layer::LOW);
        assert_eq!(
            told_pause(layer, Some(PauseReason::Bandwidth)),
            Some(PauseReason::Bandwidth)
        );
        assert_eq!(told_pause(layer, None), None);
        // The allocator's own reason is told as it is.
        let not_wanted = Target::Paused(PauseReason::NotWanted);
        assert_eq!(
            told_pause(not_wanted, Some(PauseReason::Bandwidth)),
            Some(PauseReason::NotWanted)
        );
    }

    #[test]
    fn only_a_collapse_stops_the_layer_before_the_lower_keyframe() {
        // A 480p at 0.8 Mbit/s, the estimate leaving 0.55 Mbit/s for video
        // (satellite, decision 0025): an ordinary shortfall, the 480p
        // flows until the 240p's keyframe.
        assert!(!stops_at_once(Some(800_000), 550_000, 2.0, false));
        // Under half of it: a collapse, stopped at once.
        assert!(stops_at_once(Some(1_200_000), 550_000, 2.0, false));
        // The link collapsing, or the layer gone, whatever the figures.
        assert!(stops_at_once(Some(800_000), 550_000, 2.0, true));
        assert!(stops_at_once(None, 550_000, 2.0, true));
    }

    #[test]
    fn a_layer_is_lost_when_its_uplink_stops_carrying_it_not_when_it_costs_too_much() {
        let rates = LayerRates {
            now: [Some(150_000), None, Some(1_200_000)],
            if_sent: [Some(150_000), Some(500_000), Some(1_200_000)],
            collapsed: false,
            top: Layer::HIGH,
            proven: LayerSet::ALL,
            held: LayerSet::EMPTY,
        };
        // However dear, a layer that arrives is not lost.
        assert!(!rates.lost(Layer::HIGH));
        assert!(!rates.lost(Layer::LOW));
        // Stalled or absent: no rate this pass.
        assert!(rates.lost(Layer::MID));
        // A collapsed uplink loses whatever the subscriber had.
        let collapsed = LayerRates {
            collapsed: true,
            ..rates
        };
        assert!(collapsed.lost(Layer::HIGH));
        assert!(!rates.held(Layer::MID), "stalled, not held");
        // Held for a retransmission: lost for now, kept by its subscribers,
        // unless the uplink collapsed.
        let held = LayerRates {
            held: [Layer::MID].into_iter().collect(),
            ..rates
        };
        assert!(held.lost(Layer::MID) && held.held(Layer::MID));
        assert!(!held.held(Layer::HIGH));
        let held_on_collapse = LayerRates {
            collapsed: true,
            ..held
        };
        assert!(!held_on_collapse.held(Layer::MID));
    }

    #[test]
    fn a_skips_wait_is_over_a_second_after_its_keyframe_if_the_picture_stayed() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(skip_wait(at(5000), None, true), (false, None), "no keyframe yet");
        assert_eq!(skip_wait(at(800), Some(t0), true), (false, Some(t0)));
        assert_eq!(skip_wait(at(1000), Some(t0), true), (true, None));
        // Dropped again before the second was up: the wait goes on, and
        // counts from the next keyframe.
        assert_eq!(skip_wait(at(500), Some(t0), false), (false, None));
        assert_eq!(skip_wait(at(1500), None, true), (false, None));
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
    fn heavy_loss_bounds_the_estimate_by_what_got_through() {
        assert_eq!(congestion_bound(1_200_000, 900_000, None), 1_200_000);
        assert_eq!(
            congestion_bound(1_200_000, 900_000, Some(0.03)),
            1_200_000,
            "random loss"
        );
        assert_eq!(congestion_bound(1_200_000, 900_000, Some(0.7)), 270_000);
        assert_eq!(
            congestion_bound(200_000, 900_000, Some(0.5)),
            200_000,
            "never raises it"
        );
    }

    #[test]
    fn only_what_the_link_just_carried_disproves_a_probe() {
        // The satellite case of decision 0010: cut to 510 kbit/s while 900
        // kbit/s went through without loss.
        assert!(probe_cut_disproved(510_000, 900_000, Some(0.0), false));
        assert!(probe_cut_disproved(510_000, 900_000, None, false));
        // The step-down's 250 kbit/s link: the probe measured the link.
        assert!(!probe_cut_disproved(233_000, 225_000, Some(0.0), false));
        // Losing, or congested lately: the cut stands.
        assert!(!probe_cut_disproved(510_000, 900_000, Some(0.05), false));
        assert!(!probe_cut_disproved(510_000, 900_000, Some(0.0), true));
    }

    fn budget(bps: u64) -> Option<LowBudget> {
        Some(LowBudget {
            bps,
            for_a_resume: false,
        })
    }

    #[test]
    fn the_lowest_layer_is_capped_at_the_weakest_share_with_hysteresis() {
        let nominal = 200_000;
        assert_eq!(low_cap(None, None, nominal), None, "nobody subscribes");
        assert_eq!(low_cap(None, budget(500_000), nominal), None, "it fits as it is");
        assert_eq!(low_cap(None, budget(150_000), nominal), Some(150_000));
        assert_eq!(
            low_cap(None, budget(10_000), nominal),
            Some(LOW_CAP_MIN_BPS),
            "never below the minimum"
        );
        // Small wobbles keep the cap; real changes move it; room lifts it.
        assert_eq!(low_cap(Some(150_000), budget(170_000), nominal), Some(150_000));
        assert_eq!(low_cap(Some(150_000), budget(110_000), nominal), Some(110_000));
        assert_eq!(low_cap(Some(150_000), budget(900_000), nominal), None);
        // A subscriber paused for bandwidth: a cap over what resumes it
        // (the budget / RESUME_MARGIN) comes down to the budget at once...
        let paused = |bps| {
            Some(LowBudget {
                bps,
                for_a_resume: true,
            })
        };
        assert_eq!(low_cap(Some(140_000), paused(122_000), nominal), Some(122_000));
        // ...one under it stays, through small dips of the estimate.
        assert_eq!(low_cap(Some(130_000), paused(122_000), nominal), Some(130_000));
        assert_eq!(low_cap(Some(140_000), paused(160_000), nominal), Some(140_000));
    }

    #[test]
    fn the_top_layer_is_capped_at_the_strongest_share_within_limits() {
        let nominal = 1_000_000;
        assert_eq!(top_cap(None, None, nominal), None, "nobody subscribes");
        assert_eq!(top_cap(None, Some(1_500_000), nominal), None, "it fits as it is");
        // The satellite patient's share of a 1 Mbit/s estimate.
        assert_eq!(top_cap(None, Some(720_000), nominal), Some(720_000));
        assert_eq!(top_cap(None, Some(450_000), nominal), None, "a 3G link: not capped");
        // Small wobbles keep the cap; real changes move it; room lifts it.
        assert_eq!(top_cap(Some(720_000), Some(800_000), nominal), Some(720_000));
        assert_eq!(top_cap(Some(720_000), Some(900_000), nominal), Some(900_000));
        assert_eq!(top_cap(Some(720_000), Some(1_200_000), nominal), None);
        // Wobbles across either end keep it too...
        assert_eq!(top_cap(Some(950_000), Some(1_050_000), nominal), Some(950_000));
        assert_eq!(top_cap(Some(620_000), Some(590_000), nominal), Some(620_000));
        // ...but a real fall under the minimum lifts it.
        assert_eq!(top_cap(Some(620_000), Some(450_000), nominal), None);
        // A fall the hysteresis would hide, but that leaves the subscriber
        // unable to switch up to the cap (825 kbit/s set at a 1.14 Mbit/s
        // estimate, the share now 697 kbit/s at 0.97 Mbit/s): it moves.
        assert_eq!(top_cap(Some(825_000), Some(697_000), nominal), Some(697_000));
    }

    #[test]
    fn a_single_layer_track_has_no_step_once_sent() {
        let t = track([Some(300_000), None, None]);
        assert_eq!(step_above(&t, Some(Layer::LOW)), u64::MAX);
        assert_eq!(step_above(&t, None), 300_000);
    }
}
