// The uplink nudge rule (web-client/js/call/uplink.js), alone: the full
// layer's cap rests a kilobit under its value while that layer is on and not
// sent, and goes back (a nudge, a rise, which Chrome probes on) only while
// the uplink estimate shows room over what goes out and has grown since the
// last nudge; never more often than the period.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  shouldNudge, nudgeStep, START, NUDGE_EVERY_MS, STEADY_NUDGE_EVERY_MS, REST_BPS, ROOM_FACTOR, GROWTH_FACTOR,
} from '../../web-client/js/call/uplink.js';

const recovered = {
  topOn: true, topSending: false, availableBps: 600_000, sentBps: 250_000, now: 100_000, lastNudgeAt: 90_000, lowestBps: 200_000,
};

test('a recovered uplink with the full layer on but unsent is nudged', () => {
  assert.equal(shouldNudge(recovered), true);
});

test('nothing is touched while the full layer flows, is off, or the link has no room', () => {
  assert.equal(shouldNudge({ ...recovered, topSending: true }), false, 'already sent');
  assert.equal(shouldNudge({ ...recovered, topOn: false }), false, 'the relay wants it off');
  // A steady slow link: the estimate is what goes out.
  assert.equal(shouldNudge({ ...recovered, availableBps: 280_000 }), false);
  assert.equal(shouldNudge({ ...recovered, availableBps: ROOM_FACTOR * 250_000 - 1 }), false);
  assert.equal(shouldNudge({ ...recovered, availableBps: null }), false, 'no estimate yet');
  assert.equal(shouldNudge({ ...recovered, sentBps: 0 }), false, 'nothing goes out');
});

test('nudges are at least the period apart', () => {
  assert.equal(shouldNudge({ ...recovered, lastNudgeAt: recovered.now - NUDGE_EVERY_MS + 1 }), false);
  assert.equal(shouldNudge({ ...recovered, lastNudgeAt: recovered.now - NUDGE_EVERY_MS }), true);
});

test('an estimate with room that has not grown since the last nudge is nudged only now and then', () => {
  // A 300 kbit/s uplink whose full layer never fits: room, but a steady estimate.
  const steady = { ...recovered, availableBps: 260_000, sentBps: 170_000, lowestBps: 250_000 };
  assert.equal(shouldNudge(steady), false);
  assert.equal(shouldNudge({ ...steady, availableBps: GROWTH_FACTOR * 250_000 }), true, 'grown');
  assert.equal(shouldNudge({ ...steady, lastNudgeAt: steady.now - STEADY_NUDGE_EVERY_MS + 1 }), false);
  assert.equal(shouldNudge({ ...steady, lastNudgeAt: steady.now - STEADY_NUDGE_EVERY_MS }), true);
});

const BASE = 1_000_000;

/** Runs looks a second apart from `state`; returns the caps set and the state after. */
function looks(state, cap, samples) {
  const caps = [];
  for (const s of samples) {
    const step = nudgeStep(state, { topOn: true, topSending: false, sentBps: 250_000, base: BASE, cap, ...s });
    state = step.state;
    cap = step.cap;
    caps.push(cap);
  }
  return { caps, state, cap };
}

test('a wait rests the cap first, then a nudge raises it for one look, then it rests again', () => {
  // Room from the first look on: the first look only rests (a nudge from
  // the full value would be no rise, so no probe).
  const at = (s, avail = 600_000) => ({ now: s * 1000, availableBps: avail });
  const { caps } = looks(START, BASE, [at(1), at(2), at(3), at(4), at(5), at(6), at(7)]);
  const rest = BASE - REST_BPS;
  assert.deepEqual(caps, [rest, BASE, rest, rest, rest, rest, rest],
    'nudged at 2 s; not again by 7 s, the estimate standing still');
});

test('a collapse and a recovery: no nudge while the estimate stands, one as it grows with room', () => {
  const rest = BASE - REST_BPS;
  // The layer is sent, then stops as the link collapses: the estimate
  // falls to what goes out (no room), then climbs past 1.5x of it.
  let run = looks(START, BASE, [{ now: 1_000, availableBps: 2_000_000, topSending: true }]);
  assert.deepEqual(run.caps, [BASE], 'sent: its value');
  run = looks(run.state, run.cap, [
    { now: 2_000, availableBps: 260_000 },
    { now: 3_000, availableBps: 220_000 },
    { now: 4_000, availableBps: 200_000 },
    { now: 5_000, availableBps: 260_000 },
    { now: 6_000, availableBps: 330_000 },
    { now: 7_000, availableBps: 380_000 },
    { now: 8_000, availableBps: 400_000 },
  ]);
  assert.deepEqual(run.caps, [rest, rest, rest, rest, rest, BASE, rest], 'nudged at 7 s, the first look with room');
  // The probe found the link: the layer is sent again, and its cap is its value.
  run = looks(run.state, run.cap, [{ now: 9_000, availableBps: 2_500_000, topSending: true }]);
  assert.deepEqual(run.caps, [BASE]);
  assert.equal(run.state.lowestBps, null, 'a new wait starts its own lowest');
});

test('a cap the relay lowered meanwhile rests under the new value', () => {
  const { caps } = looks(START, BASE, [{ now: 1_000, availableBps: 200_000, base: 800_000 }]);
  assert.deepEqual(caps, [800_000 - REST_BPS]);
});
