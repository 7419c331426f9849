// The rural benchmark's reading of the server's `/metrics`
// (bench/rural/consult.js `parseMetrics`), alone, on a made-up exposition:
// per-participant gauges by name and label, and the relay's counters of
// datagrams sent and of RTCP second copies (decision 0035).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMetrics } from '../../bench/rural/consult.js';

const TEXT = `# TYPE cerca_relay_datagrams_sent_total counter
cerca_relay_datagrams_sent_total 1200
# TYPE cerca_relay_rtcp_echoes_sent_total counter
cerca_relay_rtcp_echoes_sent_total 35
cerca_participant_estimate_bps{consult="42",participant="p1"} 800000
cerca_participant_loss_out_ratio{consult="42",participant="p1"} 0.01
cerca_participant_video_layer{consult="42",participant="p1",origin="p2"} 1
cerca_participant_video_layer{consult="42",participant="p2",origin="p1"} -1
`;

test('participants and the relay counters are read from the exposition', () => {
  const m = parseMetrics(TEXT);
  assert.deepEqual(m.counters, { datagramsSent: 1200, rtcpEchoesSent: 35 });
  assert.deepEqual(m.participants.p1, { layers: { p2: 1 }, estimate: 800000, lossOut: 0.01 });
  assert.deepEqual(m.participants.p2, { layers: { p1: -1 } });
});
