// `bench rural --repeat N`: one run of a profile is one draw, and on the
// lossy profiles a target can pass in one call and miss in the next. This
// sums up N runs of each profile as a clinic director would ask about them:
// in how many calls each target was met, the middle figure, and every run's.

import { referenceFigures } from './format.js';

/**
 * The median of the runs that measured a figure, unrounded (shown by the
 * target's own format); null when none did or the figure is not a number
 * (a call held or dropped). A run without the figure is counted as a miss
 * in the runs-passed column instead. (`analyze.js` has a rounding median
 * for figures within one run.)
 */
export function medianOfMeasured(values) {
  const sorted = values.filter((v) => typeof v === 'number' && !Number.isNaN(v)).sort((a, b) => a - b);
  if (!sorted.length) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Each target of each profile across its runs, in the order first seen.
 * `results` holds one entry per run: `{ name, run, checks }`, or
 * `{ name, run, error }` for a run that did not complete. A run that did
 * not complete, or lacks a target the others measured (e.g. an event it
 * never saw), counts as a miss for that target.
 */
export function targetsAcrossRuns(results) {
  const byProfile = new Map();
  for (const r of results) {
    if (!byProfile.has(r.name)) byProfile.set(r.name, { runs: [], targets: new Map() });
    const p = byProfile.get(r.name);
    p.runs.push(r);
    for (const c of r.checks ?? []) {
      if (!p.targets.has(c.name)) p.targets.set(c.name, { name: c.name, limit: c.limit, format: c.format });
    }
  }
  const out = [];
  for (const [profile, p] of byProfile) {
    for (const t of p.targets.values()) {
      const perRun = p.runs.map((r) => r.checks?.find((c) => c.name === t.name) ?? null);
      const m = medianOfMeasured(perRun.map((c) => c?.value ?? null));
      out.push({
        profile,
        target: t.name,
        limit: t.limit,
        runs: perRun.length,
        passed: perRun.filter((c) => c?.pass).length,
        median: m === null || !t.format ? null : t.format(m),
        each: perRun.map((c) => c?.shown ?? '—'),
      });
    }
  }
  return { profiles: byProfile, targets: out };
}

export function repeatSummaryMarkdown(results) {
  const { profiles, targets } = targetsAcrossRuns(results);
  const lines = ['| profile | target | runs passed | median | each run, in order | limit |', '|---|---|---|---|---|---|'];
  for (const [name, p] of profiles) {
    for (const r of p.runs.filter((x) => x.error)) {
      lines.push(`| ${name} | run ${r.run} | did not complete: ${r.error.split('\n')[0]} | | | |`);
    }
    const reference = p.runs.filter((x) => !x.error && !x.checks.length);
    if (reference.length) {
      lines.push(`| ${name} | (reference, no target) | | | ${reference.map((x) => referenceFigures(x.analysis)).join('; ')} | |`);
    }
    for (const t of targets.filter((x) => x.profile === name)) {
      const mark = t.passed === t.runs ? '' : '**';
      lines.push(`| ${name} | ${t.target} | ${mark}${t.passed} of ${t.runs}${mark} | ${t.median ?? '—'} | ${t.each.join(', ')} | ${t.limit} |`);
    }
  }
  const always = targets.filter((t) => t.passed === t.runs).length;
  // Runs of a reference profile (no targets) are not counted as calls;
  // runs that did not complete are counted apart, whatever the profile.
  const completed = results.filter((r) => !r.error);
  const judged = completed.filter((r) => r.checks.length);
  const clean = judged.filter((r) => r.checks.every((c) => c.pass)).length;
  const crashed = results.length - completed.length;
  lines.push('', `${always} of ${targets.length} targets passed in every run; ` +
    `${clean} of ${judged.length} completed runs met all their profile's targets` +
    `${crashed ? `; ${crashed} run${crashed > 1 ? 's' : ''} did not complete` : ''}.`);
  return lines.join('\n');
}
