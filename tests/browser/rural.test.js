// The CI-sized run of the rural benchmark (bench/rural): a real consult
// between two Chromium browsers, the patient behind link-emulator, whose
// link collapses to 250 kbit/s each way for 10 s and then recovers. Lenient
// limits (targets.js, `ci-step-down`), but adaptation that is broken fails:
// the video must move down within 5 s of the drop with no freeze over 6 s
// (of the 10 s low), the audio must stay clear (≤ 10 % concealed), and both
// directions must be back on the top layer within 20 s of the recovery.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { repo } from './helpers.js';
import { benchProfile } from '../../bench/rural/rural.js';

test('a consult adapts to a link that collapses and recovers', async () => {
  const out = join(repo, 'artifacts/bench/rural-ci');
  const r = await benchProfile('ci-step-down', {
    profilesFile: join(repo, 'tests/browser/fixtures/rural-ci.toml'),
    durationS: 40,
    out,
    log: () => {},
  });
  const failed = r.checks.filter((c) => !c.pass);
  assert.ok(r.checks.length >= 8, `expected checks for both directions, got ${r.checks.length}`);
  assert.deepEqual(failed.map((c) => `${c.name}: ${c.shown} (limit ${c.limit})`), [], `see ${out}/ci-step-down.md`);
});
