// The uplink nudge rule (web-client/js/call/uplink.js), alone: the full
// layer's cap moves only while that layer is on, not sent, and the uplink
// estimate shows room over what goes out; never more often than the period.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shouldNudge, nextCap, NUDGE_EVERY_MS, NUDGE_BPS, RETURN_AFTER_MS, ROOM_FACTOR } from '../../web-client/js/call/uplink.js';

const recovered = { topOn: true, topSending: false, availableBps: 600_000, sentBps: 250_000, now: 100_000, lastNudgeAt: 0 };

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

test('a nudge moves the cap a kilobit down, and back up a second later', () => {
  const base = 1_000_000;
  const at = { base, now: 10_000, lastNudgeAt: 0 };
  assert.equal(nextCap({ ...at, current: base, go: true }), base - NUDGE_BPS);
  assert.equal(nextCap({ ...at, current: base, go: false }), base, 'no nudge due');
  // Back up (the rise Chrome probes on) RETURN_AFTER_MS after going down,
  // not at the next nudge.
  const down = { base, current: base - NUDGE_BPS, go: false, lastNudgeAt: 10_000 };
  assert.equal(nextCap({ ...down, now: 10_000 + RETURN_AFTER_MS - 1 }), base - NUDGE_BPS);
  assert.equal(nextCap({ ...down, now: 10_000 + RETURN_AFTER_MS }), base);
  assert.ok(RETURN_AFTER_MS < NUDGE_EVERY_MS);
  // A cap the relay changed meanwhile comes back to the new base at once.
  assert.equal(nextCap({ ...at, current: 800_000, go: false, lastNudgeAt: 10_000 }), base);
  assert.equal(nextCap({ ...at, current: undefined, go: true }), undefined, 'no cap set: nothing to move');
});
