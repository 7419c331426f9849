// A patient's connection to the server breaks mid-call (the WebSocket dies
// without a close frame, as on a 3G handover; media keeps flowing over UDP).
// The patient's page says "Reconectando…", reconnects by itself and resumes
// its place: no waiting room, no new admission, the specialist never sees
// the patient leave, and chat works again afterwards.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  shot, until, inbound, mediaFlows, callWorld, specialistEntersCall, patientWaits, startTcpProxy,
} from './helpers.js';

describe('a dropped connection during the call', () => {
  let world;
  let proxy;

  before(async () => {
    world = await callWorld({
      patient: { given_names: 'Marta', family_names: 'Gómez Díaz', date_of_birth: '1971-05-30', sex: 'F' },
      reason: 'Revisión de estudios',
    });
    proxy = await startTcpProxy(new URL(world.server.baseURL).host);
  });

  after(async () => {
    await proxy?.close();
    await world?.stop();
  });

  test('the patient reconnects and resumes without being admitted again', async () => {
    const { consultId, joinUrl } = world;
    const { doc, pat } = await world.pages();
    await specialistEntersCall(doc, consultId, 'Marta Gómez Díaz');
    // The patient's page and socket go through the breakable proxy.
    const link = new URL(joinUrl);
    await patientWaits(pat, `${proxy.url}${link.pathname}`);
    await doc.locator('.room-patient').getByRole('button', { name: 'Admitir' }).click();
    await pat.getByRole('region', { name: 'Videollamada' }).waitFor();
    await mediaFlows(pat, 'patient');
    const tile = doc.locator('.tile[data-participant]', { hasText: 'Marta' });
    await tile.waitFor();
    const patientId = await tile.getAttribute('data-participant');

    // The connection breaks and stays down for a moment.
    proxy.cut();
    const reconnecting = pat.locator('.call-connection', { hasText: 'Reconectando… La llamada sigue; espere un momento.' });
    await reconnecting.waitFor({ timeout: 15000 });
    await shot(pat, 'resume-01-patient-reconnecting');
    const audio = (await inbound(pat)).audioPackets;
    await until(async () => (await inbound(pat)).audioPackets > audio + 50,
      { timeout: 15000, interval: 250, what: 'audio while the socket is down' });
    proxy.restore();

    // Back by itself: the same participant, still in the call.
    await reconnecting.waitFor({ state: 'hidden', timeout: 20000 });
    assert.equal(await tile.getAttribute('data-participant'), patientId, 'the specialist still sees the same participant');
    assert.equal(await pat.getByText('la videollamada empezará en esta misma página').count(), 0, 'not sent to the waiting room');
    await pat.getByRole('button', { name: 'Chat' }).click();
    await pat.getByLabel('Mensaje').fill('Se cortó, ya volví.');
    await pat.getByRole('button', { name: 'Enviar' }).click();
    await doc.getByRole('button', { name: 'Chat (1 nuevo)' }).click();
    await doc.locator('.chat-log li', { hasText: 'Se cortó, ya volví.' }).waitFor();
    await mediaFlows(doc, 'specialist after the patient resumed');
    await shot(pat, 'resume-02-patient-back');
  });
});
