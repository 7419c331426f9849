// The patient's video call on the clinic kiosk: the staff member records the
// witnessed consent, the kiosk takes a fresh join link (the phone's link stops
// working) and waits in the room with it; the specialist, in another browser
// context, enters the consult in /app, sees the patient waiting and admits;
// media flows into the kiosk (getStats through `window.__cercaPeer`); the
// specialist ends; the kiosk goes back to the list and keeps nothing of the
// patient (DOM outside the list card, URL, storage, the token).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, seed, launch, newContext, apiAs, ok, shot, login, until, inbound, kioskWaits, STAFF, SPECIALIST } from './helpers.js';

const FAMILY = 'Hernández Cruz';
const NAME = `Rosa ${FAMILY}`;

describe('clinic kiosk: the patient\'s call', () => {
  let server;
  let browser;
  let staffApi;
  let ids;
  let consultId;
  let phoneToken;

  before(async () => {
    server = await startServer();
    ids = await seed(server.baseURL);
    staffApi = await apiAs(server.baseURL, STAFF);
    const patient = await ok(staffApi.post('/api/patients', {
      data: { given_names: 'Rosa', family_names: FAMILY, date_of_birth: '1955-11-02', sex: 'F' },
    }));
    const created = await ok(staffApi.post('/api/consults', {
      data: {
        patient_id: patient.id, specialist_id: ids.specialistId,
        starts_at: new Date(Date.now() + 60000).toISOString(), duration_min: 30, reason: 'Control de presión',
      },
    }));
    consultId = created.consult.id;
    phoneToken = created.join_link.token;
    browser = await launch();
  });

  after(async () => {
    await staffApi?.dispose();
    await browser?.close();
    await server?.stop();
  });

  test('consent on the kiosk, the call starts there, specialist admits and ends, nothing remains', async () => {
    const kioskCtx = await newContext(browser, server.baseURL, {
      viewport: { width: 1280, height: 800 }, hasTouch: true, permissions: ['camera', 'microphone'],
    });
    const docCtx = await newContext(browser, server.baseURL, { viewport: { width: 1366, height: 900 } });
    try {
      const kiosk = await kioskCtx.newPage();
      // Consent → a fresh join link for the kiosk's own patient socket.
      const linkResponse = kiosk.waitForResponse((r) => r.url().endsWith(`/api/consults/${consultId}/join-link`) && r.request().method() === 'POST');
      await kioskWaits(kiosk, NAME);
      const kioskToken = (await (await linkResponse).json()).token;
      assert.ok(kioskToken && kioskToken !== phoneToken);
      await kiosk.getByText('El enlace que se envió al teléfono del paciente ya no funciona').waitFor();
      // The kiosk checks the clinic's link while it waits (loopback: good).
      await kiosk.locator('.k-network[data-network="good"]', { hasText: 'Conexión de la clínica: buena para la videollamada' }).waitFor({ timeout: 20000 });
      const phone = await staffApi.get(`/api/join/${encodeURIComponent(phoneToken)}`);
      assert.equal(phone.status(), 410, 'the link sent to the phone is revoked');
      assert.equal((await ok(staffApi.get(`/api/consults/${consultId}/consents`))).find((r) => r.kind === 'privacy').method, 'kiosk_witnessed');

      // The specialist enters the consult, sees the patient waiting and admits.
      const doc = await docCtx.newPage();
      await login(doc, SPECIALIST);
      await doc.goto(`/app#/consulta/${consultId}`);
      await doc.getByRole('heading', { name: `Consulta: ${NAME}` }).waitFor();
      await doc.getByRole('button', { name: 'Entrar a la consulta' }).click();
      const waiting = doc.locator('.room-patient');
      await waiting.getByText(`${NAME} está en la sala de espera.`).waitFor();
      await waiting.getByRole('button', { name: 'Admitir' }).click();

      // The call on the kiosk: media arrives and keeps arriving.
      await kiosk.getByRole('region', { name: 'Videollamada', exact: true }).waitFor();
      const first = await until(async () => {
        const s = await inbound(kiosk);
        return s && s.framesDecoded > 0 && s.audioPackets > 0 ? s : null;
      }, { timeout: 30000, interval: 250, what: 'kiosk: first media' });
      await until(async () => {
        const s = await inbound(kiosk);
        return s && s.framesDecoded > first.framesDecoded && s.audioPackets > first.audioPackets;
      }, { timeout: 20000, interval: 250, what: 'kiosk: media still flowing' });
      await kiosk.locator('.tile[data-participant] .tile-name', { hasText: SPECIALIST.full_name }).waitFor();
      for (const b of await kiosk.locator('.call-controls button:visible').all()) {
        const box = await b.boundingBox();
        assert.ok(box.height >= 56 && box.width >= 56, `kiosk call button ${await b.textContent()} is large`);
      }
      await kiosk.getByRole('button', { name: 'Colgar' }).waitFor();
      const during = await kiosk.evaluate((token) => ({
        url: location.href, html: document.documentElement.outerHTML.includes(token),
        stored: localStorage.length + sessionStorage.length, history: history.length,
      }), kioskToken);
      assert.ok(!during.url.includes(kioskToken) && !during.html, 'the token is neither in the URL nor in the DOM');
      assert.equal(during.stored, 0);
      await kiosk.locator('.call-quality', { hasText: /Conexión: (Buena|Regular|Mala)/ }).waitFor({ timeout: 20000 });
      await shot(kiosk, 'kiosk-05-call');

      // The specialist ends the consult: the kiosk goes back to the list.
      await doc.getByRole('button', { name: 'Terminar consulta' }).click();
      await doc.getByRole('dialog').getByRole('button', { name: 'Terminar consulta' }).click();
      await doc.getByRole('heading', { name: 'La consulta terminó' }).waitFor();
      await kiosk.getByRole('heading', { name: 'Consultas de hoy en esta clínica' }).waitFor();
      await kiosk.getByText('La videollamada terminó. Se cerró la pantalla del paciente.').waitFor();
      assert.equal((await ok(staffApi.get(`/api/consults/${consultId}`))).status, 'completed');

      const left = await kiosk.evaluate((token) => {
        const body = document.body.cloneNode(true);
        for (const el of body.querySelectorAll('.k-card')) el.remove();
        return {
          text: body.textContent,
          token: document.documentElement.outerHTML.includes(token),
          local: localStorage.length,
          session: sessionStorage.length,
          url: location.href,
          videos: document.querySelectorAll('video').length,
          peer: window.__cercaPeer ?? null,
        };
      }, kioskToken);
      assert.ok(!left.text.includes(FAMILY), 'the family name is only in the list card');
      assert.equal(left.token, false);
      assert.deepEqual([left.local, left.session], [0, 0]);
      assert.equal(new URL(left.url).pathname, '/kiosk');
      assert.equal(new URL(left.url).search + new URL(left.url).hash, '');
      assert.equal(left.videos, 0, 'no call screen left');
      assert.equal(left.peer, null, 'the peer connection is closed');
    } finally {
      await kioskCtx.close();
      await docCtx.close();
    }
  });
});
