// The device check's network check: a short WebRTC connection to the media
// relay (POST /api/join/<token>/network-check), with no media from us (one
// receive-only audio line), to learn before the waiting room whether a call
// gets through this network and how slow the round trip is. The relay ends
// the check by itself after 20 s; we end it as soon as we know. The clinic
// kiosk runs the same check while it waits (js/kiosk/ready.js).
//
// Result: { level: 'good' | 'fair' | 'poor' | 'none', rttMs, tcp }.
//   none — no connection within the time limit (a video call would fail too);
//   poor — round trip over 800 ms, or it took over 6 s to connect;
//   fair — over 300 ms (satellite, a busy 3G cell), or only over TCP
//          (the network blocks the usual way; it works, with more delay);
//   good — otherwise.

import { api, post } from '../api.js';

const CONNECT_WITHIN_MS = 12000;
/** The most a `network` message may report (the server's MAX_LINK_RTT_MS). */
const MAX_LINK_RTT_MS = 10000;

// close() fires no connectionstatechange, so an abort is listened to here.
function connected(pc, timeoutMs, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error('timeout')); }, timeoutMs);
    const aborted = () => { cleanup(); reject(new Error('aborted')); };
    const check = () => {
      if (pc.connectionState === 'connected') { cleanup(); resolve(); }
      else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') { cleanup(); reject(new Error(pc.connectionState)); }
    };
    const cleanup = () => {
      clearTimeout(timer);
      pc.removeEventListener('connectionstatechange', check);
      signal?.removeEventListener('abort', aborted);
    };
    pc.addEventListener('connectionstatechange', check);
    signal?.addEventListener('abort', aborted);
    check();
  });
}

async function pairFigures(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
  if (!pair) return { rttMs: null, tcp: false };
  const local = stats.get(pair.localCandidateId);
  const rtt = typeof pair.currentRoundTripTime === 'number' ? pair.currentRoundTripTime
    : (pair.responsesReceived ? pair.totalRoundTripTime / pair.responsesReceived : null);
  return { rttMs: rtt === null ? null : Math.round(rtt * 1000), tcp: local?.protocol === 'tcp' };
}

export function verdict({ connectMs, rttMs, tcp }) {
  if (rttMs === null || rttMs > 800 || connectMs > 6000) return 'poor';
  if (rttMs > 300 || tcp) return 'fair';
  return 'good';
}

/**
 * `onFirstRtt(ms)`: called with the first round trip measured, as soon as
 * the check connects (1.5 s before the result): the waiting room reports it.
 * `signal`: an AbortSignal that ends the check at once (the kiosk forgets
 * the patient); the result is then `none`.
 */
export async function checkNetwork(token, { onFirstRtt = () => {}, signal } = {}) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const path = `/join/${encodeURIComponent(token)}/network-check`;
  let checkId = null;
  // Closing the connection makes every wait below end at once.
  const abort = () => pc.close();
  signal?.addEventListener('abort', abort);
  try {
    if (signal?.aborted) return { level: 'none', rttMs: null, tcp: false };
    pc.addTransceiver('audio', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    const started = performance.now();
    const check = await post(path, { sdp: pc.localDescription.sdp });
    checkId = check.check_id;
    await pc.setRemoteDescription({ type: 'answer', sdp: check.sdp });
    try {
      await connected(pc, CONNECT_WITHIN_MS, signal);
    } catch {
      return { level: 'none', rttMs: null, tcp: false };
    }
    const connectMs = performance.now() - started;
    // The first round trips are measured while connecting; one more
    // consent check a second or two later says more about a busy link.
    let figures = await pairFigures(pc);
    if (figures.rttMs !== null) onFirstRtt(figures.rttMs);
    await new Promise((r) => {
      const timer = setTimeout(r, 1500);
      signal?.addEventListener('abort', () => { clearTimeout(timer); r(); }, { once: true });
    });
    if (signal?.aborted) return { level: 'none', rttMs: null, tcp: false };
    const later = await pairFigures(pc);
    if (later.rttMs !== null) figures = later;
    return { level: verdict({ connectMs, ...figures }), ...figures };
  } finally {
    signal?.removeEventListener('abort', abort);
    pc.close();
    if (checkId) api('DELETE', `${path}/${encodeURIComponent(checkId)}`).catch(() => {});
  }
}

/**
 * Whether a check's round trip (ms) is one for the waiting room's `network`
 * message, which lets the specialist's player allow for it from the first
 * frame (call/playout.js): a figure the server takes.
 */
export function reportable(rttMs) {
  return Number.isInteger(rttMs) && rttMs >= 0 && rttMs <= MAX_LINK_RTT_MS;
}

/**
 * A function that sends a round trip (ms) on `signaling` as a `network`
 * message: only figures the server takes, each change once (a send the
 * closed socket refused does not count).
 */
export function rttReporter(signaling) {
  let reported = null;
  return (rttMs) => {
    if (!reportable(rttMs) || rttMs === reported) return;
    if (signaling.send({ type: 'network', rtt_ms: rttMs }) !== false) reported = rttMs;
  };
}
