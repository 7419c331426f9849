// Getting the full-resolution layer back once an uplink that collapsed
// recovers. Chrome then raises its uplink estimate slowly, about 30 kbit/s a
// second from the 250 kbit/s it fell to, and turns the full layer back on
// only when the estimate covers it: 12 s and more with
// `bench/bench rural --profile step-down`. It probes quickly, though, when
// what it may send changes while it sends less than its estimate (Chrome's
// probe on a new allocation, which it allows only then). So while the full
// layer is on but not sent for want of bandwidth, and the estimate is well
// above what goes out (an uplink with room), its cap is moved a kilobit
// down every few seconds and back a second later: the move back up is the
// new allocation Chrome probes on (its probe follows a rise of what it may
// send, not a fall), and a recovered link shows at once. Moved back only at
// the next nudge, 4 s later, the probe came 4 s after the nudge that could
// have had it (`--profile step-down`: the patient's estimate jumped from 515
// kbit/s to 2.8 Mbit/s as the cap came back, 4 s after it went down; the
// 480p back at the specialist 13.4 s after the recovery; decision 0022).
// On a link that is simply slow the estimate is close to what goes out and
// nothing is touched.

export const NUDGE_EVERY_MS = 4000;
/** How long a nudged cap stays a kilobit down before it goes back up. */
export const RETURN_AFTER_MS = 1000;
/** The estimate over what goes out for the uplink to look like it has room. */
export const ROOM_FACTOR = 1.5;
/** How far the cap moves: small enough to change nothing else. */
export const NUDGE_BPS = 1000;

/** Whether to nudge now: pure, so it is tested alone. */
export function shouldNudge({ topOn, topSending, availableBps, sentBps, now, lastNudgeAt }) {
  if (!topOn || topSending) return false;
  if (!Number.isFinite(availableBps) || !Number.isFinite(sentBps) || sentBps <= 0) return false;
  return availableBps >= ROOM_FACTOR * sentBps && now - lastNudgeAt >= NUDGE_EVERY_MS;
}

/**
 * The cap to set: a kilobit under `base` when a nudge is due (`go`), back to
 * `base` once it has been down RETURN_AFTER_MS (or when the base moved), else
 * as it is. Pure, so it is tested alone.
 */
export function nextCap({ current, base, go, now, lastNudgeAt }) {
  if (!Number.isFinite(current)) return current; // no cap set: nothing to move
  if (current !== base) return now - lastNudgeAt >= RETURN_AFTER_MS || current !== base - NUDGE_BPS ? base : current;
  return go ? base - NUDGE_BPS : current;
}

/**
 * Watches `sender` (our simulcast video) every `everyMs`; `topRid` is the
 * full layer, `baseBps()` its cap as it should be. Returns a stop function.
 */
export function nudgeUplink(pc, sender, { topRid, baseBps, everyMs = 1000 }) {
  let prev = null; // { t, bytes, topFrames }
  let lastNudgeAt = 0;
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
    const go = top.maxBitrate === base && shouldNudge({
      topOn: top.active !== false,
      topSending: topFrames !== null && last.topFrames !== null && topFrames > last.topFrames,
      availableBps,
      sentBps: ((bytes - last.bytes) * 8 * 1000) / (now - last.t),
      now,
      lastNudgeAt,
    });
    const cap = nextCap({ current: top.maxBitrate, base, go, now, lastNudgeAt });
    if (cap === top.maxBitrate) return;
    if (go) lastNudgeAt = now;
    top.maxBitrate = cap;
    await sender.setParameters(params);
  };
  const timer = setInterval(() => { look().catch(() => {}); }, everyMs);
  return () => clearInterval(timer);
}
