// Getting the full-resolution layer back once an uplink that collapsed
// recovers. Chrome then raises its uplink estimate slowly, about 30 kbit/s a
// second from the 250 kbit/s it fell to, and turns the full layer back on
// only when the estimate covers it: 12 s and more with
// `bench/bench rural --profile step-down`. It probes quickly, though, when
// what it may send changes while it sends less than its estimate (Chrome's
// probe on a new allocation, which it allows only then). So while the full
// layer is on but not sent for want of bandwidth, and the estimate is well
// above what goes out (an uplink with room), its cap is moved by a kilobit
// every few seconds: a probe follows, and a recovered link shows at once.
// On a link that is simply slow the estimate is close to what goes out and
// nothing is touched.

export const NUDGE_EVERY_MS = 4000;
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

/** The cap to set: the other of `base` and a kilobit under it. */
export function nudged(current, base) {
  return current === base ? base - NUDGE_BPS : base;
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
    const go = shouldNudge({
      topOn: top.active !== false,
      topSending: topFrames !== null && last.topFrames !== null && topFrames > last.topFrames,
      availableBps,
      sentBps: ((bytes - last.bytes) * 8 * 1000) / (now - last.t),
      now,
      lastNudgeAt,
    });
    if (!go) return;
    lastNudgeAt = now;
    top.maxBitrate = nudged(top.maxBitrate, base);
    await sender.setParameters(params);
  };
  const timer = setInterval(() => { look().catch(() => {}); }, everyMs);
  return () => clearInterval(timer);
}
