// The uplink nudge rule (web-client/js/call/uplink.js), alone: the full
// layer's cap moves only while that layer is on, not sent, and the uplink
// estimate shows room over what goes out; never more often than the period.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shouldNudge, nudged, NUDGE_EVERY_MS, NUDGE_BPS, ROOM_FACTOR } from '../../web-client/js/call/uplink.js';

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

test('the cap alternates between its value and a kilobit under it', () => {
  assert.equal(nudged(1_000_000, 1_000_000), 1_000_000 - NUDGE_BPS);
  assert.equal(nudged(1_000_000 - NUDGE_BPS, 1_000_000), 1_000_000);
  // A cap the relay changed meanwhile comes back to the new base.
  assert.equal(nudged(800_000, 1_000_000), 1_000_000);
});
