// How long the browser holds received video before showing it, following
// the link. On a lossy link (3G, a busy cell) a lost packet's frame waits a
// round trip for its retransmission; with the browser's default playout
// delay that wait shows as a freeze. So when a video froze since the last
// look, aim for more delay (RTCRtpReceiver.jitterBufferTarget), in two
// steps up to 400 ms (or the round trip plus 200 ms, at most 900, on a
// satellite link); after 20 s without a freeze, give 50 ms back. The
// delay costs conversation latency (audio follows video for lip sync), which
// is why it is only taken when freezes show it is needed and given back.
// Measured with `bench/bench rural --profile rural-3g`.
//
// What is given back stops at the start delay for the round trip (START_*,
// below). On a satellite link a lost packet holds the picture for a round
// trip about once a second; the start delay absorbs that, so a calm spell
// followed and was taken as leave to give it back: 50 ms every 20 s, until
// a hold outlasted it (`--profile satellite`, the specialist's view: the
// target at 576 ms 58 s in, a 730 ms hold, 0.2 s frozen).
//
// The delay glides toward that aim, GLIDE_MS at a time: Chrome makes up a
// raised target at once, by holding the picture for as long as it was
// raised, so a 200 ms step was itself a 200 ms freeze, which the next look
// counted as one and answered with the next step, four freezes in four
// seconds after every real one (`--profile satellite`, the specialist's
// view: 0.9 s of the 2.5-4.5 s frozen). A hold of 80 ms beside a 33 ms
// frame interval is under the freeze threshold (the interval plus 150 ms).
//
// A receiver whose round trip is already long when first seen starts with
// some delay (START_*): from zero, the browser's own estimator and the
// freeze rule above raised the delay over the first seconds of every 3G
// call, each raise a freeze (`--profile rural-3g`, the patient's view: 2-4
// freezes 2-5 s after the admit in each of five runs, most of the call's
// frozen time). Set before the first frame is shown, it costs no freeze, so
// a receiver is looked at as soon as its track arrives. A round trip
// learned later in the start (until the publisher's is known, at most
// START_WINDOW_MS after the first frame) still raises the aim, reached by
// gliding once frames show.
//
// Our own round trip is known from when ICE connects (the candidate pair's
// figure), often less than a second before the first frame shows
// (`--profile satellite`, the patient's view: 0.6-0.8 s). Looked at once a
// second, a receiver was first seen with that figure after its first frame
// in 3 of 10 runs, so the start delay was glided to instead of set, and the
// first lost packet froze the patient's picture for 0.65-0.7 s, more than
// half of the call's allowance. So a receiver is looked at when the
// connection (ICE and DTLS) comes up and every FIRST_FRAME_LOOK_MS until
// its first frame, for at most FIRST_FRAME_WAIT_MS.
//
// The round trip that counts is the longest a retransmission can take: our
// own leg to the relay, or the publisher's (the relay forwards whole frames
// in order, so a packet lost on a satellite patient's uplink holds the
// specialist's picture for the patient's round trip, though the
// specialist's own is 10 ms). The relay reports the publisher's in its
// `quality` messages (`sender_rtt_ms`), but only seconds into the call
// (`--profile satellite`: 4.8 s after the admit, after the specialist's
// first frame; freezes 5-7 s in, while the delay was still the browser's
// own). Until then the round trip the publisher measured before the call
// stands in (`link_rtt_ms` of its participant: the patient's network
// check), so a specialist watching a satellite patient starts with the
// delay too.

export const STEP_DOWN_MS = 50;
export const MAX_MS = 400;
/** On a long round trip (satellite: 600 ms) a retransmission takes longer. */
export const MAX_WITH_RTT_MS = 900;
export const CALM_MS = 20000;
/** The most the target moves at once, and how often it moves while gliding. */
export const GLIDE_MS = 80;
export const GLIDE_EVERY_MS = 250;

/** How long after its first frame a receiver's start may still rise. */
export const START_WINDOW_MS = 10000;
/** How often a receiver is looked at until its first frame... */
export const FIRST_FRAME_LOOK_MS = 100;
/**
 * ...for at most this long after it was first seen or the connection came
 * up, whichever is later: a participant without video may never send one.
 */
export const FIRST_FRAME_WAIT_MS = 10000;
/** From this round trip on, a call starts with a delay... */
export const START_RTT_MS = 100;
/** ...of the round trip and this, within maxFor(). */
export const START_MARGIN_MS = 100;

/** How far the delay may go: enough for one retransmission on this link. */
export function maxFor(rttMs) {
  return Number.isFinite(rttMs) ? Math.min(MAX_WITH_RTT_MS, Math.max(MAX_MS, rttMs + 200)) : MAX_MS;
}

/** The aim (ms) a receiver starts with, before any freeze. */
export function startGoal(rttMs) {
  if (!Number.isFinite(rttMs) || rttMs < START_RTT_MS) return 0;
  return Math.min(maxFor(rttMs), Math.round(rttMs) + START_MARGIN_MS);
}

/**
 * The next aim (ms) for one receiver, from what the last look saw: pure, so
 * it is tested alone. `state`: { goal, calmSince }.
 */
export function nextGoal(state, { now, froze, rttMs = null }) {
  if (froze) {
    // Two freezes to the cap whatever it is: a satellite link's 840 ms in
    // 100 ms steps would take eight freezes to reach.
    const cap = maxFor(rttMs);
    // Never lowered by a freeze, even when the round trip now reads shorter.
    return { goal: Math.max(state.goal, Math.min(cap, state.goal + Math.round(cap / 2))), calmSince: now };
  }
  // Never below the start delay for the round trip: on a long one, a calm
  // spell is the delay at work, not a sign it is no longer needed.
  const floor = startGoal(rttMs);
  if (state.goal > floor && now - state.calmSince >= CALM_MS) {
    return { goal: Math.max(floor, state.goal - STEP_DOWN_MS), calmSince: now };
  }
  return state;
}

/** The target one glide step from `target` toward `goal`. */
export function glide(target, goal) {
  return target < goal ? Math.min(goal, target + GLIDE_MS) : Math.max(goal, target - GLIDE_MS);
}

/**
 * A receiver's start, until it is settled: the aim for the longest round
 * trip known so far (never lower than an earlier one), the target set to it
 * at once while nothing is shown (after that, glide() takes it there).
 * Settled once frames show and the publisher's round trip is known, or
 * START_WINDOW_MS after the first frame; then only freezes move the aim.
 * `state`: { goal, target, shownAt, settled }; `decoded`: frames decoded so
 * far; `publisherKnown`: whether `rttMs` includes the publisher's leg.
 */
export function starting(state, { now, rttMs, decoded, publisherKnown }) {
  if (state.settled) return state;
  const goal = Math.max(state.goal, startGoal(rttMs));
  const shownAt = state.shownAt ?? (decoded > 0 ? now : null);
  const settled = shownAt !== null && (publisherKnown || now - shownAt >= START_WINDOW_MS);
  return { ...state, goal, target: shownAt === null ? goal : state.target, shownAt, settled };
}

/**
 * A publisher's round trip (ms): the relay's figure once it has one, else
 * the one the publisher reported (its network check), else null.
 */
export function publisherRttMs(relayMs, reportedMs) {
  if (Number.isFinite(relayMs)) return relayMs;
  return Number.isFinite(reportedMs) ? reportedMs : null;
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
 * One read of the whole connection's stats: our round trip to the relay
 * (ms, null before ICE has measured one) and each inbound stream's counters
 * by track id; null if the connection closed meanwhile. Read from the whole
 * connection: a receiver's own stats list the candidate pair only once they
 * list its inbound stream, which Chrome did not yet do at the first frame.
 */
async function readStats(pc) {
  let report;
  try {
    report = await pc.getStats();
  } catch {
    return null;
  }
  const pairs = [];
  const inbound = new Map(); // track id → { freezes, decoded }
  let selectedId = null;
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) selectedId = s.selectedCandidatePairId;
    else if (s.type === 'candidate-pair' && s.nominated && typeof s.currentRoundTripTime === 'number') pairs.push(s);
    else if (s.type === 'inbound-rtp' && s.trackIdentifier) inbound.set(s.trackIdentifier, { freezes: s.freezeCount ?? null, decoded: s.framesDecoded ?? 0 });
  });
  // The transport's selected pair; a nominated one if it names none.
  const pair = pairs.find((p) => p.id === selectedId) ?? pairs[0];
  return { rttMs: pair ? pair.currentRoundTripTime * 1000 : null, inbound };
}

/**
 * Watches `pc`'s video receivers every `everyMs` (every FIRST_FRAME_LOOK_MS
 * while one waits for its first frame), when the connection comes up, and
 * each new one as its track arrives; returns a stop function.
 * `senderRttMs()`: the longest publisher round trip known (publisherRttMs()).
 * `ownReceivers`: those of our own sending transceivers, on which nothing
 * arrives (left alone, they would keep the looks at FIRST_FRAME_LOOK_MS).
 */
export function adaptPlayout(pc, { everyMs = 1000, senderRttMs = () => null, ownReceivers = new Set() } = {}) {
  const states = new Map(); // receiver → { goal, calmSince, freezes, target, shownAt, settled, seenAt }
  const setTarget = (receiver, ms) => {
    try {
      receiver.jitterBufferTarget = ms || null;
    } catch {
      // An older browser without a settable target: nothing to do.
    }
  };
  // One look at a time, in turn: a track arriving during a look is seen by
  // the next one, at once rather than at the next tick.
  let looks = Promise.resolve();
  const look = () => (looks = looks.then(lookAtEach).catch(() => {}));
  const lookAtEach = async () => {
    if (pc.connectionState === 'closed') return;
    const stats = await readStats(pc);
    if (!stats) return;
    const { rttMs } = stats;
    for (const receiver of pc.getReceivers()) {
      if (ownReceivers.has(receiver) || receiver.track?.kind !== 'video' || !('jitterBufferTarget' in receiver)) continue;
      // No inbound stats yet: the track has come, its packets not.
      const { decoded, freezes: counted } = stats.inbound.get(receiver.track.id) ?? { freezes: 0, decoded: 0 };
      const freezes = counted ?? 0;
      const now = Date.now();
      const publisherMs = senderRttMs();
      const rtt = retransmitRttMs(rttMs, publisherMs);
      const seen = states.get(receiver) ?? { goal: 0, calmSince: now, freezes, target: 0, shownAt: null, settled: false, seenAt: now };
      const prev = starting(seen, { now, rttMs: rtt, decoded, publisherKnown: publisherMs !== null });
      if (prev.target !== seen.target) setTarget(receiver, prev.target);
      const next = nextGoal(prev, { now, froze: freezes > prev.freezes, rttMs: rtt });
      states.set(receiver, { ...prev, ...next, freezes });
    }
  };
  // The next look comes sooner while a receiver waits for its first frame.
  let lookTimer = null;
  let stopped = false;
  let connectedAt = 0;
  const waitingForFirstFrame = () => {
    const now = Date.now();
    return [...states.values()].some((s) => s.shownAt === null && now - Math.max(s.seenAt, connectedAt) < FIRST_FRAME_WAIT_MS);
  };
  const lookNow = () => look().then(() => {
    if (stopped) return;
    clearTimeout(lookTimer);
    lookTimer = setTimeout(lookNow, waitingForFirstFrame() ? FIRST_FRAME_LOOK_MS : everyMs);
  });
  const onTrack = (e) => { if (e.track.kind === 'video' && !ownReceivers.has(e.receiver)) lookNow(); };
  const onConnection = () => {
    if (pc.connectionState !== 'connected') return;
    connectedAt = Date.now();
    lookNow();
  };
  pc.addEventListener('track', onTrack);
  pc.addEventListener('connectionstatechange', onConnection);
  // Only sets a number on each receiver that is still on its way: no stats.
  const step = () => {
    for (const [receiver, s] of states) {
      if (s.target === s.goal) continue;
      s.target = glide(s.target, s.goal);
      setTarget(receiver, s.target);
    }
  };
  lookTimer = setTimeout(lookNow, everyMs);
  const glideTimer = setInterval(step, GLIDE_EVERY_MS);
  return () => {
    stopped = true;
    clearTimeout(lookTimer);
    clearInterval(glideTimer);
    pc.removeEventListener('track', onTrack);
    pc.removeEventListener('connectionstatechange', onConnection);
  };
}
