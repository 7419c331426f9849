// A patient whose network blocks UDP (as some clinic and office networks do):
// the patient's UDP to the relay is black-holed (all of it lost in
// link-emulator, which the relay announces to patients as its UDP address),
// so Chromium falls back by itself to the relay's passive ICE-TCP candidate on
// the same port number. The call must still carry audio and video both ways,
// and the patient's connection must really be TCP.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { shot, mediaFlows, callWorld, specialistEntersCall, freeUdpPort, startLinkEmulator, until } from './helpers.js';

/** The transport of the page's selected ICE candidate pair ('udp' or 'tcp'). */
function selectedProtocol(page) {
  return page.evaluate(async () => {
    const stats = await window.__cercaPeer.getStats();
    let pair = null;
    stats.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
    return pair ? stats.get(pair.localCandidateId)?.protocol ?? null : null;
  });
}

describe('a patient whose network blocks UDP', () => {
  let link;
  let world;

  before(async () => {
    const port = await freeUdpPort();
    link = await startLinkEmulator(`127.0.0.1:${port}`, ['--loss-pct', '100']);
    world = await callWorld({
      config: { media_addr: `127.0.0.1:${port}`, media_patient_via: link.addr },
      patient: { given_names: 'Jacinta', family_names: 'Ruiz Ortega', date_of_birth: '1988-10-02', sex: 'F' },
      reason: 'Revisión de resultados',
    });
  });

  after(async () => {
    await world?.stop();
    link?.stop();
  });

  test('the call runs over ICE-TCP on the relay port', async () => {
    const { consultId, joinUrl } = world;
    const { doc, pat } = await world.pages();
    await specialistEntersCall(doc, consultId, 'Jacinta Ruiz Ortega');
    // The device check's network check already goes over TCP: it works, and
    // the patient is told there may be some delay.
    await pat.goto(joinUrl);
    await pat.getByLabel(/Acepto el aviso de privacidad/).check();
    await pat.getByRole('button', { name: 'Continuar' }).click();
    const network = pat.locator('.check-list li[data-network]');
    await until(async () => !['pending', null].includes(await network.getAttribute('data-network', { timeout: 1000 })), {
      timeout: 20000, interval: 250, what: 'the network check over TCP',
    });
    assert.equal(await network.getAttribute('data-network'), 'fair', 'over TCP only, with a warning');
    assert.ok(await network.evaluate((li) => li.classList.contains('warn')));
    await shot(pat, 'ice-tcp-00-patient-device-check');
    await pat.getByRole('button', { name: 'Encender cámara y micrófono' }).click();
    await pat.locator('.preview video').waitFor();
    await pat.getByRole('button', { name: 'Entrar a la sala de espera' }).click();
    await pat.getByText('la videollamada empezará en esta misma página').waitFor();
    await doc.locator('.room-patient').getByRole('button', { name: 'Admitir' }).click();
    await pat.getByRole('region', { name: 'Videollamada' }).waitFor();
    await mediaFlows(pat, 'patient over TCP');
    await mediaFlows(doc, 'specialist, from a patient over TCP');
    assert.equal(await selectedProtocol(pat), 'tcp');
    assert.equal(await selectedProtocol(doc), 'udp');
    const { up } = await link.set('stats');
    assert.equal(up.packets_out, 0, 'no UDP got through the blocked link');
    await shot(pat, 'ice-tcp-01-patient-call');
  });
});
