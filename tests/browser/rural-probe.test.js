// The rural benchmark's in-page probe (bench/rural/page-probe.js), alone,
// on a stand-in page: each video frame callback records how many frames the
// browser presented since the one before (decision 0021), including when a
// media restart gives the same video element a new stream and the browser's
// count starts again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installProbe } from '../../bench/rural/page-probe.js';

/** Runs `installProbe` on a page with one remote video; returns the page's frame callback and the probe. */
function standInPage() {
  const timers = [];
  let onFrame = null;
  const video = {
    requestVideoFrameCallback: (cb) => { onFrame = cb; },
    closest: () => ({ dataset: { participant: 'doc' } }),
  };
  const globals = { window: globalThis.window, document: globalThis.document, setInterval: globalThis.setInterval };
  try {
    globalThis.window = {};
    globalThis.document = {
      querySelectorAll: (selector) => (selector.endsWith('video') ? [video] : []),
      querySelector: () => null,
    };
    globalThis.setInterval = (fn) => timers.push(fn);
    installProbe(200);
    // One turn of each timer: the stats sample, and the watch that finds
    // the video and asks for its frames.
    timers.forEach((fn) => fn());
    return { frame: (presentedFrames) => onFrame(0, { presentedFrames, width: 640, height: 480 }), probe: globalThis.window.__benchProbe };
  } finally {
    Object.assign(globalThis, globals);
  }
}

test('each frame callback records the frames presented since the one before', () => {
  const { frame, probe } = standInPage();
  // Two frames before the first callback, one each, then two in one
  // callback; then a media restart (the count starts again), and two in one
  // callback again, below the count before the restart.
  for (const n of [2, 3, 4, 6, 1, 3]) frame(n);
  assert.deepEqual(probe.frames.doc.map((f) => f[3]), [2, 1, 1, 2, 1, 2]);
  assert.deepEqual(probe.frames.doc.map((f) => f[2]), [480, 480, 480, 480, 480, 480]);
});
