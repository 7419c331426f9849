// Getting the full-resolution layer back once an uplink that collapsed
// recovers. Chrome then raises its uplink estimate slowly, about 8-10 % a
// second from the 200 kbit/s or so it fell to, and turns the full layer
// back on only when the estimate covers it: 12 s and more with
// `bench/bench rural --profile step-down`. It probes quickly, though, when
// what it may send rises while it sends less than its estimate (Chrome's
// probe on a new allocation, which it allows only then; decision 0006).
//
// So while the full layer is on but not sent for want of bandwidth, its cap
// rests a kilobit under its value, and a nudge puts it back: a rise, so a
// probe follows at once and a recovered link shows. On the next look the
// cap rests again, ready for the next nudge. (When the nudge was a move
// down and the next one up, 4 s later, the probe came 0 or 4 s after the
// uplink first had room, by the phase of the alternation: decisions 0022
// and 0023.)
//
// A nudge needs an uplink with room (the estimate well above what goes out)
// and, to spare a link that is simply slow, an estimate grown since the
// last nudge; a slow link's steady estimate is nudged only now and then.

export const NUDGE_EVERY_MS = 4000;
/** A steady estimate with room is nudged this often at most. */
export const STEADY_NUDGE_EVERY_MS = 20000;
/** The estimate over what goes out for the uplink to look like it has room. */
export const ROOM_FACTOR = 1.5;
/** The estimate over its lowest since the last nudge for it to have grown. */
export const GROWTH_FACTOR = 1.25;
/** How far under its value the cap rests: small enough to change nothing else. */
export const REST_BPS = 1000;

/** The nudger's state before the first look. */
export const START = Object.freeze({ lastNudgeAt: -Infinity, lowestBps: null, waiting: false, nudge: false });

/**
 * Whether to nudge now: pure, so it is tested alone. `lowestBps` is the
 * lowest estimate since the last nudge or since the full layer began to
 * wait, whichever is later (null: none yet, which counts as grown).
 */
export function shouldNudge({ topOn, topSending, availableBps, sentBps, now, lastNudgeAt, lowestBps }) {
  if (!topOn || topSending) return false;
  if (!Number.isFinite(availableBps) || !Number.isFinite(sentBps) || sentBps <= 0) return false;
  if (availableBps < ROOM_FACTOR * sentBps) return false;
  const since = now - lastNudgeAt;
  if (since < NUDGE_EVERY_MS) return false;
  return lowestBps === null || availableBps >= GROWTH_FACTOR * lowestBps || since >= STEADY_NUDGE_EVERY_MS;
}

/**
 * The full layer's cap given its value `base`: `base` while it is sent
 * (or off) and on the look of a nudge, else resting a kilobit under it.
 */
export function topCap({ base, waiting, nudge }) {
  return waiting && !nudge ? base - REST_BPS : base;
}

/**
 * One look: the state after it and the cap to set. Pure, so a sequence of
 * looks is tested alone. A nudge is taken only from a resting cap, so that
 * it is a rise: on the first look of a wait the cap goes to rest.
 */
export function nudgeStep(state, { topOn, topSending, availableBps, sentBps, now, cap, base }) {
  const waiting = topOn && !topSending;
  // The lowest estimate of this wait (a new wait starts its own).
  let lowestBps = waiting ? state.lowestBps : null;
  if (waiting && Number.isFinite(availableBps)) lowestBps = Math.min(lowestBps ?? Infinity, availableBps);
  const resting = cap < base;
  const nudge = resting && shouldNudge({
    topOn, topSending, availableBps, sentBps, now, lastNudgeAt: state.lastNudgeAt, lowestBps: state.lowestBps,
  });
  const next = nudge
    ? { lastNudgeAt: now, lowestBps: availableBps, waiting, nudge }
    : { lastNudgeAt: state.lastNudgeAt, lowestBps, waiting, nudge };
  return { state: next, cap: topCap({ base, waiting, nudge }) };
}

/**
 * Watches `sender` (our simulcast video) every `everyMs`; `topRid` is the
 * full layer, `baseBps()` its cap as it should be. Returns `capFor(rid,
 * cap, on)`, the cap to set on an encoding given its value and whether it
 * is to be on (so that a caller setting caps keeps the rest), and `stop()`.
 */
export function nudgeUplink(pc, sender, { topRid, baseBps, everyMs = 1000 }) {
  let prev = null; // { t, bytes, topFrames }
  let state = START;
  const look = async () => {
    if (pc.connectionState !== 'connected') return;
    let bytes = 0;
    let topFrames = null;
    let availableBps = null;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp') {
        bytes += s.bytesSent ?? 0;
        if (s.kind === 'video' && s.rid === topRid) topFrames = s.framesEncoded ?? 0;
      } else if (s.type === 'candidate-pair' && s.nominated && typeof s.availableOutgoingBitrate === 'number') {
        availableBps = s.availableOutgoingBitrate;
      }
    });
    const now = Date.now();
    const last = prev;
    prev = { t: now, bytes, topFrames };
    if (!last || now <= last.t) return;
    const params = sender.getParameters();
    const top = params.encodings?.find((e) => e.rid === topRid);
    const base = baseBps();
    if (!top || !base) return;
    const step = nudgeStep(state, {
      // No camera (replaceVideo(null)): nothing to wait for.
      topOn: top.active !== false && sender.track !== null,
      topSending: topFrames !== null && last.topFrames !== null && topFrames > last.topFrames,
      availableBps,
      sentBps: ((bytes - last.bytes) * 8 * 1000) / (now - last.t),
      now,
      cap: top.maxBitrate,
      base,
    });
    state = step.state;
    if (top.maxBitrate === step.cap) return;
    top.maxBitrate = step.cap;
    await sender.setParameters(params);
  };
  const timer = setInterval(() => { look().catch(() => {}); }, everyMs);
  return {
    capFor: (rid, cap, on) => (rid === topRid && cap && on ? topCap({ base: cap, ...state }) : cap),
    stop: () => clearInterval(timer),
  };
}
