// The targets of issue #5, per profile (patient on the profile, specialist on
// fiber), as checks on an `analyze.js` result. Each check names what it
// measures, the figure, the limit and whether it passed; a missing figure
// (e.g. no frame ever arrived) fails.

const BOTH = ['to-patient', 'to-specialist'];
const DIR = { 'to-patient': 'specialist→patient', 'to-specialist': 'patient→specialist' };

const pct = (v) => (v === null ? '—' : `${(v * 100).toFixed(1)} %`);
const sec = (v) => (v === null ? '—' : `${v.toFixed(2)} s`);
const num = (v, unit = '') => (v === null ? '—' : `${v}${unit}`);

/**
 * `format` shows a figure of this target, so that a summary of several runs
 * can show their median as a run's figure is shown. JSON.stringify drops it;
 * the JSON files keep `shown`.
 */
function check(name, value, format, limit, pass) {
  const known = value !== null && value !== undefined;
  return { name, value, shown: known ? format(value) : '—', format, limit, pass: known && pass };
}

const concealedAtMost = (d, dir, max) =>
  check(`${DIR[dir]} audio concealed`, d.audioConcealed, pct, `≤ ${max * 100} %`, d.audioConcealed <= max);
const fpsAtLeast = (d, dir, min) =>
  check(`${DIR[dir]} video fps (median)`, d.fpsMedian, num, `≥ ${min}`, d.fpsMedian >= min);
const heightAtLeast = (d, dir, min) =>
  check(`${DIR[dir]} video height (median)`, d.heightMedian, (v) => num(v, 'p'), `≥ ${min}p`, d.heightMedian >= min);
const freezeRatioAtMost = (d, dir, max) =>
  check(`${DIR[dir]} time frozen`, d.freezeRatio, pct, `≤ ${max * 100} %`, d.freezeRatio <= max);
const neverDropped = (d, dir) => check(`${DIR[dir]} call never dropped`, !d.dropped, (held) => (held ? 'held' : 'dropped'), 'held', !d.dropped);

/** Checks for `profile` (a name); unknown profiles get none (reference runs). */
export function checksFor(profile, a) {
  const d = a.directions;
  const out = [];
  const each = (f) => BOTH.forEach((dir) => out.push(...[f(d[dir], dir)].flat()));
  switch (profile) {
    case 'rural-4g':
      each((x, dir) => [concealedAtMost(x, dir, 0.01), fpsAtLeast(x, dir, 25), heightAtLeast(x, dir, 360),
        check(`${DIR[dir]} longest freeze`, x.freezeMaxS, sec, '≤ 0.5 s', x.freezeMaxS <= 0.5)]);
      break;
    case 'rural-3g':
      each((x, dir) => [concealedAtMost(x, dir, 0.02), fpsAtLeast(x, dir, 15), heightAtLeast(x, dir, 180),
        freezeRatioAtMost(x, dir, 0.02),
        check(`${DIR[dir]} admit → first frame`, x.firstFrameS, sec, '≤ 3 s', x.firstFrameS <= 3)]);
      break;
    case 'satellite':
      each((x, dir) => [concealedAtMost(x, dir, 0.02), fpsAtLeast(x, dir, 20), heightAtLeast(x, dir, 360),
        freezeRatioAtMost(x, dir, 0.02)]);
      break;
    case 'edge':
      each((x, dir) => {
        // Each settled second: either frames at ≥ 5 fps, or the screen said
        // the video is paused for bandwidth.
        const settled = x.seconds.filter((s) => s.t >= 5);
        const ok = settled.filter((s) => s.fps >= 5 || s.paused).length;
        const share = settled.length ? ok / settled.length : null;
        return [concealedAtMost(x, dir, 0.05),
          check(`${DIR[dir]} video ≥ 5 fps or shown as paused`, share, pct, '≥ 95 % of seconds', share >= 0.95),
          neverDropped(x, dir)];
      });
      break;
    case 'dropout':
      for (const e of a.events.filter((ev) => ev.kind === 'outage')) {
        out.push(check(`${DIR[e.dir]} audio back after the outage`, e.audioBackS, sec, '≤ 1 s', e.audioBackS <= 1));
        out.push(check(`${DIR[e.dir]} video back after the outage`, e.videoBackS, sec, '≤ 2 s', e.videoBackS <= 2));
      }
      each((x, dir) => neverDropped(x, dir));
      break;
    case 'step-down':
      out.push(...stepChecks(a, { adaptS: 2, freezeS: 1, concealed: 0.03, topS: 10 }));
      break;
    case 'ci-step-down':
      // The CI-sized run: lenient, but broken adaptation still fails it.
      // A relay that does not adapt keeps the top layer into a 250 kbit/s
      // link: no adaptation, a freeze for the whole 10 s and no way back.
      out.push(...stepChecks(a, { adaptS: 5, freezeS: 6, concealed: 0.1, topS: 20 }));
      break;
    default:
      break;
  }
  return out;
}

function stepChecks(a, lim) {
  const out = [];
  for (const e of a.events) {
    if (e.kind === 'step-down') {
      out.push(check(`${DIR[e.dir]} video adapts after the drop`, e.adaptedS, sec, `≤ ${lim.adaptS} s`, e.adaptedS <= lim.adaptS));
      out.push(check(`${DIR[e.dir]} longest freeze across the drop`, e.freezeMaxS, sec, `≤ ${lim.freezeS} s`, e.freezeMaxS <= lim.freezeS));
      out.push(check(`${DIR[e.dir]} audio concealed across the drop`, e.audioConcealed, pct, `≤ ${lim.concealed * 100} %`, e.audioConcealed <= lim.concealed));
    } else if (e.kind === 'step-up') {
      out.push(check(`${DIR[e.dir]} back on the top layer`, e.topLayerS, sec, `≤ ${lim.topS} s after recovery`, e.topLayerS <= lim.topS));
    }
  }
  return out;
}
