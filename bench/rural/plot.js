// Plots of one rural run as a single SVG file a person can open in a
// browser: per direction of media, received bitrate against the relay's
// estimate, the simulcast layer the relay forwarded, and frames per second
// shown, over the call, with the profile's events (outage, steps) marked.
// Plain SVG text, no dependencies.

const W = 520;
const H = 170;
const PAD = { l: 52, r: 12, t: 26, b: 28 };
const COLORS = { bitrate: '#1f6feb', estimate: '#d4760a', layer: '#2a8a4a', fps: '#8a2be2' };

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
}

/** One chart at (x, y): series of [t, value] points (null values break the line). */
function chart({ x, y, title, series, xMax, yMax, yTicks, yFormat = (v) => v, markers = [], step = false }) {
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const sx = (t) => x + PAD.l + (t / xMax) * iw;
  const sy = (v) => y + PAD.t + ih - (Math.max(0, Math.min(v, yMax)) / yMax) * ih;
  const out = [`<text x="${x + PAD.l}" y="${y + 16}" font-size="13" font-weight="bold">${esc(title)}</text>`];
  for (const v of yTicks) {
    out.push(`<line x1="${x + PAD.l}" x2="${x + PAD.l + iw}" y1="${sy(v)}" y2="${sy(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${x + PAD.l - 6}" y="${sy(v) + 4}" font-size="10" text-anchor="end">${esc(yFormat(v))}</text>`);
  }
  for (let t = 0; t <= xMax; t += 10) {
    out.push(`<text x="${sx(t)}" y="${y + H - 10}" font-size="10" text-anchor="middle">${t}s</text>`);
  }
  for (const m of markers) {
    out.push(`<line x1="${sx(m.t)}" x2="${sx(m.t)}" y1="${y + PAD.t}" y2="${y + PAD.t + ih}" stroke="#c00" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${sx(m.t) + 3}" y="${y + PAD.t + 10}" font-size="9" fill="#c00">${esc(m.label)}</text>`);
  }
  out.push(`<rect x="${x + PAD.l}" y="${y + PAD.t}" width="${iw}" height="${ih}" fill="none" stroke="#999"/>`);
  let lx = x + PAD.l + iw;
  for (const s of [...series].reverse()) {
    const segs = [];
    let cur = [];
    let prev = null;
    for (const [t, v] of s.points) {
      if (v === null || v === undefined || !Number.isFinite(v)) { if (cur.length) segs.push(cur); cur = []; prev = null; continue; }
      if (step && prev !== null) cur.push(`${sx(t).toFixed(1)},${sy(prev).toFixed(1)}`);
      cur.push(`${sx(t).toFixed(1)},${sy(v).toFixed(1)}`);
      prev = v;
    }
    if (cur.length) segs.push(cur);
    for (const seg of segs) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.8" points="${seg.join(' ')}"/>`);
    }
    lx -= 8 + s.name.length * 6.2;
    out.push(`<rect x="${lx}" y="${y + 8}" width="10" height="10" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 13}" y="${y + 17}" font-size="11">${esc(s.name)}</text>`);
  }
  return out.join('\n');
}

function niceMax(v) {
  const steps = [1, 2, 2.5, 5, 10];
  const p = 10 ** Math.floor(Math.log10(Math.max(v, 1)));
  return p * steps.find((s) => s * p >= v);
}

/** The SVG of one analysed run. */
export function plotRun(a) {
  const dirs = [['to-patient', 'specialist → patient'], ['to-specialist', 'patient → specialist']];
  const xMax = Math.ceil(a.durationS / 10) * 10;
  const markers = [];
  for (const e of a.events.filter((ev) => ev.dir === 'to-patient')) {
    if (e.kind === 'outage') markers.push({ t: e.at, label: 'outage' }, { t: e.until, label: 'back' });
    else markers.push({ t: e.at, label: e.kind });
  }
  const parts = [];
  dirs.forEach(([key, label], col) => {
    const d = a.directions[key];
    const x = col * W;
    const secs = d.seconds;
    const kMax = niceMax(Math.max(100, ...secs.map((s) => Math.max(s.kbps ?? 0, s.estimateKbps ?? 0))));
    parts.push(chart({
      x, y: 20, title: `${label}: kbit/s received, relay estimate`, xMax, yMax: kMax,
      yTicks: [0, kMax / 4, kMax / 2, (3 * kMax) / 4, kMax], yFormat: (v) => Math.round(v),
      markers, series: [
        { name: 'received', color: COLORS.bitrate, points: secs.map((s) => [s.t + 0.5, s.kbps]) },
        { name: 'estimate', color: COLORS.estimate, points: secs.map((s) => [s.t + 0.5, s.estimateKbps]) },
      ],
    }));
    parts.push(chart({
      x, y: 20 + H, title: `${label}: layer forwarded (−1 = paused)`, xMax, yMax: 3, step: true,
      yTicks: [0, 1, 2, 3], yFormat: (v) => ['−1', '0', '1', '2'][v] ?? '',
      markers, series: [{ name: 'layer', color: COLORS.layer, points: d.fine.relay.map((r) => [r.t, r.layer === null ? null : r.layer + 1]) }],
    }));
    parts.push(chart({
      x, y: 20 + 2 * H, title: `${label}: frames per second shown`, xMax, yMax: 35,
      yTicks: [0, 5, 15, 25, 35], markers,
      series: [{ name: 'fps', color: COLORS.fps, points: secs.map((s) => [s.t + 0.5, s.fps]) }],
    }));
  });
  const height = 20 + 3 * H + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="8" y="14" font-size="13">Cerca rural benchmark — profile ${esc(a.profile)}, ${a.durationS} s after the admit</text>
${parts.join('\n')}
</svg>
`;
}
