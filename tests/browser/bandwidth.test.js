// A patient on a link too slow for video: the patient's browser reaches the
// relay through `link-emulator` (the relay announces it to patients only),
// the specialist connects directly. When the patient's downlink drops to
// 100 kbit/s, the relay pauses the specialist's video toward the patient and
// says so; the patient's screen shows "video paused to keep the audio clear"
// instead of a frozen frame while audio keeps arriving; the specialist's
// browser is told to stop the simulcast layers nobody takes. When the link
// recovers (to 1.2 Mbit/s), video comes back by itself, and the notice lifts
// as a new frame is shown, not before; the specialist's 480p, which would
// not fit at its own 1 Mbit/s, comes back capped under the patient's share.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  shot, until, inbound, mediaFlows, callWorld, specialistEntersCall, patientWaits, freeUdpPort, startLinkEmulator,
} from './helpers.js';

/** The active flag and cap of each of the page's outgoing video encodings, by RID. */
function encodings(page) {
  return page.evaluate(() => {
    const sender = window.__cercaPeer?.getSenders().find((s) => s.track?.kind === 'video');
    return Object.fromEntries((sender?.getParameters().encodings ?? [])
      .map((e) => [e.rid, { active: e.active, maxBitrate: e.maxBitrate }]));
  });
}

describe('a patient on a very slow link', () => {
  let link;
  let world;

  before(async () => {
    const port = await freeUdpPort();
    link = await startLinkEmulator(`127.0.0.1:${port}`);
    world = await callWorld({
      config: { media_addr: `127.0.0.1:${port}`, media_patient_via: link.addr },
      patient: { given_names: 'Tomás', family_names: 'Hernández Ruiz', date_of_birth: '1949-02-11', sex: 'M' },
      reason: 'Control de hipertensión',
    });
  });

  after(async () => {
    await world?.stop();
    link?.stop();
  });

  test('video pauses with a plain message, audio goes on, video comes back', async () => {
    const { consultId, joinUrl } = world;
    const { doc, pat } = await world.pages();
    await specialistEntersCall(doc, consultId, 'Tomás Hernández Ruiz');
    await patientWaits(pat, joinUrl);
    await doc.locator('.room-patient').getByRole('button', { name: 'Admitir' }).click();
    await pat.getByRole('region', { name: 'Videollamada' }).waitFor();
    await mediaFlows(pat, 'patient');
    await mediaFlows(doc, 'specialist');

    // The specialist's browser sends simulcast: two encodings, the lower
    // always on (the upper one only while the patient's link takes it).
    const sent = await encodings(doc);
    assert.deepEqual(Object.keys(sent).sort(), ['f', 'h']);
    assert.equal(sent.h.active, true);

    // Note when the patient's page last showed a frame of the specialist.
    // Installed before any pause, so this callback runs before the one the
    // call screen registers on a resume (they run in the order asked for).
    const tile = pat.locator('.tile[data-participant]', { hasText: 'Dra. Ana López' });
    await tile.evaluate((el) => {
      const video = el.querySelector('video');
      const shown = () => { window.__lastFrameAt = performance.now(); video.requestVideoFrameCallback(shown); };
      video.requestVideoFrameCallback(shown);
    });

    // The patient's downlink collapses to 100 kbit/s: room for audio only.
    await link.set('down 100');
    await tile.getByText('Video en pausa para que el audio se escuche bien.').waitFor({ timeout: 30000 });
    assert.equal(await tile.getAttribute('data-paused'), 'true');
    // The words cover the whole tile: no frozen frame shows around them.
    // Both boxes are read in one go: a banner above the tiles may appear in
    // between two separate reads and move the tile.
    const { tileBox, coverBox } = await tile.evaluate((el) => {
      const box = (e) => { const r = e.getBoundingClientRect(); return { x: r.x, y: r.y, width: r.width, height: r.height }; };
      return { tileBox: box(el), coverBox: box(el.querySelector('.tile-novideo')) };
    });
    assert.deepEqual(coverBox, tileBox);
    const before = await inbound(pat);
    await until(async () => (await inbound(pat)).audioPackets > before.audioPackets + 100,
      { timeout: 20000, interval: 250, what: 'audio while video is paused' });
    // Nobody takes the specialist's upper layers now: the browser stops them.
    await until(async () => {
      const e = await encodings(doc);
      return e.h.active === true && e.f.active === false;
    }, { timeout: 20000, interval: 250, what: 'the specialist stops unused layers' });
    await shot(pat, 'bandwidth-01-patient-video-paused');

    // From now on, note how long after the last frame shown the notice lifts.
    await tile.evaluate((el) => {
      new MutationObserver(() => {
        if (el.dataset.paused === 'false' && window.__frameAgeWhenLifted === undefined) {
          window.__frameAgeWhenLifted = performance.now() - (window.__lastFrameAt ?? -Infinity);
        }
      }).observe(el, { attributes: true, attributeFilter: ['data-paused'] });
    });

    // The link recovers to 1.2 Mbit/s: video returns by itself.
    await link.set('down 1200');
    await tile.getByText('Video en pausa para que el audio se escuche bien.').waitFor({ state: 'hidden', timeout: 40000 });
    assert.equal(await tile.getAttribute('data-paused'), 'false');
    // The notice lifted on a new frame, not on the relay's word alone:
    // that uncovered the still picture from before the pause until the
    // next keyframe came.
    const frameAge = await pat.evaluate(() => window.__frameAgeWhenLifted);
    assert.ok(frameAge < 100, `the notice lifted ${frameAge} ms after the last frame shown`);
    await mediaFlows(pat, 'patient after recovery');
    // That link carries the specialist's 480p, though not at the layer's
    // own 1 Mbit/s: the relay caps the layer under the patient's share of
    // the link (decision 0032), and the patient gets it.
    await until(async () => {
      const { f } = await encodings(doc);
      return f.active === true && f.maxBitrate <= 900_000;
    }, { timeout: 40000, interval: 250, what: 'the specialist resumes the top layer, capped' });
    await until(async () => (await inbound(pat)).frameHeight >= 480,
      { timeout: 40000, interval: 250, what: "the specialist's 480p at the patient" });
    await shot(pat, 'bandwidth-02-patient-video-back');
  });
});
