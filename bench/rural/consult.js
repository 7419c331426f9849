// One real consult for the rural benchmark: the `cerca` binary, the patient's
// media through `link-emulator` playing a named profile, the specialist
// direct, each in its own headless Chromium (fake camera at 30 fps, fake
// microphone). Returns what was recorded; `analyze.js` turns it into figures.
//
// Timeline: the emulator applies the profile's starting link at once (so the
// device check and the start of the call already cross it) and starts the
// profile's schedule (outages, steps) at the admit, which is t = 0.

import {
  startServer, seed, apiAs, scheduleConsult, launch, newContext, phoneContext, login,
  specialistEntersCall, patientWaits, freeUdpPort, startLinkEmulator, until, SPECIALIST,
} from '../../tests/browser/helpers.js';
import { installProbe } from './page-probe.js';

/** How often pages and the relay are sampled. */
export const SAMPLE_MS = 200;

const PATIENT = { given_names: 'Rosa', family_names: 'Méndez Gómez', date_of_birth: '1961-07-19', sex: 'F' };

/**
 * profile: a name from the emulator's profiles; profilesFile: another
 * profiles file (the CI-sized run); durationS: seconds after the admit;
 * log(line): progress.
 */
export async function runConsult({ profile, profilesFile = null, durationS, log = () => {} }) {
  const cleanup = [];
  try {
    const relayPort = await freeUdpPort();
    const emulatorArgs = ['--profile', profile, ...(profilesFile ? ['--profiles', profilesFile] : [])];
    const link = await startLinkEmulator(`127.0.0.1:${relayPort}`, emulatorArgs);
    cleanup.push(() => link.stop());
    // No ICE-TCP: the emulator passes UDP only, and the relay's TCP
    // candidate is its own port. With it, the patient's browser connected
    // over TCP first (past the emulated link, at loopback speed) and moved
    // to the emulated UDP path a second or two into the call, a switch that
    // cost about a second of audio and video (issue #5's start-of-call
    // stall). The TCP fallback has its own browser test (ice-tcp.test.js).
    const server = await startServer({ media_addr: `127.0.0.1:${relayPort}`, media_patient_via: link.addr, media_tcp: false });
    cleanup.push(() => server.stop());
    await seed(server.baseURL);
    const api = await apiAs(server.baseURL, SPECIALIST);
    cleanup.push(() => api.dispose());
    const { consultId, joinUrl } = await scheduleConsult(api, PATIENT, 'Seguimiento de diabetes');

    // Two browsers, as two computers would be: neither's encoder or
    // network stack shares anything with the other's.
    const [docBrowser, patBrowser] = await Promise.all([launch({ fakeDevice: 'fps=30' }), launch({ fakeDevice: 'fps=30' })]);
    cleanup.push(() => docBrowser.close(), () => patBrowser.close());
    const docCtx = await newContext(docBrowser, server.baseURL, { viewport: { width: 1366, height: 900 } });
    const patCtx = await phoneContext(patBrowser);
    for (const ctx of [docCtx, patCtx]) await ctx.addInitScript(installProbe, SAMPLE_MS);
    const doc = await docCtx.newPage();
    const pat = await patCtx.newPage();
    await login(doc, SPECIALIST);

    log(`${profile}: patient at the door`);
    await specialistEntersCall(doc, consultId, `${PATIENT.given_names} ${PATIENT.family_names}`);
    await patientWaits(pat, joinUrl);
    await doc.locator('.room-patient').getByRole('button', { name: 'Admitir' }).click();
    const admittedAt = Date.now();
    await link.set('play');
    log(`${profile}: admitted; recording ${durationS} s`);

    // Who is who in the relay: each page's remote tile names the other.
    const tileId = (page) => until(() => page.locator('.tile[data-participant]').first().getAttribute('data-participant'),
      { timeout: 30000, interval: 100, what: 'the remote tile' });
    const [patientId, specialistId] = await Promise.all([tileId(doc), tileId(pat)]);

    const relay = [];
    const endAt = admittedAt + durationS * 1000;
    let nextSample = Date.now();
    while (Date.now() < endAt) {
      try {
        const res = await fetch(`${server.baseURL}/metrics`);
        relay.push({ t: Date.now(), ...parseMetrics(await res.text()) });
      } catch (err) {
        relay.push({ t: Date.now(), error: String(err) });
      }
      nextSample += SAMPLE_MS;
      await new Promise((r) => setTimeout(r, Math.max(0, nextSample - Date.now())));
    }

    const collect = (page) => page.evaluate(() => ({
      ...window.__benchProbe,
      sdp: { local: window.__cercaPeer?.localDescription?.sdp ?? null, remote: window.__cercaPeer?.remoteDescription?.sdp ?? null },
    }));
    const [patient, specialist] = await Promise.all([collect(pat), collect(doc)]);
    const linkStats = await link.set('stats');
    const screenshots = { patient: await pat.screenshot(), specialist: await doc.screenshot() };
    return {
      profile, durationS, admittedAt, consultId,
      ids: { patient: patientId, specialist: specialistId },
      pages: { patient, specialist }, relay, link: linkStats, screenshots,
      // For digging into the relay afterwards (e.g. RUST_LOG=media_relay=debug).
      serverLog: server.log(),
    };
  } finally {
    for (const step of cleanup.reverse()) await Promise.resolve().then(step).catch(() => {});
  }
}

/**
 * The per-participant gauges of `/metrics`: { participants: { id: {
 * estimate, bitrateIn, bitrateOut, lossIn, lossOut, rtt, nacks, plis, skipped,
 * layers: { origin: layer } } } } (layer -1 = paused).
 */
export function parseMetrics(text) {
  const names = {
    cerca_participant_estimate_bps: 'estimate',
    cerca_participant_bitrate_in_bps: 'bitrateIn',
    cerca_participant_bitrate_out_bps: 'bitrateOut',
    cerca_participant_loss_in_ratio: 'lossIn',
    cerca_participant_loss_out_ratio: 'lossOut',
    cerca_participant_rtt_seconds: 'rtt',
    cerca_participant_nacks_total: 'nacks',
    cerca_participant_keyframe_requests_total: 'plis',
    cerca_participant_video_frames_skipped_total: 'skipped',
  };
  const participants = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    const value = Number(m[3]);
    const p = labels.participant && (participants[labels.participant] ??= { layers: {} });
    if (!p) continue;
    if (m[1] === 'cerca_participant_video_layer') p.layers[labels.origin] = value;
    else if (names[m[1]]) p[names[m[1]]] = value;
  }
  return { participants };
}
