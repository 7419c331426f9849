// The call's playout-delay rule (web-client/js/call/playout.js), alone: more
// delay after a freeze, in steps, capped; reached by gliding, never by a
// jump that would itself freeze the picture; given back only after a calm
// spell.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextGoal, glide, maxFor, retransmitRttMs, startGoal, starting, publisherRttMs, adaptPlayout, START_WINDOW_MS, START_RTT_MS, START_MARGIN_MS, STEP_DOWN_MS, MAX_MS, MAX_WITH_RTT_MS, CALM_MS, GLIDE_MS, FIRST_FRAME_LOOK_MS, FIRST_FRAME_WAIT_MS } from '../../web-client/js/call/playout.js';

test('freezes raise the aim in two steps up to the cap', () => {
  let s = { goal: 0, calmSince: 0 };
  const goals = [];
  for (let i = 1; i <= 4; i++) {
    s = nextGoal(s, { now: i * 2000, froze: true });
    goals.push(s.goal);
  }
  assert.deepEqual(goals, [MAX_MS / 2, MAX_MS, MAX_MS, MAX_MS]);
});

test('the delay glides to its aim in steps too small to freeze the picture', () => {
  const targets = [];
  let t = 0;
  while (t !== 840) {
    const next = glide(t, 840);
    assert.ok(Math.abs(next - t) <= GLIDE_MS, `${t} → ${next}`);
    targets.push((t = next));
  }
  assert.equal(targets.length, Math.ceil(840 / GLIDE_MS));
  assert.equal(glide(840, 790), 790, 'and back down the same way');
  assert.equal(glide(400, 400), 400);
});

test('the delay is given back only after a calm spell, a step at a time', () => {
  let s = nextGoal({ goal: 0, calmSince: 0 }, { now: 0, froze: true });
  const first = s.goal;
  s = nextGoal(s, { now: CALM_MS - 1, froze: false });
  assert.equal(s.goal, first, 'not yet');
  s = nextGoal(s, { now: CALM_MS, froze: false });
  assert.equal(s.goal, first - STEP_DOWN_MS);
  s = nextGoal(s, { now: CALM_MS + 1000, froze: false });
  assert.equal(s.goal, first - STEP_DOWN_MS, 'the calm spell starts again');
  for (let i = 2; i < 10; i++) s = nextGoal(s, { now: i * CALM_MS, froze: false });
  assert.equal(s.goal, 0, 'never below zero');
});

test('the delay given back stops at the start delay for the round trip', () => {
  // A satellite patient's 640 ms: a lost packet holds the picture a round
  // trip about once a second, and the start delay is what hides it.
  const floor = startGoal(640);
  let s = nextGoal({ goal: floor, calmSince: 0 }, { now: 0, froze: true, rttMs: 640 });
  assert.ok(s.goal > floor);
  for (let i = 1; i < 20; i++) s = nextGoal(s, { now: i * CALM_MS, froze: false, rttMs: 640 });
  assert.equal(s.goal, floor, 'given back down to the start delay, not below');
  // A calm spell at the start delay itself gives nothing back.
  assert.equal(nextGoal({ goal: floor, calmSince: 0 }, { now: CALM_MS, froze: false, rttMs: 640 }).goal, floor);
});

test('a long round trip allows more delay, within a bound', () => {
  assert.equal(maxFor(null), MAX_MS);
  assert.equal(maxFor(60), MAX_MS);
  assert.equal(maxFor(600), 800);
  assert.equal(maxFor(5000), MAX_WITH_RTT_MS);
  let s = { goal: 0, calmSince: 0 };
  const goals = [];
  for (let i = 0; i < 3; i++) {
    s = nextGoal(s, { now: i, froze: true, rttMs: 600 });
    goals.push(s.goal);
  }
  assert.deepEqual(goals, [400, 800, 800], 'two steps to the cap');
  // A shorter round trip read at the next freeze does not lower the aim.
  assert.equal(nextGoal(s, { now: 5, froze: true, rttMs: 100 }).goal, 800);
});

test("the publisher's round trip counts when it is the longer one", () => {
  // A specialist on fiber (10 ms) watching a patient on a satellite (640 ms):
  // a packet lost on the patient's uplink comes back after 640 ms.
  assert.equal(retransmitRttMs(10, 640), 640);
  assert.equal(retransmitRttMs(640, 10), 640);
  assert.equal(retransmitRttMs(null, 640), 640);
  assert.equal(retransmitRttMs(10, null), 10);
  assert.equal(retransmitRttMs(null, null), null);
  assert.equal(maxFor(retransmitRttMs(10, 640)), 840);
});

test('a call on a long round trip starts with delay for one retransmission', () => {
  assert.equal(startGoal(null), 0, 'round trip unknown: the browser decides');
  assert.equal(startGoal(20), 0, 'fiber');
  assert.equal(startGoal(START_RTT_MS - 1), 0);
  assert.equal(startGoal(180), 180 + START_MARGIN_MS, '3G');
  assert.equal(startGoal(640), 740, 'satellite');
  assert.equal(startGoal(5000), MAX_WITH_RTT_MS, 'within the cap');
  // A freeze after such a start still raises the aim toward the cap.
  const s = nextGoal({ goal: startGoal(180), calmSince: 0 }, { now: 1, froze: true, rttMs: 180 });
  assert.equal(s.goal, MAX_MS);
});

test('until the first frame, the start follows the round trip as it becomes known', () => {
  let s = { goal: 0, target: 0, shownAt: null, settled: false };
  // The track came before any round trip was known: nothing to allow for.
  s = starting(s, { now: 0, rttMs: null, decoded: 0, publisherKnown: false });
  assert.deepEqual(s, { goal: 0, target: 0, shownAt: null, settled: false });
  // The publisher's round trip arrives before its first frame: set at once.
  s = starting(s, { now: 100, rttMs: 640, decoded: 0, publisherKnown: true });
  assert.deepEqual(s, { goal: 740, target: 740, shownAt: null, settled: false });
  // A shorter figure later does not take it back.
  s = starting(s, { now: 200, rttMs: 20, decoded: 0, publisherKnown: true });
  assert.equal(s.goal, 740);
  // Frames show and the publisher's round trip is known: settled, and from
  // now on only freezes move the aim.
  s = starting(s, { now: 300, rttMs: 640, decoded: 3, publisherKnown: true });
  assert.deepEqual(s, { goal: 740, target: 740, shownAt: 300, settled: true });
  assert.deepEqual(starting(s, { now: 400, rttMs: 5000, decoded: 9, publisherKnown: true }), s);
});

test("a publisher's round trip learned after frames show is glided to, not jumped to", () => {
  // A specialist on fiber watching a satellite patient: frames show before
  // anything is known of the patient's leg.
  let s = starting({ goal: 0, target: 0, shownAt: null, settled: false }, { now: 0, rttMs: 10, decoded: 12, publisherKnown: false });
  assert.deepEqual(s, { goal: 0, target: 0, shownAt: 0, settled: false });
  s = starting(s, { now: 2000, rttMs: 640, decoded: 60, publisherKnown: true });
  assert.deepEqual(s, { goal: 740, target: 0, shownAt: 0, settled: true });
  assert.equal(glide(s.target, s.goal), GLIDE_MS);
});

test("without the publisher's round trip, the start settles a while after the first frame", () => {
  let s = starting({ goal: 0, target: 0, shownAt: null, settled: false }, { now: 0, rttMs: 180, decoded: 1, publisherKnown: false });
  s = starting(s, { now: START_WINDOW_MS - 1, rttMs: 250, decoded: 200, publisherKnown: false });
  assert.equal(s.settled, false);
  assert.equal(s.goal, 350, 'still rising with the round trip');
  s = starting(s, { now: START_WINDOW_MS, rttMs: 250, decoded: 300, publisherKnown: false });
  assert.equal(s.settled, true);
  // A round trip swollen by a queue later does not add delay by itself.
  assert.equal(starting(s, { now: START_WINDOW_MS + 1000, rttMs: 900, decoded: 330, publisherKnown: false }).goal, 350);
});

test("the relay's figure for a publisher wins over the one it reported", () => {
  assert.equal(publisherRttMs(null, 640), 640, 'before the relay has one');
  assert.equal(publisherRttMs(700, 640), 700);
  assert.equal(publisherRttMs(150, 640), 150, 'the call measures the link as it is now');
  assert.equal(publisherRttMs(null, null), null);
  assert.equal(publisherRttMs(undefined, undefined), null);
});

/**
 * A stand-in for an RTCPeerConnection, for the watcher's timing alone: a
 * remote video receiver, our own sending one, and stats as the test sets
 * them (`rttS`: the candidate pair's round trip; `remote.decoded`).
 */
function fakePeer() {
  const listeners = new Map();
  const receiver = (id) => ({ track: { kind: 'video', id }, jitterBufferTarget: null });
  const remote = receiver('remote');
  remote.decoded = 0;
  const own = receiver('own');
  const pc = {
    connectionState: 'new',
    rttS: null,
    looks: 0,
    getReceivers: () => [own, remote],
    getStats: async () => {
      pc.looks += 1;
      const report = new Map([['in', { type: 'inbound-rtp', trackIdentifier: 'remote', framesDecoded: remote.decoded, freezeCount: 0 }]]);
      if (pc.rttS !== null) {
        report.set('T', { type: 'transport', selectedCandidatePairId: 'P' });
        report.set('P', { id: 'P', type: 'candidate-pair', nominated: true, currentRoundTripTime: pc.rttS });
      }
      return report;
    },
    addEventListener: (type, f) => listeners.set(type, f),
    removeEventListener: (type) => listeners.delete(type),
    fire: (type, e = {}) => listeners.get(type)?.(e),
  };
  return { pc, remote, own };
}

/** Lets every pending promise of a look settle (setImmediate is not mocked). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Mocked clocks, a fake peer and its watcher, the remote track just arrived. */
async function watching(t) {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  const { pc, remote, own } = fakePeer();
  const stop = adaptPlayout(pc, { everyMs: 1000, ownReceivers: new Set([own]) });
  pc.fire('track', { track: remote.track, receiver: remote });
  await settle();
  return { pc, remote, own, stop };
}

test('a page sets its start delay when its connection comes up, before any frame', async (t) => {
  const { pc, remote, own, stop } = await watching(t);
  assert.equal(remote.jitterBufferTarget, null, 'no round trip known yet');
  pc.rttS = 0.6;
  pc.connectionState = 'connected';
  pc.fire('connectionstatechange');
  await settle();
  assert.equal(remote.jitterBufferTarget, 600 + START_MARGIN_MS);
  assert.equal(own.jitterBufferTarget, null, 'our own receiver is left alone');
  stop();
});

test('a receiver is looked at every 100 ms until its first frame, then at the usual pace', async (t) => {
  const { pc, remote, stop } = await watching(t);
  // The round trip becomes known with no event to say so.
  pc.rttS = 0.6;
  t.mock.timers.tick(FIRST_FRAME_LOOK_MS);
  await settle();
  assert.equal(remote.jitterBufferTarget, 600 + START_MARGIN_MS, 'seen within one short look');
  remote.decoded = 1;
  t.mock.timers.tick(FIRST_FRAME_LOOK_MS);
  await settle();
  const looks = pc.looks;
  t.mock.timers.tick(500);
  await settle();
  assert.equal(pc.looks, looks, 'frames show: no look sooner than everyMs');
  t.mock.timers.tick(500);
  await settle();
  assert.equal(pc.looks, looks + 1);
  stop();
  t.mock.timers.tick(5000);
  await settle();
  assert.equal(pc.looks, looks + 1, 'no look after stop');
});

test('short looks end for a receiver that never shows a frame', async (t) => {
  const { pc, stop } = await watching(t);
  for (let ms = 0; ms < FIRST_FRAME_WAIT_MS; ms += FIRST_FRAME_LOOK_MS) {
    t.mock.timers.tick(FIRST_FRAME_LOOK_MS);
    await settle();
  }
  const looks = pc.looks;
  assert.ok(looks >= FIRST_FRAME_WAIT_MS / FIRST_FRAME_LOOK_MS - 2, `${looks} looks in the wait`);
  for (let i = 0; i < 10; i++) {
    t.mock.timers.tick(FIRST_FRAME_LOOK_MS);
    await settle();
  }
  assert.equal(pc.looks, looks + 1, 'once a second after the wait');
  stop();
});
