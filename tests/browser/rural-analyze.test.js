// The rural benchmark's arithmetic (bench/rural/analyze.js), alone, on a
// made-up record: frames per second count every frame the browser
// presented, including those whose callback the page's rendering steps
// merged into the next one (decision 0021), and the video element's own
// playback counters are read across a restart of their count.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, SETTLE_S } from '../../bench/rural/analyze.js';

const DURATION_S = 12;

/**
 * A record in which each page was shown 30 frames a second of the other's
 * video, every third second's callbacks merging pairs of frames (`merged`
 * callbacks that stand for two frames each).
 */
function record({ merged, withCounts = true }) {
  const frames = [];
  for (let s = 0; s < DURATION_S; s++) {
    const pairs = s % 3 === 0 ? merged : 0;
    const callbacks = 30 - pairs;
    for (let i = 0; i < callbacks; i++) {
      const t = 1000 * s + Math.round((1000 * i) / callbacks);
      frames.push(withCounts ? [t, 640, 480, i < pairs ? 2 : 1] : [t, 640, 480]);
    }
  }
  const page = (other) => ({
    frames: { [other]: frames },
    samples: Array.from({ length: DURATION_S * 5 }, (_, k) => {
      // A media restart at 6 s gives the element a new stream: its
      // counters start again from zero.
      const t = k * 200;
      const since = t < 6000 ? t : t - 6000;
      return { t, pc: 0, screen: { paused: [], playback: { [other]: [Math.round(since * 0.03), Math.round(since * 0.001)] } } };
    }),
  });
  return {
    profile: 'made-up', durationS: DURATION_S, admittedAt: 0, link: null, relay: [],
    ids: { patient: 'pat', specialist: 'doc' },
    pages: { patient: page('doc'), specialist: page('pat') },
  };
}

test('frames per second count the frames presented, not the callbacks', () => {
  const a = analyze(record({ merged: 6 }), {});
  for (const dir of ['to-patient', 'to-specialist']) {
    const d = a.directions[dir];
    assert.ok(d.seconds.filter((s) => s.t >= SETTLE_S).every((s) => s.fps === 30), JSON.stringify(d.seconds.map((s) => s.fps)));
    assert.equal(d.fpsMedian, 30);
    assert.equal(d.fpsP10, 30, 'the seconds with merged callbacks are not counted short');
    assert.equal(d.fpsCallbacksMedian, 30, 'two seconds in three have a callback per frame');
    assert.equal(Math.min(...d.seconds.map((s) => s.callbacks)), 24);
    assert.equal(d.freezeCount, 0);
  }
});

test('a record without presented counts falls back to one frame per callback', () => {
  const d = analyze(record({ merged: 6, withCounts: false }), {}).directions['to-patient'];
  assert.equal(Math.min(...d.seconds.map((s) => s.fps)), 24);
});

test("the video element's counters are read per second across a restart of their count", () => {
  const d = analyze(record({ merged: 0 }), {}).directions['to-patient'];
  // 30 frames and about 1 dropped a second, less the step lost at the
  // restart; reading the counters' first and last values alone would give
  // 3.5 frames a second.
  assert.ok(d.elementGivenPerS > 25 && d.elementGivenPerS <= 30, String(d.elementGivenPerS));
  assert.ok(d.elementDroppedPerS > 0.5 && d.elementDroppedPerS <= 1.1, String(d.elementDroppedPerS));
});
