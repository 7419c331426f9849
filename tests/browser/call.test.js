// The video call end to end, through the real `cerca` and its media relay:
// the patient consents and waits; the specialist enters the consult, sees
// the patient waiting and admits; both call screens show and media flows
// both ways (RTCPeerConnection stats, read through the `window.__cercaPeer`
// test hook); chat both ways; mute shows on the other side; the note editor
// keeps saving during the call; "Terminar consulta" gives both the end screen.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ok, shot, until, mediaFlows, callWorld, specialistEntersCall, patientWaits,
} from './helpers.js';

describe('video call', () => {
  let world;

  before(async () => {
    world = await callWorld({
      patient: { given_names: 'Lucía', family_names: 'Santiz Gómez', date_of_birth: '1958-07-21', sex: 'F' },
      reason: 'Control de diabetes',
    });
  });

  after(async () => world?.stop());

  test('patient waits, specialist admits, media both ways, chat, mute, note, end', async () => {
    const { api, consultId, joinUrl: link } = world;
    const { doc, pat } = await world.pages();
    // The specialist opens the consult and enters its room before the patient arrives.
    await specialistEntersCall(doc, consultId, 'Lucía Santiz Gómez');
    await doc.getByText('Nadie más en la llamada todavía.').waitFor();

    // The patient consents, checks the devices and enters the waiting room.
    await patientWaits(pat, link);
    await shot(pat, 'call-01-patient-waiting');

    // The specialist is told over the socket and admits.
    const waiting = doc.locator('.room-patient');
    await waiting.getByText('Lucía Santiz Gómez está en la sala de espera.').waitFor();
    await shot(doc, 'call-02-specialist-patient-waiting');
    await waiting.getByRole('button', { name: 'Admitir' }).click();

    // Both call screens; media flows both ways.
    await pat.getByRole('region', { name: 'Videollamada' }).waitFor();
    await mediaFlows(pat, 'patient');
    await mediaFlows(doc, 'specialist');
    await doc.locator('.tile[data-participant] .tile-name', { hasText: 'Lucía' }).waitFor();
    await until(async () => (await api.get(`/api/consults/${consultId}`).then((r) => r.json())).status === 'in_call', { what: 'consult in_call' });
    await doc.locator('.call-quality', { hasText: /Conexión: (Buena|Regular|Mala)/ }).waitFor({ timeout: 20000 });
    await pat.locator('.call-quality', { hasText: /Conexión: (Buena|Regular|Mala)/ }).waitFor({ timeout: 20000 });
    for (const page of [doc, pat]) {
      for (const b of await page.locator('.call-controls button:visible').all()) {
        const box = await b.boundingBox();
        assert.ok(box.height >= 48 && box.width >= 48, `call button ${await b.textContent()} is at least 48 px`);
      }
    }
    // Rescheduling or cancelling would make no sense mid-call.
    assert.equal(await doc.getByRole('button', { name: 'Reprogramar' }).isVisible(), false);
    await shot(pat, 'call-03-patient');
    await shot(doc, 'call-04-specialist');

    // Chat both ways.
    await pat.getByRole('button', { name: 'Chat' }).click();
    await pat.getByLabel('Mensaje').fill('Buenas tardes, doctora.');
    await pat.getByRole('button', { name: 'Enviar' }).click();
    await pat.locator('.chat-log li.mine', { hasText: 'Buenas tardes, doctora.' }).waitFor();
    await doc.getByRole('button', { name: 'Chat (1 nuevo)' }).click();
    await doc.locator('.chat-log li', { hasText: 'Buenas tardes, doctora.' }).getByText('Lucía', { exact: true }).waitFor();
    await doc.getByLabel('Mensaje').fill('Buenas tardes, Lucía. ¿Cómo sigue su glucosa?');
    await doc.getByLabel('Mensaje').press('Enter');
    await pat.locator('.chat-log li', { hasText: '¿Cómo sigue su glucosa?' }).getByText('Dra. Ana López').waitFor();

    // Muting shows on the other side, in words.
    await pat.getByRole('button', { name: 'Silenciar' }).click();
    await pat.getByRole('button', { name: 'Activar micrófono' }).waitFor();
    await doc.locator('.tile[data-participant]', { hasText: 'Lucía' }).getByText('Micrófono apagado').waitFor();
    await doc.getByRole('button', { name: 'Apagar cámara' }).click();
    await pat.locator('.tile[data-participant]', { hasText: 'Dra. Ana López' }).getByText('Cámara apagada').waitFor();
    await shot(pat, 'call-05-patient-chat-muted');
    await doc.getByRole('button', { name: 'Encender cámara' }).click();
    await pat.locator('.tile[data-participant]', { hasText: 'Dra. Ana López' }).getByText('Cámara apagada').waitFor({ state: 'hidden' });

    // Audio only, said in words.
    await pat.getByRole('button', { name: 'Solo audio' }).click();
    await pat.getByText('Modo solo audio: no se envía ni se muestra video.').waitFor();
    await shot(pat, 'call-06-patient-audio-only');
    await pat.getByRole('button', { name: 'Volver al video' }).click();
    await pat.getByText('Modo solo audio: no se envía ni se muestra video.').waitFor({ state: 'hidden' });

    // The note editor keeps working beside the call.
    await doc.getByLabel('Padecimiento actual e interrogatorio').fill('Glucosa capilar en ayunas de 140 mg/dL esta semana.');
    await doc.locator('.saved-state', { hasText: /^Guardado \d/ }).waitFor();
    await doc.evaluate(() => window.scrollTo(0, 0));
    await shot(doc, 'call-07-specialist-chat-note');

    // The specialist ends the consult: both get the end screen.
    await doc.getByRole('button', { name: 'Terminar consulta' }).click();
    await doc.getByRole('dialog').getByRole('button', { name: 'Terminar consulta' }).click();
    await doc.getByRole('heading', { name: 'La consulta terminó' }).waitFor();
    await pat.getByRole('heading', { name: 'La consulta terminó' }).waitFor();
    assert.equal((await ok(api.get(`/api/consults/${consultId}`))).status, 'completed');
    assert.equal(await pat.evaluate(() => localStorage.length + sessionStorage.length), 0);
    await shot(pat, 'call-08-patient-ended');
    await doc.evaluate(() => window.scrollTo(0, 0));
    await shot(doc, 'call-09-specialist-ended');
  });
});
