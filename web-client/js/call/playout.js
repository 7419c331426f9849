// How long the browser holds received video before showing it, following
// the link. On a lossy link (3G, a busy cell) a lost packet's frame waits a
// round trip for its retransmission; with the browser's default playout
// delay that wait shows as a freeze. So when a video froze since the last
// look, ask for more delay (RTCRtpReceiver.jitterBufferTarget), in four
// steps up to 400 ms (or the round trip plus 200 ms, at most 900, on a
// satellite link); after 20 s without a freeze, give 50 ms back. The
// delay costs conversation latency (audio follows video for lip sync), which
// is why it is only taken when freezes show it is needed and given back.
// Measured with `bench/bench rural --profile rural-3g`.
//
// The round trip that counts is the longest a retransmission can take: our
// own leg to the relay, or the publisher's (the relay forwards whole frames
// in order, so a packet lost on a satellite patient's uplink holds the
// specialist's picture for the patient's round trip, though the
// specialist's own is 10 ms). The relay reports the publisher's in its
// `quality` messages (`sender_rtt_ms`).

export const STEP_UP_MS = 100;
export const STEP_DOWN_MS = 50;
export const MAX_MS = 400;
/** On a long round trip (satellite: 600 ms) a retransmission takes longer. */
export const MAX_WITH_RTT_MS = 900;
export const CALM_MS = 20000;

/** How far the delay may go: enough for one retransmission on this link. */
export function maxFor(rttMs) {
  return Number.isFinite(rttMs) ? Math.min(MAX_WITH_RTT_MS, Math.max(MAX_MS, rttMs + 200)) : MAX_MS;
}

/** The next target (ms) for one receiver: pure, so it is tested alone. */
export function nextTarget(state, { now, froze, rttMs = null }) {
  if (froze) {
    // Four steps to the cap whatever it is: a satellite link's 800 ms in
    // 100 ms steps would take 16 s of freezes to reach.
    const cap = maxFor(rttMs);
    const step = Math.max(STEP_UP_MS, Math.round(cap / 4));
    return { target: Math.min(cap, state.target + step), calmSince: now };
  }
  if (state.target > 0 && now - state.calmSince >= CALM_MS) {
    return { target: Math.max(0, state.target - STEP_DOWN_MS), calmSince: now };
  }
  return state;
}

/**
 * The longer of our round trip and the publishers' (ms), or null when
 * neither is known.
 */
export function retransmitRttMs(ownMs, senderMs) {
  const known = [ownMs, senderMs].filter(Number.isFinite);
  return known.length ? Math.max(...known) : null;
}

/**
 * Watches `pc`'s video receivers every `everyMs`; returns a stop function.
 * `senderRttMs()`: the longest publisher round trip the relay reported.
 */
export function adaptPlayout(pc, { everyMs = 1000, senderRttMs = () => null } = {}) {
  const states = new Map(); // receiver → { target, calmSince, freezes }
  const look = async () => {
    if (pc.connectionState === 'closed') return;
    for (const receiver of pc.getReceivers()) {
      if (receiver.track?.kind !== 'video' || !('jitterBufferTarget' in receiver)) continue;
      let freezes = null;
      let rttMs = null;
      try {
        (await receiver.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp') freezes = s.freezeCount ?? null;
          else if (s.type === 'candidate-pair' && s.nominated && typeof s.currentRoundTripTime === 'number') rttMs = s.currentRoundTripTime * 1000;
        });
      } catch {
        continue;
      }
      if (freezes === null) continue;
      const now = Date.now();
      const prev = states.get(receiver) ?? { target: 0, calmSince: now, freezes };
      const next = nextTarget(prev, { now, froze: freezes > prev.freezes, rttMs: retransmitRttMs(rttMs, senderRttMs()) });
      states.set(receiver, { ...next, freezes });
      if (next.target !== prev.target) {
        try {
          receiver.jitterBufferTarget = next.target || null;
        } catch {
          // An older browser without a settable target: nothing to do.
        }
      }
    }
  };
  const timer = setInterval(() => { look().catch(() => {}); }, everyMs);
  return () => clearInterval(timer);
}
