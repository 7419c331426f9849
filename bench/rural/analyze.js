// Turns one recorded consult (`consult.js`) into the figures of the rural
// benchmark, per direction of media:
//
// - "to-patient": the specialist's audio and video as the patient's browser
//   received and showed them (through the emulated link's downlink);
// - "to-specialist": the patient's, as the specialist's browser got them
//   (through the uplink).
//
// Times are seconds after the admit. Freezes follow the WebRTC stats
// definition (a frame shown later than max(3 × the mean of the last 30
// frame intervals, that mean + 150 ms)), measured on the frames the page
// presented; time during which the screen said "video paused" is counted as
// paused, not frozen, since the patient was told (the part of a gap before
// the notice appeared still is a freeze; decision 0017). Frames per second
// count the frames the browser presented, from the advance of
// `presentedFrames` at each frame callback, not the callbacks alone, which
// miss frames when two reach the screen between two of the page's
// rendering steps (decision 0021).

const FREEZE_WINDOW = 30;
/** Seconds after the admit before fps and resolution count (first frames, ramp-up). */
export const SETTLE_S = 5;

export function analyze(rec, profile) {
  const t0 = rec.admittedAt;
  const rel = (t) => (t - t0) / 1000;
  const directions = {};
  for (const [dir, page, self, other] of [
    ['to-patient', rec.pages.patient, rec.ids.patient, rec.ids.specialist],
    ['to-specialist', rec.pages.specialist, rec.ids.specialist, rec.ids.patient],
  ]) {
    const inbound = inboundSeries(page.samples ?? [], rel);
    const pausedAt = (page.samples ?? []).filter((s) => s.screen?.paused?.includes(other)).map((s) => rel(s.t));
    // `n`: frames presented since the callback before (1 in records made
    // before page-probe.js kept it).
    const frames = (page.frames?.[other] ?? []).map(([t, w, h, n]) => ({ t: rel(t), w, h, n: n ?? 1 }));
    const playback = playbackSeries(page.samples ?? [], other, rel);
    const relay = rec.relay.filter((r) => r.participants).map((r) => {
      const p = r.participants[self] ?? {};
      return { t: rel(r.t), estimate: p.estimate ?? null, layer: p.layers?.[other] ?? null, bitrateOut: p.bitrateOut ?? null };
    });
    // What the sender put onto the emulated link, before it: the relay
    // toward the patient, the patient's browser toward the relay.
    const sent = dir === 'to-patient'
      ? rec.relay.filter((r) => r.participants?.[self]).map((r) => ({ t: rel(r.t), kbps: (r.participants[self].bitrateOut ?? 0) / 1000 }))
      : sentByPage(rec.pages.patient.samples ?? [], rel);
    directions[dir] = summarise({ inbound, frames, playback, pausedAt, relay, sent, durationS: rec.durationS, page });
  }
  const sending = { patient: sendingSummary(rec.pages.patient.samples ?? [], rel), specialist: sendingSummary(rec.pages.specialist.samples ?? [], rel) };
  return { profile: rec.profile, durationS: rec.durationS, link: rec.link, directions, sending, events: events(rec, profile, directions) };
}

/**
 * What each browser's encoder did, per simulcast encoding (RID): median
 * resolution, frame rate and bitrate once settled, and why it limited itself
 * (Chrome's qualityLimitationReason: bandwidth, cpu, none), as a share of
 * samples.
 */
function sendingSummary(samples, rel) {
  const byRid = {};
  let prev = {};
  for (const s of samples) {
    if (!s.pc) continue;
    const t = rel(s.t);
    for (const o of s.out ?? []) {
      if (o.kind !== 'video') continue;
      const rid = o.rid ?? '-';
      const key = `${s.pc}/${rid}`;
      const p = prev[key];
      const entry = (byRid[rid] ??= { n: 0, heights: [], fps: [], kbps: [], reasons: {}, active: [] });
      if (t >= SETTLE_S) {
        entry.n += 1;
        // Figures of an encoding only while it is on.
        if (o.active !== false) {
          if (isNum(o.frameHeight)) entry.heights.push(o.frameHeight);
          if (isNum(o.framesPerSecond)) entry.fps.push(o.framesPerSecond);
          if (p && isNum(o.bytesSent) && s.t > p.t) entry.kbps.push(((o.bytesSent - p.bytes) * 8) / (s.t - p.t));
        }
        if (o.qualityLimitationReason) entry.reasons[o.qualityLimitationReason] = (entry.reasons[o.qualityLimitationReason] ?? 0) + 1;
        entry.active.push(o.active !== false);
      }
      prev[key] = { t: s.t, bytes: o.bytesSent };
    }
  }
  return Object.fromEntries(Object.entries(byRid).map(([rid, e]) => [rid, {
    height: median(e.heights), fps: median(e.fps), kbps: median(e.kbps),
    activeShare: e.active.length ? round(e.active.filter(Boolean).length / e.active.length, 2) : null,
    limitedBy: Object.fromEntries(Object.entries(e.reasons).map(([k, n]) => [k, round(n / Math.max(1, e.n), 2)])),
  }]));
}

/** A page's total sending rate (all its outgoing RTP), kbit/s per sample. */
function sentByPage(samples, rel) {
  const out = [];
  let prev = null;
  for (const s of samples) {
    if (!s.pc) continue;
    const bytes = (s.out ?? []).reduce((a, o) => a + (o.bytesSent ?? 0), 0);
    if (prev && prev.pc === s.pc && s.t > prev.t) out.push({ t: rel(s.t), kbps: Math.max(0, bytes - prev.bytes) * 8 / (s.t - prev.t) });
    prev = { pc: s.pc, t: s.t, bytes };
  }
  return out;
}

/**
 * Per sample, the video element's playback counters for participant `other`
 * (`screen.playback`): frames given to it and dropped before display. A new
 * stream on the element (a media restart) starts them from zero again;
 * `perSecond` skips that step.
 */
function playbackSeries(samples, other, rel) {
  return samples.filter((s) => s.screen?.playback?.[other])
    .map((s) => ({ t: rel(s.t), total: s.screen.playback[other][0], dropped: s.screen.playback[other][1] }));
}

/**
 * The mean rise per second of counter `key` over `series`, skipping any fall
 * (a counter restarted). The interval with the restart stays in the span,
 * so a restart reads slightly low.
 */
function perSecond(series, key) {
  let rise = 0;
  for (let i = 1; i < series.length; i++) rise += Math.max(0, series[i][key] - series[i - 1][key]);
  const span = series.length > 1 ? series[series.length - 1].t - series[0].t : 0;
  return span > 0 ? round(rise / span, 2) : null;
}

/** Per sample, the receive counters of the call's connection (restarts of the connection handled). */
function inboundSeries(samples, rel) {
  const out = [];
  let prev = null;
  for (const s of samples) {
    if (!s.pc) continue;
    const audio = maxBy(s.inAudio ?? [], (r) => r.totalSamplesReceived ?? r.bytesReceived ?? 0);
    const video = maxBy(s.inVideo ?? [], (r) => r.bytesReceived ?? 0);
    const cur = {
      t: rel(s.t), pc: s.pc,
      audioPackets: audio?.packetsReceived ?? 0,
      audioBytes: audio?.bytesReceived ?? 0,
      concealed: (audio?.concealedSamples ?? 0),
      samples: audio?.totalSamplesReceived ?? 0,
      audioJitter: audio?.jitter ?? null,
      videoBytes: video?.bytesReceived ?? 0,
      framesDecoded: video?.framesDecoded ?? 0,
      height: video?.frameHeight ?? null,
      videoJitter: video?.jitter ?? null,
      rtt: s.pair?.currentRoundTripTime ?? null,
      audioBuffered: audio?.jitterBufferDelay ?? 0,
      audioEmitted: audio?.jitterBufferEmittedCount ?? 0,
      videoBuffered: video?.jitterBufferDelay ?? 0,
      videoEmitted: video?.jitterBufferEmittedCount ?? 0,
      connection: s.screen?.connection ?? null,
      ended: Boolean(s.screen?.ended),
    };
    // Deltas since the previous sample of the same connection (a new
    // connection's counters start from zero).
    const base = prev && prev.pc === cur.pc ? prev : null;
    for (const k of ['audioPackets', 'audioBytes', 'concealed', 'samples', 'videoBytes', 'framesDecoded',
      'audioBuffered', 'audioEmitted', 'videoBuffered', 'videoEmitted']) {
      cur[`d_${k}`] = Math.max(0, cur[k] - (base ? base[k] : 0));
    }
    out.push(cur);
    prev = cur;
  }
  return out;
}

function summarise({ inbound, frames, playback, pausedAt, relay, sent, durationS }) {
  const seconds = [];
  for (let k = 0; k < Math.floor(durationS); k++) {
    const inS = inbound.filter((s) => s.t >= k && s.t < k + 1);
    const fr = frames.filter((f) => f.t >= k && f.t < k + 1);
    const rl = relay.filter((r) => r.t >= k && r.t < k + 1);
    seconds.push({
      t: k,
      fps: sum(fr.map((f) => f.n)),
      callbacks: fr.length,
      height: median(fr.map((f) => f.h)),
      kbps: sum(inS.map((s) => s.d_audioBytes + s.d_videoBytes)) * 8 / 1000,
      sentKbps: median(sent.filter((x) => x.t >= k && x.t < k + 1).map((x) => x.kbps)),
      audioPackets: sum(inS.map((s) => s.d_audioPackets)),
      concealed: sum(inS.map((s) => s.d_concealed)),
      samples: sum(inS.map((s) => s.d_samples)),
      estimateKbps: last(rl.map((r) => r.estimate).filter(isNum)) / 1000 || null,
      layer: last(rl.map((r) => r.layer).filter(isNum)) ?? null,
      paused: pausedAt.some((t) => t >= k && t < k + 1),
    });
  }
  const settled = seconds.filter((s) => s.t >= SETTLE_S);
  const shown = settled.filter((s) => !s.paused);
  const settledPlayback = playback.filter((p) => p.t >= SETTLE_S);
  const freezes = findFreezes(frames, pausedAt);
  const watched = Math.max(0.001, durationS - (frames[0]?.t ?? durationS));
  return {
    firstFrameS: frames[0]?.t ?? null,
    firstAudioS: inbound.find((s) => s.audioPackets > 0)?.t ?? null,
    audioConcealed: ratio(sum(seconds.map((s) => s.concealed)), sum(seconds.map((s) => s.samples))),
    // Over every settled second: a second the relay paused the video shows
    // no frames, and counts as 0 (the edge target allows pauses explicitly).
    fpsMedian: median(settled.map((s) => s.fps)),
    fpsP10: quantile(settled.map((s) => s.fps), 0.1),
    fpsShownMedian: median(shown.map((s) => s.fps)),
    // The same seconds counted by frame callbacks alone, as this benchmark
    // did before decision 0021: lower wherever the page's rendering steps
    // missed a frame the browser presented.
    fpsCallbacksMedian: median(settled.map((s) => s.callbacks)),
    // The video element's own count, once settled: frames given to it and
    // dropped before display, per second (means, where fps are medians).
    elementDroppedPerS: perSecond(settledPlayback, 'dropped'),
    elementGivenPerS: perSecond(settledPlayback, 'total'),
    heightMedian: median(shown.map((s) => s.height).filter(isNum)),
    freezeCount: freezes.length,
    freezeTotalS: round(sum(freezes.map((f) => f.s)), 3),
    freezeMaxS: round(Math.max(0, ...freezes.map((f) => f.s)), 3),
    freezeRatio: ratio(sum(freezes.map((f) => f.s)), watched),
    pausedS: settled.filter((s) => s.paused).length,
    audioJitterMs: msMedian(inbound.map((s) => s.audioJitter)),
    videoJitterMs: msMedian(inbound.map((s) => s.videoJitter)),
    rttMs: msMedian(inbound.map((s) => s.rtt)),
    // Mean time a sample or frame waited in the receiver's jitter buffer
    // once settled: the latency the receiver added (audio follows video).
    playoutMs: {
      audio: bufferedMs(inbound.filter((s) => s.t >= SETTLE_S), 'audio'),
      video: bufferedMs(inbound.filter((s) => s.t >= SETTLE_S), 'video'),
    },
    kbpsMedian: median(settled.map((s) => s.kbps)),
    estimateKbpsMedian: median(settled.map((s) => s.estimateKbps).filter(isNum)),
    layers: countBy(settled.map((s) => s.layer)),
    layerNotShownMaxS: layerNotShownMaxS(settled),
    dropped: inbound.some((s) => s.ended || s.connection === 'failed'),
    freezes,
    seconds,
    fine: { inbound: inbound.map(({ t, d_audioPackets, d_framesDecoded }) => ({ t, a: d_audioPackets, v: d_framesDecoded })), frames: frames.map((f) => f.t), relay },
  };
}

/**
 * The longest run of seconds in which the relay forwarded a higher layer
 * while the receiver decoded no more than the lowest layer's height (one
 * second of lag after a switch is normal). A relay that sent a layer's
 * delta frames on another layer's picture showed as this: 11 and 48 s in
 * two satellite runs, before frames were written in arrival order.
 */
function layerNotShownMaxS(seconds) {
  const lowest = median(seconds.filter((s) => s.layer === 0).map((s) => s.height).filter(isNum));
  if (!lowest) return 0;
  let run = 0;
  let worst = 0;
  for (const s of seconds) {
    run = s.layer > 0 && isNum(s.height) && s.height <= lowest ? run + 1 : 0;
    worst = Math.max(worst, run);
  }
  return worst;
}

/**
 * Freezes among presented frames. Once the screen says the video is paused
 * the rest of the gap is not a freeze, since the viewer was told; the part
 * before the first sample that showed the notice still is, when it alone is
 * long enough to count.
 */
function findFreezes(frames, pausedAt) {
  const out = [];
  const recent = [];
  for (let i = 1; i < frames.length; i++) {
    const d = frames[i].t - frames[i - 1].t;
    if (recent.length >= 3) {
      const avg = recent.reduce((a, b) => a + b, 0) / recent.length;
      const limit = Math.max(3 * avg, avg + 0.15);
      if (d > limit) {
        // A notice already up at the last frame (seen by the sample just
        // before it; samples are about 200 ms apart) covers the whole gap.
        const toldBefore = pausedAt.some((t) => t <= frames[i - 1].t && t > frames[i - 1].t - 0.25);
        const toldAt = pausedAt.find((t) => t > frames[i - 1].t && t < frames[i].t);
        const untold = toldBefore ? 0 : toldAt === undefined ? d : toldAt - frames[i - 1].t;
        if (untold > limit) out.push({ at: round(frames[i - 1].t, 3), s: round(untold, 3) });
        continue; // a freeze is not part of the mean frame interval
      }
    }
    recent.push(d);
    if (recent.length > FREEZE_WINDOW) recent.shift();
  }
  return out;
}

/** The profile's events (outage, steps) and how each direction came through them. */
function events(rec, profile, directions) {
  const out = [];
  for (const o of profile.outages ?? []) {
    const back = o.at_s + o.for_s;
    for (const [dir, d] of Object.entries(directions)) {
      out.push({
        kind: 'outage', dir, at: o.at_s, until: back,
        audioBackS: firstAfter(d.fine.inbound.filter((s) => s.a > 0).map((s) => s.t), back),
        videoBackS: firstAfter(d.fine.frames, back),
      });
    }
  }
  const steps = profile.steps ?? [];
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i];
    const prevDown = i > 0 ? steps[i - 1].down : profile.down_kbps;
    const goingDown = (s.down ?? prevDown) < prevDown;
    const end = steps[i + 1]?.at_s ?? rec.durationS;
    for (const [dir, d] of Object.entries(directions)) {
      const relay = d.fine.relay.filter((r) => isNum(r.layer));
      const before = last(relay.filter((r) => r.t < s.at_s).map((r) => r.layer));
      const ev = { kind: goingDown ? 'step-down' : 'step-up', dir, at: s.at_s, until: end, layerBefore: before ?? null };
      if (goingDown) {
        // Adapted: the relay sends a lower layer (or pauses), or the
        // sender's own encoder went lower in resolution (what the receiver
        // shows), or in bitrate, so that what arrives fits the new link.
        const lower = relay.find((r) => r.t >= s.at_s && before !== undefined && r.layer < before);
        const heightBefore = median(d.seconds.filter((x) => x.t >= s.at_s - 5 && x.t < s.at_s).map((x) => x.height).filter(isNum));
        const smaller = d.seconds.find((x) => x.t >= s.at_s && isNum(x.height) && heightBefore && x.height < heightBefore);
        const prevUp = i > 0 ? steps[i - 1].up ?? profile.up_kbps : profile.up_kbps;
        const rate = dir === 'to-patient' ? (s.down ?? prevDown) : (s.up ?? prevUp);
        // What the sender puts on the link (not what arrives: the link itself caps that).
        const fits = d.seconds.find((x) => x.t >= s.at_s && isNum(x.sentKbps) && x.sentKbps <= 0.9 * rate);
        ev.linkKbps = rate;
        const times = [lower?.t, smaller ? smaller.t + 1 : undefined, fits ? fits.t + 1 : undefined]
          .filter(isNum).map((t) => t - s.at_s);
        ev.adaptedS = times.length ? round(Math.min(...times), 2) : null;
        ev.freezeMaxS = round(Math.max(0, ...d.freezes.filter((f) => f.at >= s.at_s - 1 && f.at < end).map((f) => f.s)), 3);
        const span = d.seconds.filter((x) => x.t >= s.at_s && x.t < end);
        ev.audioConcealed = ratio(sum(span.map((x) => x.concealed)), sum(span.map((x) => x.samples)));
      } else {
        // The top layer is the highest this direction reached before the
        // drop (the sender's encoder decides how many layers exist).
        const topLayer = Math.max(-1, ...relay.filter((r) => r.t < (steps[i - 1]?.at_s ?? s.at_s)).map((r) => r.layer));
        const top = relay.find((r) => r.t >= s.at_s && r.layer >= topLayer && topLayer >= 0);
        ev.topLayer = topLayer;
        ev.topLayerS = top ? round(top.t - s.at_s, 2) : null;
      }
      out.push(ev);
    }
  }
  return out;
}

function bufferedMs(samples, kind) {
  const buffered = sum(samples.map((s) => s[`d_${kind}Buffered`]));
  const emitted = sum(samples.map((s) => s[`d_${kind}Emitted`]));
  return emitted > 0 ? round((buffered / emitted) * 1000, 0) : null;
}

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const sum = (xs) => xs.reduce((a, b) => a + (isNum(b) ? b : 0), 0);
const last = (xs) => xs[xs.length - 1];
const round = (v, digits = 2) => (isNum(v) ? Number(v.toFixed(digits)) : null);
const ratio = (a, b) => (b > 0 ? round(a / b, 4) : null);
const maxBy = (xs, f) => xs.reduce((best, x) => (best === null || f(x) > f(best) ? x : best), null);
const firstAfter = (times, at) => {
  const t = times.find((x) => x >= at);
  return t === undefined ? null : round(t - at, 2);
};
const countBy = (xs) => xs.reduce((m, x) => ({ ...m, [x === null ? 'none' : x]: (m[x === null ? 'none' : x] ?? 0) + 1 }), {});
const msMedian = (xs) => round((median(xs.filter(isNum)) ?? NaN) * 1000, 1);

export function quantile(xs, q) {
  const v = xs.filter(isNum).sort((a, b) => a - b);
  if (!v.length) return null;
  const i = (v.length - 1) * q;
  const lo = Math.floor(i);
  return round(v[lo] + (v[Math.ceil(i)] - v[lo]) * (i - lo), 2);
}

export function median(xs) {
  return quantile(xs, 0.5);
}
