// `bench rural --repeat N` (bench/rural/repeat.js), alone, on made-up runs:
// each target's count of runs passed, its median shown as the target shows
// a figure, every run's figure in order, and a run that did not complete,
// or lacks a target the others measured, counted as a miss rather than
// left out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { medianOfMeasured, repeatSummaryMarkdown, targetsAcrossRuns } from '../../bench/rural/repeat.js';
import { checksFor } from '../../bench/rural/targets.js';
import { parseArgs, runDir } from '../../bench/rural/rural.js';

/** An analysis in which both directions look alike but for the patient's time frozen. */
function analysis(frozenToSpecialist) {
  const dir = (freezeRatio) => ({ audioConcealed: 0.001, fpsMedian: 29, heightMedian: 480, freezeRatio });
  return { directions: { 'to-patient': dir(0), 'to-specialist': dir(frozenToSpecialist) }, events: [] };
}

function satelliteRun(run, frozen) {
  const a = analysis(frozen);
  return { name: 'satellite', run, analysis: a, checks: checksFor('satellite', a) };
}

const FROZEN = 'patient→specialist time frozen';

test('each target counts the runs that passed it, with the median and every run in order', () => {
  const results = [satelliteRun(1, 0.004), satelliteRun(2, 0.03), satelliteRun(3, 0.01)];
  const { targets } = targetsAcrossRuns(results);
  assert.equal(targets.length, 8);
  const frozen = targets.find((t) => t.target === FROZEN);
  assert.deepEqual(frozen, { profile: 'satellite', target: FROZEN, limit: '≤ 2 %', runs: 3, passed: 2, median: '1.0 %', each: ['0.4 %', '3.0 %', '1.0 %'] });
  const fps = targets.find((t) => t.target === 'patient→specialist video fps (median)');
  assert.equal(fps.passed, 3);
  assert.equal(fps.median, '29');

  const md = repeatSummaryMarkdown(results);
  assert.match(md, /\| satellite \| patient→specialist time frozen \| \*\*2 of 3\*\* \| 1\.0 % \| 0\.4 %, 3\.0 %, 1\.0 % \| ≤ 2 % \|/);
  assert.match(md, /7 of 8 targets passed in every run; 2 of 3 completed runs met all their profile's targets\./);
});

test('the median of an even count of runs is shown as the target shows a figure', () => {
  const results = [satelliteRun(1, 0.004), satelliteRun(2, 0.03), satelliteRun(3, 0.01), satelliteRun(4, 0)];
  const frozen = targetsAcrossRuns(results).targets.find((t) => t.target === FROZEN);
  assert.equal(frozen.median, '0.7 %');
  assert.equal(frozen.passed, 3);
});

test('a completed run without a target the others measured is a miss for it', () => {
  const withEvent = { name: 'step-down', run: 1, checks: [{ name: 'back on the top layer', value: 4, shown: '4.00 s', limit: '≤ 10 s', pass: true, format: (v) => `${v.toFixed(2)} s` }] };
  const without = { name: 'step-down', run: 2, checks: [] };
  const [t] = targetsAcrossRuns([withEvent, without]).targets;
  assert.deepEqual([t.passed, t.runs, t.median, t.each], [1, 2, '4.00 s', ['4.00 s', '—']]);
});

test('a run that did not complete is a miss for every target of its profile', () => {
  const results = [satelliteRun(1, 0), { name: 'satellite', run: 2, error: 'chromium crashed\nstack' }];
  const { targets } = targetsAcrossRuns(results);
  assert.ok(targets.every((t) => t.runs === 2 && t.passed === 1 && t.each[1] === '—'));
  // The median is of the run that measured it.
  assert.equal(targets.find((t) => t.target === FROZEN).median, '0.0 %');
  const md = repeatSummaryMarkdown(results);
  assert.match(md, /\| satellite \| run 2 \| did not complete: chromium crashed \|/);
  assert.match(md, /0 of 8 targets passed in every run; 1 of 1 completed runs met all their profile's targets; 1 run did not complete\./);
});

test('a reference profile is listed by its figures and not counted as a call', () => {
  const fiber = { name: 'fiber', run: 1, analysis: analysis(0), checks: [] };
  const md = repeatSummaryMarkdown([fiber, satelliteRun(1, 0)]);
  assert.match(md, /\| fiber \| \(reference, no target\) \| \| \| fps 29\/29, 480p\/480p, concealed 0\.10 %\/0\.10 % \| \|/);
  assert.match(md, /8 of 8 targets passed in every run; 1 of 1 completed runs met/);
});

test('a reference run that did not complete is not counted as a call', () => {
  const md = repeatSummaryMarkdown([{ name: 'fiber', run: 1, error: 'no browser' }, satelliteRun(1, 0)]);
  assert.match(md, /8 of 8 targets passed in every run; 1 of 1 completed runs met all their profile's targets; 1 run did not complete\./);
});

test('the median of an even count is the mean of the middle two, of the runs that measured it', () => {
  assert.equal(medianOfMeasured([3, 1, 4, 2]), 2.5);
  assert.equal(medianOfMeasured([5, 1, 3]), 3);
  assert.equal(medianOfMeasured([1, null, 3]), 2);
  assert.equal(medianOfMeasured([true, true]), null);
  assert.equal(medianOfMeasured([]), null);
});

test('repeated runs each write under run-N/, a single run where it is told', () => {
  assert.equal(runDir('/out', 2, 3), '/out/run-2');
  assert.equal(runDir('/out', 1, 1), '/out');
});

test('--repeat takes a whole number of runs, at least one', () => {
  assert.equal(parseArgs(['--profile', 'satellite', '--repeat', '6']).repeat, 6);
  assert.equal(parseArgs(['--all']).repeat, 1);
  for (const bad of ['0', '2.5', 'many']) {
    assert.throws(() => parseArgs(['--all', '--repeat', bad]), /--repeat needs a whole number/);
  }
});
