//! Tests for `rewrite.rs`: a simulated simulcast publisher feeds a rewriter
//! on a simulated clock, and the output is checked the way a subscriber's
//! jitter buffer and VP8 decoder would see it.

use std::time::{Duration, Instant};

use super::*;
use crate::layer::Layer;
use crate::rtp::timestamp_delta;
use crate::testutil::{packet_info, rtp_packet, vp8_payload, Rng, RtpSpec, SimClock, SimulcastPublisher, Vp8Spec};
use crate::vp8::PictureId;

const FRAME: Duration = Duration::from_millis(33);
const NO_KEYFRAME: [bool; 3] = [false; 3];

/// Output counters start just below their wrap points so every test crosses them.
fn video_config() -> RewriterConfig {
    RewriterConfig {
        ssrc: 0x5EED,
        clock_rate: 90_000,
        first_seq: 65530,
        first_timestamp: u32::MAX - 5000,
        first_picture_id: 32765,
        first_tl0picidx: 254,
    }
}

fn keyframe_on(layer: Layer) -> [bool; 3] {
    let mut k = NO_KEYFRAME;
    k[layer.index()] = true;
    k
}

#[derive(Debug)]
struct Sent {
    layer: Layer,
    keyframe_start: bool,
    in_timestamp: u32,
    out: Forward,
}

struct Harness {
    clock: SimClock,
    publisher: SimulcastPublisher,
    rewriter: VideoRewriter,
    sent: Vec<Sent>,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            clock: SimClock::new(),
            publisher: SimulcastPublisher::new(),
            rewriter: VideoRewriter::new(video_config()),
            sent: Vec::new(),
        }
    }

    fn feed(&mut self, layer: Layer, bytes: &[u8]) -> Decision {
        let info = packet_info(bytes);
        let decision = self.rewriter.rewrite(self.clock.now, layer, &info);
        if let Decision::Forward(out) = decision {
            self.sent.push(Sent {
                layer,
                keyframe_start: info.keyframe_start,
                in_timestamp: info.timestamp,
                out,
            });
        }
        decision
    }

    /// One frame on every layer, all arriving now, then one frame time passes.
    fn tick(&mut self, keyframes: [bool; 3]) {
        for (layer, bytes) in self.publisher.tick(keyframes) {
            self.feed(layer, &bytes);
        }
        self.clock.advance(FRAME);
    }

    fn layers_forwarded(&self) -> Vec<Layer> {
        let mut layers: Vec<Layer> = Vec::new();
        for s in &self.sent {
            if layers.last() != Some(&s.layer) {
                layers.push(s.layer);
            }
        }
        layers
    }
}

/// What a subscriber would check on a loss-free, in-order capture.
fn assert_continuous(sent: &[Sent]) {
    for (i, pair) in sent.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(b.out.ssrc, a.out.ssrc);
        assert_eq!(
            b.out.seq,
            a.out.seq.wrapping_add(1),
            "sequence gap at {i}: {a:?} -> {b:?}"
        );

        let same_frame = a.layer == b.layer && a.in_timestamp == b.in_timestamp;
        let ts_step = timestamp_delta(a.out.timestamp, b.out.timestamp);
        if same_frame {
            assert_eq!(ts_step, 0, "timestamp changed within a frame at {i}");
        } else {
            assert!(ts_step > 0, "timestamp not increasing at {i}: {a:?} -> {b:?}");
        }

        let pid_step = (b
            .out
            .picture_id
            .unwrap()
            .value()
            .wrapping_sub(a.out.picture_id.unwrap().value()))
            & 0x7fff;
        assert_eq!(
            pid_step,
            u16::from(!same_frame),
            "picture id step at {i}: {a:?} -> {b:?}"
        );
        let tl0_step = b.out.tl0picidx.unwrap().wrapping_sub(a.out.tl0picidx.unwrap());
        assert_eq!(tl0_step, u8::from(!same_frame), "TL0PICIDX step at {i}");

        if a.layer != b.layer {
            assert!(
                b.keyframe_start,
                "switch to {} at {i} did not start on a keyframe",
                b.layer
            );
        }
    }
}

#[test]
fn first_packet_after_start_is_a_keyframe_and_counters_start_as_configured() {
    let mut h = Harness::new();
    h.rewriter.set_target(Some(Layer::MID));
    h.tick(NO_KEYFRAME);
    assert!(h.sent.is_empty(), "nothing before the first keyframe");
    assert_eq!(h.rewriter.awaiting_keyframe(), Some(Layer::MID));
    h.tick(keyframe_on(Layer::MID));
    let first = &h.sent[0];
    assert!(first.keyframe_start);
    let cfg = video_config();
    assert_eq!(
        (first.out.seq, first.out.timestamp, first.out.ssrc),
        (cfg.first_seq, cfg.first_timestamp, cfg.ssrc)
    );
    assert_eq!(first.out.picture_id, Some(PictureId::Long(cfg.first_picture_id)));
    assert_eq!(first.out.tl0picidx, Some(cfg.first_tl0picidx));
    assert_eq!(h.rewriter.awaiting_keyframe(), None);
}

#[test]
fn switching_up_and_down_across_three_layers_is_seamless() {
    let mut h = Harness::new();
    let plan = [Layer::LOW, Layer::MID, Layer::HIGH, Layer::LOW, Layer::HIGH, Layer::MID];
    for (step, &target) in plan.iter().enumerate() {
        h.rewriter.set_target(Some(target));
        let previous = h.rewriter.current();
        // The target's keyframe comes a few frames later; until then the
        // previous layer must keep flowing.
        for _ in 0..4 {
            let before = h.sent.len();
            h.tick(NO_KEYFRAME);
            if let Some(previous) = previous {
                assert_eq!(h.rewriter.current(), Some(previous));
                assert!(
                    h.sent.len() > before,
                    "step {step}: current layer stopped before the switch"
                );
            }
        }
        h.tick(keyframe_on(target));
        assert_eq!(h.rewriter.current(), Some(target));
        for _ in 0..20 {
            h.tick(NO_KEYFRAME);
        }
    }
    assert_eq!(h.layers_forwarded(), plan);
    assert_continuous(&h.sent);
    // The counters wrapped on the way (they start just below their limits).
    assert!(h.sent.iter().any(|s| s.out.seq < 100));
    assert!(h.sent.iter().any(|s| s.out.timestamp < 1_000_000));
    assert!(h.sent.iter().any(|s| s.out.picture_id.unwrap().value() < 100));
    assert!(h.sent.iter().any(|s| s.out.tl0picidx.unwrap() < 10));
}

#[test]
fn timestamp_after_switch_follows_wall_clock() {
    let mut h = Harness::new();
    let low = h.publisher.frame(Layer::LOW, true, 1);
    h.rewriter.set_target(Some(Layer::LOW));
    h.feed(low[0].0, &low[0].1);
    h.rewriter.set_target(Some(Layer::HIGH));
    h.clock.advance(Duration::from_millis(100));
    let high = h.publisher.frame(Layer::HIGH, true, 1);
    h.feed(high[0].0, &high[0].1);
    assert_eq!(timestamp_delta(h.sent[0].out.timestamp, h.sent[1].out.timestamp), 9000);
}

#[test]
fn real_loss_on_the_forwarded_layer_stays_a_gap() {
    let mut h = Harness::new();
    h.rewriter.set_target(Some(Layer::HIGH));
    h.tick(keyframe_on(Layer::HIGH));
    // The network eats the second packet of the next HIGH frame.
    let frame = h.publisher.tick(NO_KEYFRAME);
    let lost_seq = packet_info(&frame.iter().filter(|(l, _)| *l == Layer::HIGH).nth(1).unwrap().1).seq;
    for (layer, bytes) in &frame {
        if *layer == Layer::HIGH && packet_info(bytes).seq == lost_seq {
            continue;
        }
        h.feed(*layer, bytes);
    }
    h.tick(NO_KEYFRAME);
    let seqs: Vec<u16> = h.sent.iter().map(|s| s.out.seq).collect();
    let steps: Vec<u16> = seqs.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    assert_eq!(
        steps.iter().filter(|&&s| s == 2).count(),
        1,
        "exactly one hole: {seqs:?}"
    );
    assert!(steps.iter().all(|&s| s == 1 || s == 2));
    // The hole maps back to the lost publisher packet, for an upstream NACK.
    let hole = seqs[steps.iter().position(|&s| s == 2).unwrap()].wrapping_add(1);
    assert_eq!(
        h.rewriter.incoming_seq(hole),
        Some((h.publisher.layers[2].ssrc, lost_seq))
    );
}

#[test]
fn reordered_packets_keep_their_place_across_the_wrap() {
    let mut h = Harness::new();
    h.rewriter.set_target(Some(Layer::LOW));
    let mut packets = h.publisher.frame(Layer::LOW, true, 6);
    packets.extend(h.publisher.frame(Layer::LOW, false, 40));
    // LOW's sequence numbers start at 65500, and the output at 65530, so
    // both wrap inside this run. Swap a few neighbours.
    for i in [3, 20, 33] {
        packets.swap(i, i + 1);
    }
    let mut expected = Vec::new();
    for (layer, bytes) in &packets {
        let in_seq = packet_info(bytes).seq;
        let Decision::Forward(out) = h.feed(*layer, bytes) else {
            panic!("dropped {in_seq}")
        };
        expected.push((in_seq, out.seq));
    }
    for (in_seq, out_seq) in expected {
        let offset = video_config().first_seq.wrapping_sub(65500);
        assert_eq!(
            out_seq,
            in_seq.wrapping_add(offset),
            "in {in_seq} came out as {out_seq}"
        );
    }
}

#[test]
fn stale_packets_are_dropped_with_a_reason() {
    let mut h = Harness::new();
    h.rewriter.set_target(Some(Layer::LOW));
    h.tick(keyframe_on(Layer::LOW));
    h.rewriter.set_target(Some(Layer::MID));
    let early_mid = h.publisher.frame(Layer::MID, false, 1);
    assert_eq!(
        h.feed(Layer::MID, &early_mid[0].1),
        Decision::Drop(DropReason::AwaitingKeyframe)
    );
    assert_eq!(h.rewriter.awaiting_keyframe(), Some(Layer::MID));
    let high = h.publisher.frame(Layer::HIGH, true, 1);
    assert_eq!(h.feed(Layer::HIGH, &high[0].1), Decision::Drop(DropReason::NotSelected));

    let late_low = h.publisher.frame(Layer::LOW, false, 1);
    let key_mid = h.publisher.frame(Layer::MID, true, 1);
    assert!(matches!(h.feed(Layer::MID, &key_mid[0].1), Decision::Forward(_)));
    // After the switch: the old layer's late packet and the new layer's
    // packet from before its keyframe are both refused.
    assert_eq!(
        h.feed(Layer::LOW, &late_low[0].1),
        Decision::Drop(DropReason::NotSelected)
    );
    assert_eq!(
        h.feed(Layer::MID, &early_mid[0].1),
        Decision::Drop(DropReason::BeforeSwitch)
    );

    // Far behind the newest packet: past the reorder window.
    for _ in 0..(MAX_REORDER as usize / 2 + 10) {
        h.tick(NO_KEYFRAME);
    }
    let mut old = packet_info(&h.publisher.frame(Layer::MID, false, 1)[0].1);
    old.seq = old.seq.wrapping_sub(MAX_REORDER as u16 + 10);
    assert_eq!(
        h.rewriter.rewrite(h.clock.now, Layer::MID, &old),
        Decision::Drop(DropReason::TooOld)
    );
}

#[test]
fn pause_and_resume_waits_for_keyframe_and_skips_time() {
    let mut h = Harness::new();
    h.rewriter.set_target(Some(Layer::MID));
    h.tick(keyframe_on(Layer::MID));
    h.tick(NO_KEYFRAME);
    h.rewriter.set_target(None);
    let paused = h.publisher.frame(Layer::MID, true, 1);
    assert_eq!(h.feed(Layer::MID, &paused[0].1), Decision::Drop(DropReason::Paused));
    assert_eq!((h.rewriter.current(), h.rewriter.awaiting_keyframe()), (None, None));

    let last = h.sent.last().unwrap().out;
    h.clock.advance(Duration::from_secs(2));
    h.rewriter.set_target(Some(Layer::MID));
    h.tick(NO_KEYFRAME);
    assert_eq!(h.sent.last().unwrap().out, last, "resumed without a keyframe");
    let resume_at = h.sent.len();
    h.tick(keyframe_on(Layer::MID));
    let resumed = &h.sent[resume_at];
    assert!(resumed.keyframe_start);
    assert_eq!(resumed.out.seq, last.seq.wrapping_add(1));
    // Wall time since the last packet sent: two frame times, the 2 s pause,
    // and the frame time spent waiting for the keyframe (2.066 s at 90 kHz).
    let gap = timestamp_delta(last.timestamp, resumed.out.timestamp);
    assert_eq!(gap, 185_940);
    assert_continuous(&h.sent);
}

#[test]
fn new_ssrc_on_the_current_layer_restarts_on_its_keyframe() {
    let mut h = Harness::new();
    h.rewriter.set_target(Some(Layer::LOW));
    h.tick(keyframe_on(Layer::LOW));
    h.publisher.layers[0].ssrc = 0xAAAA;
    h.publisher.layers[0].seq = 1;
    h.tick(NO_KEYFRAME);
    assert_eq!(h.rewriter.current(), None);
    assert_eq!(h.rewriter.awaiting_keyframe(), Some(Layer::LOW));
    h.tick(keyframe_on(Layer::LOW));
    assert_eq!(h.rewriter.current(), Some(Layer::LOW));
    assert_continuous(&h.sent);
}

#[test]
fn short_picture_ids_keep_their_width() {
    let mut rewriter = VideoRewriter::new(video_config());
    rewriter.set_target(Some(Layer::LOW));
    let now = Instant::now();
    let mut ids = Vec::new();
    for (i, raw_pid) in [126u8, 127, 0, 1].into_iter().enumerate() {
        let vp8 = Vp8Spec {
            picture_id: Some(PictureId::Short(raw_pid)),
            keyframe: i == 0,
            ..Vp8Spec::default()
        };
        let rtp = RtpSpec {
            seq: 10 + i as u16,
            timestamp: 3000 * i as u32,
            ..RtpSpec::default()
        };
        let info = packet_info(&rtp_packet(&rtp, &vp8_payload(&vp8)));
        let Decision::Forward(out) = rewriter.rewrite(now, Layer::LOW, &info) else {
            panic!("dropped")
        };
        ids.push(out.picture_id.unwrap());
    }
    let first = video_config().first_picture_id;
    let expected: Vec<PictureId> = (0..4).map(|i| PictureId::Short(((first + i) & 0x7f) as u8)).collect();
    assert_eq!(ids, expected);
}

fn audio_config() -> RewriterConfig {
    RewriterConfig {
        ssrc: 0xA0D10,
        clock_rate: 48_000,
        first_seq: 65534,
        first_timestamp: 0,
        first_picture_id: 0,
        first_tl0picidx: 0,
    }
}

fn opus(ssrc: u32, seq: u16, timestamp: u32) -> PacketInfo {
    PacketInfo {
        ssrc,
        seq,
        timestamp,
        keyframe_start: false,
        picture_id: None,
        tl0picidx: None,
    }
}

fn forwarded(d: Decision) -> Forward {
    match d {
        Decision::Forward(f) => f,
        Decision::Drop(reason) => panic!("dropped: {reason:?}"),
    }
}

#[test]
fn audio_passes_through_with_offsets_and_keeps_gaps() {
    let mut clock = SimClock::new();
    let mut a = AudioRewriter::new(audio_config());
    let first = forwarded(a.rewrite(clock.now, &opus(1, 100, 48_000)));
    assert_eq!(
        (first.seq, first.timestamp, first.ssrc, first.picture_id),
        (65534, 0, 0xA0D10, None)
    );
    clock.advance(Duration::from_millis(20));
    let second = forwarded(a.rewrite(clock.now, &opus(1, 101, 48_960)));
    assert_eq!((second.seq, second.timestamp), (65535, 960));
    // seq 102 lost, DTX silence skips timestamps: both gaps pass through.
    let fourth = forwarded(a.rewrite(clock.now, &opus(1, 103, 48_960 + 5 * 960)));
    assert_eq!((fourth.seq, fourth.timestamp), (1, 6 * 960));
    let third = forwarded(a.rewrite(clock.now, &opus(1, 102, 48_960 + 960)));
    assert_eq!(third.seq, 0, "late packet fills its own hole");
    assert_eq!(a.incoming_seq(0), Some((1, 102)));
}

#[test]
fn audio_publisher_reconnecting_with_new_ssrc_is_continued() {
    let mut clock = SimClock::new();
    let mut a = AudioRewriter::new(audio_config());
    let last_old = forwarded(a.rewrite(clock.now, &opus(1, 500, 1_000_000)));
    clock.advance(Duration::from_millis(1500));
    let first_new = forwarded(a.rewrite(clock.now, &opus(2, 9, 77)));
    assert_eq!(first_new.seq, last_old.seq.wrapping_add(1));
    assert_eq!(timestamp_delta(last_old.timestamp, first_new.timestamp), 72_000);
    assert_eq!(first_new.ssrc, last_old.ssrc);
    // A straggler from the old connection must not switch back.
    assert_eq!(
        a.rewrite(clock.now, &opus(1, 501, 1_000_960)),
        Decision::Drop(DropReason::BeforeSwitch)
    );
    let next = forwarded(a.rewrite(clock.now, &opus(2, 10, 77 + 960)));
    assert_eq!(next.seq, first_new.seq.wrapping_add(1));
    assert_eq!(a.incoming_seq(next.seq), Some((2, 10)));
    assert_eq!(a.incoming_seq(last_old.seq), None, "belongs to the replaced source");
}

#[test]
fn arbitrary_packet_sequences_never_panic() {
    let mut rng = Rng::new(0xF022);
    let mut clock = SimClock::new();
    let mut video = VideoRewriter::new(video_config());
    let mut audio = AudioRewriter::new(audio_config());
    for _ in 0..50_000 {
        let pkt = PacketInfo {
            ssrc: rng.below(4) as u32,
            seq: rng.next() as u16,
            timestamp: rng.next() as u32,
            keyframe_start: rng.below(4) == 0,
            picture_id: match rng.below(3) {
                0 => None,
                1 => Some(PictureId::Short(rng.next() as u8 & 0x7f)),
                _ => Some(PictureId::Long(rng.next() as u16 & 0x7fff)),
            },
            tl0picidx: (rng.below(2) == 0).then(|| rng.next() as u8),
        };
        if rng.below(50) == 0 {
            video.set_target(Layer::new(rng.below(4) as usize));
        }
        let layer = Layer::new(rng.below(3) as usize).unwrap();
        if let Decision::Forward(f) = video.rewrite(clock.now, layer, &pkt) {
            assert_eq!(f.picture_id.map(|p| p.bits()), pkt.picture_id.map(|p| p.bits()));
            let _ = video.incoming_seq(f.seq);
        }
        let _ = audio.rewrite(clock.now, &pkt);
        let _ = audio.incoming_seq(rng.next() as u16);
        clock.advance(Duration::from_micros(rng.below(50_000)));
    }
}

#[test]
fn dropping_the_current_layer_for_a_switch_down_resumes_on_the_target_keyframe() {
    let mut h = Harness::new();
    h.rewriter.set_target(Some(Layer::HIGH));
    h.tick(keyframe_on(Layer::HIGH));
    for _ in 0..5 {
        h.tick(NO_KEYFRAME);
    }
    h.rewriter.set_target(Some(Layer::LOW));
    h.rewriter.drop_current();
    let before = h.sent.len();
    for _ in 0..4 {
        h.tick(NO_KEYFRAME);
    }
    assert_eq!(h.sent.len(), before, "nothing flows until the lower keyframe");
    assert_eq!(h.rewriter.awaiting_keyframe(), Some(Layer::LOW));
    h.tick(keyframe_on(Layer::LOW));
    assert_eq!(h.rewriter.current(), Some(Layer::LOW));
    assert_eq!(h.layers_forwarded(), [Layer::HIGH, Layer::LOW]);
    assert_continuous(&h.sent);
}

#[test]
fn with_nothing_flowing_a_lower_keyframe_starts_the_picture_until_the_target_comes() {
    let mut h = Harness::new();
    h.rewriter.set_target(Some(Layer::HIGH));
    // The top layer's keyframe is late (the publisher is still ramping up):
    // the lowest layer's starts the picture.
    h.tick(keyframe_on(Layer::LOW));
    h.tick(NO_KEYFRAME);
    assert_eq!(h.rewriter.current(), Some(Layer::LOW));
    assert_eq!(
        h.rewriter.awaiting_keyframe(),
        Some(Layer::HIGH),
        "still wants the target"
    );
    // Once a layer flows, another below the target no longer takes over.
    h.tick(keyframe_on(Layer::MID));
    assert_eq!(h.rewriter.current(), Some(Layer::LOW));
    h.tick(keyframe_on(Layer::HIGH));
    h.tick(NO_KEYFRAME);
    assert_eq!(h.rewriter.current(), Some(Layer::HIGH));
    assert_eq!(h.layers_forwarded(), [Layer::LOW, Layer::HIGH]);
    assert_continuous(&h.sent);
}
