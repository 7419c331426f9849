// `bench rural`: real consults between two headless Chromium browsers, the
// patient behind `link-emulator` on a named rural profile, the specialist
// direct; per profile a JSON file, a Markdown table and an SVG plot, and with
// several profiles one summary table of the targets, pass or fail.
//
//   node bench/rural/rural.js --profile rural-3g [--duration 60] [--out DIR]
//   node bench/rural/rural.js --all [--repeat N]
//
// Run it through `bench/bench rural …`, which builds the release binaries and
// installs Chromium and playwright-core first.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LINK_EMULATOR_BIN, repo } from '../../tests/browser/helpers.js';
import { runConsult } from './consult.js';
import { analyze } from './analyze.js';
import { checksFor } from './targets.js';
import { pctFine, referenceFigures } from './format.js';
import { repeatSummaryMarkdown } from './repeat.js';
import { plotRun } from './plot.js';

/** The profiles `--all` runs, in order of how hard they are. */
export const ALL = ['fiber', 'rural-4g', 'satellite', 'rural-3g', 'step-down', 'dropout', 'edge'];
const DEFAULT_DURATION_S = 60;

/** A profile resolved by the emulator itself, so both read the same file. */
export function describeProfile(name, profilesFile = null) {
  const args = ['--describe', name, ...(profilesFile ? ['--profiles', profilesFile] : [])];
  const r = spawnSync(LINK_EMULATOR_BIN, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`link-emulator ${args.join(' ')}: ${r.stderr || r.error}`);
  return JSON.parse(r.stdout);
}

/**
 * Long enough to see the last scheduled change play out: 20 s after it, so
 * a recovery slower than its 10 s target is measured rather than shown as
 * never having happened.
 */
export function durationFor(profile, asked) {
  const times = [...(profile.steps ?? []).map((s) => s.at_s), ...(profile.outages ?? []).map((o) => o.at_s + o.for_s)];
  const needed = times.length ? Math.ceil(Math.max(...times) + 20) : 0;
  return Math.max(asked ?? DEFAULT_DURATION_S, asked ? 0 : needed);
}

/** Runs, analyses and checks one profile; writes its files under `out`. */
export async function benchProfile(name, { durationS, profilesFile = null, out, log = console.error }) {
  const profile = describeProfile(name, profilesFile);
  const duration = durationFor(profile, durationS);
  const rec = await runConsult({ profile: name, profilesFile, durationS: duration, log });
  const a = analyze(rec, profile);
  const checks = checksFor(name, a);
  if (out) {
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, `${name}.json`), JSON.stringify({ profile, ...a, checks, raw: { relay: rec.relay, link: rec.link, samples: { patient: rec.pages.patient.samples, specialist: rec.pages.specialist.samples }, sdp: { patient: rec.pages.patient.sdp, specialist: rec.pages.specialist.sdp } } }, null, 1));
    writeFileSync(join(out, `${name}.md`), profileMarkdown(name, profile, a, checks));
    writeFileSync(join(out, `${name}.svg`), plotRun(a));
    writeFileSync(join(out, `${name}-patient.png`), rec.screenshots.patient);
    writeFileSync(join(out, `${name}-specialist.png`), rec.screenshots.specialist);
    writeFileSync(join(out, `${name}-server.log`), rec.serverLog);
  }
  return { name, profile, analysis: a, checks };
}

const f = (v, digits = 1) => (v === null || v === undefined ? '—' : typeof v === 'number' ? v.toFixed(digits) : String(v));

export function profileMarkdown(name, profile, a, checks) {
  const d = a.directions;
  const rows = [
    ['audio concealed', (x) => pctFine(x.audioConcealed)],
    ['video fps shown (median / p10)', (x) => `${f(x.fpsMedian, 0)} / ${f(x.fpsP10, 0)}`],
    ['video height (median)', (x) => (x.heightMedian ? `${x.heightMedian}p` : '—')],
    ['freezes (count / total / longest)', (x) => `${x.freezeCount} / ${f(x.freezeTotalS, 2)} s / ${f(x.freezeMaxS, 2)} s`],
    ['seconds with video paused (told)', (x) => String(x.pausedS)],
    ['jitter audio / video', (x) => `${f(x.audioJitterMs)} / ${f(x.videoJitterMs)} ms`],
    ['round-trip time', (x) => `${f(x.rttMs, 0)} ms`],
    ['playout delay audio / video (receiver jitter buffer)', (x) => `${f(x.playoutMs?.audio, 0)} / ${f(x.playoutMs?.video, 0)} ms`],
    ['bitrate received (median)', (x) => `${f(x.kbpsMedian, 0)} kbit/s`],
    ['relay estimate toward receiver (median)', (x) => `${f(x.estimateKbpsMedian, 0)} kbit/s`],
    ['layer forwarded (seconds per layer)', (x) => Object.entries(x.layers).map(([l, n]) => `${l === '-1' ? 'paused' : `L${l}`}: ${n}`).join(', ')],
    ['higher layer forwarded, lowest height shown (longest run)', (x) => `${x.layerNotShownMaxS} s`],
    ['admit → first remote frame', (x) => `${f(x.firstFrameS, 2)} s`],
  ];
  const lines = [
    `## ${name}`,
    '',
    `Link: ${profile.down_kbps} kbit/s down, ${profile.up_kbps} up, ${profile.delay_ms} ms ± ${profile.jitter_ms} ms one way, ` +
      `${profile.loss_pct} % loss${profile.burst > 1 ? ` in bursts of ${profile.burst}` : ''}` +
      `${profile.outages?.length ? `; outages ${profile.outages.map((o) => `${o.for_s} s at ${o.at_s} s`).join(', ')}` : ''}` +
      `${profile.steps?.length ? `; steps ${profile.steps.map((s) => `at ${s.at_s} s → ${s.down ?? '='}/${s.up ?? '='}`).join(', ')}` : ''}. ` +
      `${a.durationS} s after the admit.`,
    '',
    '| | specialist → patient | patient → specialist |',
    '|---|---|---|',
    ...rows.map(([label, fn]) => `| ${label} | ${fn(d['to-patient'])} | ${fn(d['to-specialist'])} |`),
    '',
  ];
  const evs = a.events;
  if (evs.length) {
    lines.push('| event | direction | figures |', '|---|---|---|');
    for (const e of evs) {
      const figs = Object.entries(e).filter(([k]) => !['kind', 'dir', 'at', 'until'].includes(k))
        .map(([k, v]) => `${k} ${typeof v === 'number' && k.toLowerCase().includes('concealed') ? pctFine(v) : f(v, 2)}`).join(', ');
      lines.push(`| ${e.kind} at ${e.at} s | ${e.dir} | ${figs} |`);
    }
    lines.push('');
  }
  if (checks.length) {
    lines.push('| target | measured | limit | |', '|---|---|---|---|');
    for (const c of checks) lines.push(`| ${c.name} | ${c.shown} | ${c.limit} | ${c.pass ? 'pass' : '**FAIL**'} |`);
    lines.push('');
  }
  for (const [who, rids] of Object.entries(a.sending ?? {})) {
    const parts = Object.entries(rids).map(([rid, x]) => `${rid}: ${x.height ?? '—'}p ${f(x.fps, 0)} fps ${f(x.kbps, 0)} kbit/s` +
      ` (on ${pctFine(x.activeShare)}; limited by ${Object.entries(x.limitedBy).map(([k, v]) => `${k} ${pctFine(v)}`).join(', ') || '—'})`);
    lines.push(`The ${who}'s browser sent ${parts.join('; ')}.`, '');
  }
  const link = a.link;
  if (link) {
    lines.push(`Emulated link: up ${link.up.packets_out}/${link.up.packets_in} packets delivered ` +
      `(${link.up.dropped_loss} lost, ${link.up.dropped_queue} queue drops, ${link.up.dropped_outage} in outages); ` +
      `down ${link.down.packets_out}/${link.down.packets_in} (${link.down.dropped_loss} lost, ${link.down.dropped_queue} queue drops, ` +
      `${link.down.dropped_outage} in outages).`, '');
  }
  return lines.join('\n');
}

export function summaryMarkdown(results) {
  const lines = ['| profile | target | measured | limit | |', '|---|---|---|---|---|'];
  for (const r of results) {
    if (r.error) { lines.push(`| ${r.name} | run | ${r.error.split('\n')[0]} | | **FAIL** |`); continue; }
    if (!r.checks.length) lines.push(`| ${r.name} | (reference, no target) | ${referenceFigures(r.analysis)} | | |`);
    for (const c of r.checks) lines.push(`| ${r.name} | ${c.name} | ${c.shown} | ${c.limit} | ${c.pass ? 'pass' : '**FAIL**'} |`);
  }
  const checks = results.flatMap((r) => r.checks ?? []);
  const failed = checks.filter((c) => !c.pass).length;
  const crashed = results.filter((r) => r.error).length;
  lines.push('', `${checks.length - failed} of ${checks.length} targets pass${failed ? `; ${failed} fail` : ''}`
    + `${crashed ? `; ${crashed} profile run${crashed > 1 ? 's' : ''} did not complete` : ''}.`);
  return lines.join('\n');
}

/** Where run `run` of `repeat` writes its files: repeated runs each under run-1/, run-2/, … */
export function runDir(out, run, repeat) {
  return repeat > 1 ? join(out, `run-${run}`) : out;
}

export function parseArgs(argv) {
  const opts = { profiles: [], durationS: null, repeat: 1, out: join(repo, 'artifacts/bench/rural'), profilesFile: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--all') opts.profiles.push(...ALL);
    else if (a === '--profile') opts.profiles.push(value());
    else if (a === '--duration') opts.durationS = Number(value());
    else if (a === '--repeat') opts.repeat = Number(value());
    else if (a === '--out') opts.out = value();
    else if (a === '--profiles') opts.profilesFile = value();
    else throw new Error(`unknown argument ${a}; usage: bench rural (--profile NAME … | --all) [--repeat N] [--duration S] [--out DIR]`);
  }
  if (!opts.profiles.length) throw new Error('usage: bench rural (--profile NAME … | --all) [--repeat N] [--duration S] [--out DIR]');
  if (opts.durationS !== null && !(opts.durationS >= 5)) throw new Error('--duration needs at least 5 seconds');
  if (!Number.isInteger(opts.repeat) || opts.repeat < 1) throw new Error('--repeat needs a whole number of runs, at least 1');
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const results = [];
  // Run by run, each through every profile: a spell of load on the machine
  // then falls on one draw of several profiles, not on every draw of one.
  for (let run = 1; run <= opts.repeat; run++) {
    const out = runDir(opts.out, run, opts.repeat);
    for (const name of opts.profiles) {
      const label = opts.repeat > 1 ? `${name}, run ${run} of ${opts.repeat}` : name;
      try {
        const r = await benchProfile(name, { ...opts, out });
        results.push({ ...r, run });
        if (opts.repeat > 1) console.log(`(${label})`);
        console.log(profileMarkdown(name, r.profile, r.analysis, r.checks));
      } catch (err) {
        console.error(`${label}: ${err.stack || err}`);
        results.push({ name, run, error: String(err.message || err) });
      }
    }
  }
  mkdirSync(opts.out, { recursive: true });
  const summary = opts.repeat > 1 ? repeatSummaryMarkdown(results) : summaryMarkdown(results);
  const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ');
  writeFileSync(join(opts.out, 'summary.md'), `Run ${stamp} UTC: bench/bench rural ${process.argv.slice(2).join(' ')}\n\n${summary}\n`);
  console.log(`\n${summary}\n\nFiles: ${opts.out}`);
  const failed = results.some((r) => r.error || r.checks.some((c) => !c.pass));
  process.exitCode = failed ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err.stack || String(err));
    process.exit(2);
  });
}
