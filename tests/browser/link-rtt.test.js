// A patient on a long round trip (link-emulator: 250 ms each way, as on a
// satellite link): the device step's network check measures it, the
// waiting room reports it (`network`), and the specialist's browser holds the
// patient's video long enough for one retransmission from the very first
// frame, before the relay has measured anything of the call
// (web-client/js/call/playout.js). Without that, the first lost packet of
// the patient's uplink froze the specialist's picture. The patient's own
// player does the same for its own round trip, known only once ICE connects,
// shortly before the first frame: looked at once a second, it was often
// seen after that frame, and the start delay came too late to spare the
// patient's picture the first retransmission. The same for a clinic
// kiosk on that link (a clinic on a satellite link): the kiosk runs the
// check while it waits (web-client/js/kiosk/ready.js).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { callWorld, specialistEntersCall, patientWaits, kioskWaits, freeUdpPort, startLinkEmulator, newContext, apiAs, ok, shot, STAFF } from './helpers.js';

const ONE_WAY_MS = 250;

/**
 * Resolves, at the first frame any remote tile of `page` presents, with the
 * playout target (ms) then set on that video's receiver.
 */
function targetAtFirstFrame(page) {
  return page.evaluate(() => new Promise((resolve) => {
    const armed = new WeakSet();
    const arm = (video) => {
      armed.add(video);
      video.requestVideoFrameCallback(() => {
        const track = video.srcObject?.getVideoTracks()[0];
        const receiver = window.__cercaPeer?.getReceivers().find((r) => r.track === track);
        resolve({ target: receiver ? receiver.jitterBufferTarget : 'no receiver' });
      });
    };
    const scan = () => document.querySelectorAll('.tile[data-participant] video').forEach((v) => { if (!armed.has(v)) arm(v); });
    new MutationObserver(scan).observe(document.body, { subtree: true, childList: true });
    scan();
  }));
}

describe('a patient on a long round trip', () => {
  let link;
  let world;

  before(async () => {
    const port = await freeUdpPort();
    link = await startLinkEmulator(`127.0.0.1:${port}`, ['--delay-ms', String(ONE_WAY_MS)]);
    world = await callWorld({
      // No ICE-TCP: the relay's TCP candidate is its own port, past the
      // emulator, and the check would measure loopback (bench/rural does
      // the same).
      config: { media_addr: `127.0.0.1:${port}`, media_patient_via: link.addr, media_tcp: false },
      patient: { given_names: 'Lucía', family_names: 'Cruz Ramírez', date_of_birth: '1958-10-03', sex: 'F' },
      reason: 'Revisión de retinopatía',
    });
  });

  after(async () => {
    await world?.stop();
    link?.stop();
  });

  test("both players allow for the patient's round trip from the first frame", async () => {
    const { consultId, joinUrl } = world;
    const { doc, pat } = await world.pages();
    await specialistEntersCall(doc, consultId, 'Lucía Cruz Ramírez');
    // The patient reads the device step to its end: the network check says
    // the link is slow ("fair": a round trip over 300 ms), then enters.
    await patientWaits(pat, joinUrl, { network: 'fair' });
    const firstFrame = targetAtFirstFrame(doc);
    const patientFirstFrame = targetAtFirstFrame(pat);
    await doc.locator('.room-patient').getByRole('button', { name: 'Admitir' }).click();
    const { target } = await firstFrame;
    await shot(doc, 'link-rtt-01-specialist-first-frame');
    // The round trip is about 2 × 250 ms; a retransmission needs that much.
    assert.ok(typeof target === 'number' && target >= 2 * ONE_WAY_MS,
      `the specialist's playout target at the first frame was ${target}, not at least ${2 * ONE_WAY_MS} ms`);
    const { target: patientTarget } = await patientFirstFrame;
    assert.ok(typeof patientTarget === 'number' && patientTarget >= 2 * ONE_WAY_MS,
      `the patient's playout target at the first frame was ${patientTarget}, not at least ${2 * ONE_WAY_MS} ms`);
  });

  test('the same for a clinic kiosk on that link', async () => {
    const name = 'Andrés López Díaz';
    const staff = await apiAs(world.server.baseURL, STAFF);
    let consultId;
    try {
      const specialist = await ok(world.api.get('/api/me'));
      const patient = await ok(staff.post('/api/patients', {
        data: { given_names: 'Andrés', family_names: 'López Díaz', date_of_birth: '1949-02-17', sex: 'M' },
      }));
      consultId = (await ok(staff.post('/api/consults', {
        data: {
          patient_id: patient.id, specialist_id: specialist.id,
          starts_at: new Date(Date.now() + 60000).toISOString(), duration_min: 30, reason: 'Control de glucosa',
        },
      }))).consult.id;
    } finally {
      await staff.dispose();
    }
    const { doc } = await world.pages();
    const kioskCtx = await newContext(world.browser, world.server.baseURL, {
      viewport: { width: 1280, height: 800 }, hasTouch: true, permissions: ['camera', 'microphone'],
    });
    try {
      const kiosk = await kioskCtx.newPage();
      await kioskWaits(kiosk, name);
      // The staff member sees the clinic's link judged slow, as the patient would.
      await kiosk.locator('.k-network[data-network="fair"]').waitFor({ timeout: 20000 });
      await shot(kiosk, 'link-rtt-02-kiosk-waiting');
      await specialistEntersCall(doc, consultId, name);
      const firstFrame = targetAtFirstFrame(doc);
      await doc.locator('.room-patient').getByRole('button', { name: 'Admitir' }).click();
      const { target } = await firstFrame;
      assert.ok(typeof target === 'number' && target >= 2 * ONE_WAY_MS,
        `the playout target at the kiosk's first frame was ${target}, not at least ${2 * ONE_WAY_MS} ms`);
    } finally {
      await kioskCtx.close();
    }
  });
});
