// What the waiting room reports of the patient's network check
// (web-client/js/patient/network.js): a round trip in the `network` message
// only when the server takes it, nothing rather than a wrong figure; and
// the verdict the patient is shown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reportable, rttReporter, verdict } from '../../web-client/js/patient/network.js';

test("a check's round trip is reported as measured", () => {
  for (const rtt of [640, 0, 10000]) assert.equal(reportable(rtt), true, String(rtt));
});

test('no figure rather than a wrong one', () => {
  for (const rtt of [undefined, null, 12.5, -1, 10001, '640', NaN]) assert.equal(reportable(rtt), false, String(rtt));
});

test('the verdict the patient sees', () => {
  assert.equal(verdict({ connectMs: 300, rttMs: 40, tcp: false }), 'good');
  assert.equal(verdict({ connectMs: 900, rttMs: 640, tcp: false }), 'fair');
  assert.equal(verdict({ connectMs: 300, rttMs: 40, tcp: true }), 'fair');
  assert.equal(verdict({ connectMs: 7000, rttMs: 40, tcp: false }), 'poor');
  assert.equal(verdict({ connectMs: 300, rttMs: null, tcp: false }), 'poor');
});

test('each round trip goes out once, and again after a socket refused it', () => {
  const sent = [];
  let open = true;
  const report = rttReporter({ send: (msg) => { if (!open) return false; sent.push(msg); return true; } });
  report(640);
  report(640);
  report(null);
  open = false;
  report(700);
  open = true;
  report(700);
  report(700);
  assert.deepEqual(sent, [{ type: 'network', rtt_ms: 640 }, { type: 'network', rtt_ms: 700 }]);
});
