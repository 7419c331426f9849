// The call's playout-delay rule (web-client/js/call/playout.js), alone: more
// delay after a freeze, in steps, capped; given back only after a calm spell.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextTarget, maxFor, retransmitRttMs, STEP_UP_MS, STEP_DOWN_MS, MAX_MS, MAX_WITH_RTT_MS, CALM_MS } from '../../web-client/js/call/playout.js';

test('freezes raise the playout delay in steps up to the cap', () => {
  let s = { target: 0, calmSince: 0 };
  const targets = [];
  for (let i = 1; i <= 6; i++) {
    s = nextTarget(s, { now: i * 2000, froze: true });
    targets.push(s.target);
  }
  assert.deepEqual(targets, [1, 2, 3, 4, 4, 4].map((n) => Math.min(MAX_MS, n * STEP_UP_MS)));
});

test('the delay is given back only after a calm spell, a step at a time', () => {
  let s = nextTarget({ target: 0, calmSince: 0 }, { now: 0, froze: true });
  s = nextTarget(s, { now: CALM_MS - 1, froze: false });
  assert.equal(s.target, STEP_UP_MS, 'not yet');
  s = nextTarget(s, { now: CALM_MS, froze: false });
  assert.equal(s.target, STEP_UP_MS - STEP_DOWN_MS);
  s = nextTarget(s, { now: CALM_MS + 1000, froze: false });
  assert.equal(s.target, STEP_UP_MS - STEP_DOWN_MS, 'the calm spell starts again');
  s = nextTarget(s, { now: 2 * CALM_MS, froze: false });
  assert.equal(s.target, 0);
  assert.equal(nextTarget(s, { now: 10 * CALM_MS, froze: false }).target, 0, 'never below zero');
});

test('a long round trip allows more delay, within a bound', () => {
  assert.equal(maxFor(null), MAX_MS);
  assert.equal(maxFor(60), MAX_MS);
  assert.equal(maxFor(600), 800);
  assert.equal(maxFor(5000), MAX_WITH_RTT_MS);
  let s = { target: 0, calmSince: 0 };
  const targets = [];
  for (let i = 0; i < 6; i++) {
    s = nextTarget(s, { now: i, froze: true, rttMs: 600 });
    targets.push(s.target);
  }
  assert.deepEqual(targets, [200, 400, 600, 800, 800, 800], 'four steps to the cap');
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
