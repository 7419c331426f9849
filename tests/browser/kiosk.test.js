// The clinic kiosk (/kiosk): (a) a staff member signs in once, opens today's
// consult, the patient consents with the staff member as witness, and
// the kiosk waits for the specialist with its own patient socket, and
// "Terminar" leaves nothing of the patient behind; (b) inactivity on a
// patient screen returns to the list by itself; (c) also while waiting, and
// then the patient's socket is closed. The call itself: kiosk-call.test.js.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, seed, launch, newContext, apiAs, ok, shot, until, STAFF } from './helpers.js';

const TOUCH = { viewport: { width: 1280, height: 800 }, hasTouch: true };
const FAMILY = 'Gómez Ruiz';
const NAME = `Teresa ${FAMILY}`;

/** Text of the page outside the list cards, and what the browser stored. */
async function leftovers(page) {
  return page.evaluate(async () => {
    const body = document.body.cloneNode(true);
    for (const el of body.querySelectorAll('.k-card')) el.remove();
    return {
      text: body.textContent,
      local: localStorage.length,
      session: sessionStorage.length,
      idb: indexedDB.databases ? (await indexedDB.databases()).length : 0,
      caches: self.caches ? (await caches.keys()).length : 0,
      url: location.href,
    };
  });
}

describe('clinic kiosk', () => {
  let server;
  let browser;
  let ctx;
  let staffApi;
  let ids;
  let consultId;

  before(async () => {
    server = await startServer();
    ids = await seed(server.baseURL);
    staffApi = await apiAs(server.baseURL, STAFF);
    const patient = await ok(staffApi.post('/api/patients', {
      data: { given_names: 'Teresa', family_names: FAMILY, date_of_birth: '1962-03-14', sex: 'F' },
    }));
    const created = await ok(staffApi.post('/api/consults', {
      data: {
        patient_id: patient.id, specialist_id: ids.specialistId,
        starts_at: new Date(Date.now() + 60000).toISOString(), duration_min: 30, reason: 'Revisión de glucosa',
      },
    }));
    consultId = created.consult.id;
    browser = await launch();
    ctx = await newContext(browser, server.baseURL, TOUCH);
  });

  after(async () => {
    await staffApi?.dispose();
    await browser?.close();
    await server?.stop();
  });

  test('(a) staff signs in, the patient consents with the staff member as witness, nothing remains', async () => {
    const page = await ctx.newPage();
    await page.goto('/kiosk');
    await page.getByLabel('Correo electrónico').fill(STAFF.email);
    await page.getByLabel('Contraseña').fill(STAFF.password);
    await page.getByRole('button', { name: 'Entrar' }).click();
    await page.getByRole('heading', { name: 'Consultas de hoy en esta clínica' }).waitFor();
    const card = page.getByRole('button', { name: new RegExp(NAME) });
    await card.waitFor();
    assert.match(await card.innerText(), /Programada/);
    const box = await card.boundingBox();
    assert.ok(box.height >= 56, `card is ${box.height}px tall`);
    await shot(page, 'kiosk-01-list');

    await card.tap();
    await page.getByRole('heading', { name: 'Iniciar consulta' }).waitFor();
    await page.getByText('cuida los datos').waitFor();
    const consent = page.getByLabel(/El paciente leyó o escuchó el aviso/);
    assert.equal(await consent.isChecked(), false, 'consent box starts unticked');
    assert.equal(await page.getByLabel(/acepta que se grabe/).isChecked(), false, 'recording box starts unticked');
    await page.getByText(`Usted, ${STAFF.full_name}, queda registrado(a) como testigo`).waitFor();
    const submit = page.getByRole('button', { name: 'Registrar consentimiento' });
    assert.ok((await submit.boundingBox()).height >= 56);
    await submit.click();
    await page.getByText('el paciente debe aceptar el aviso de privacidad').waitFor();
    await shot(page, 'kiosk-02-consent');

    await consent.check();
    await submit.click();
    await page.getByRole('heading', { name: 'La consulta está lista' }).waitFor();
    await page.getByText('El enlace que se envió al teléfono del paciente ya no funciona').waitFor();
    await page.getByText('Esperando al especialista…').waitFor();
    assert.equal(await page.getByText('La videollamada estará disponible aquí').count(), 0);
    assert.equal(await page.locator('video').count(), 0, 'no call before admission');
    await shot(page, 'kiosk-03-ready');

    const records = await ok(staffApi.get(`/api/consults/${consultId}/consents`));
    const privacy = records.find((r) => r.kind === 'privacy');
    assert.equal(privacy.method, 'kiosk_witnessed');
    assert.equal(privacy.witness_user_id, ids.staffId);
    assert.equal(records.some((r) => r.kind === 'recording'), false);
    assert.equal((await ok(staffApi.get(`/api/consults/${consultId}`))).status, 'waiting');

    await page.getByRole('button', { name: 'Terminar y volver a la lista' }).click();
    await page.getByRole('heading', { name: 'Consultas de hoy en esta clínica' }).waitFor();
    await page.getByRole('button', { name: new RegExp(NAME) }).waitFor();
    const left = await leftovers(page);
    assert.ok(!left.text.includes(FAMILY), 'the family name is only in the list card');
    assert.deepEqual([left.local, left.session, left.idb, left.caches], [0, 0, 0, 0]);
    assert.equal(new URL(left.url).pathname, '/kiosk');
    assert.equal(new URL(left.url).hash, '');
    assert.equal(await page.locator('#k-privacy').count(), 0);
    await page.close();
  });

  test('(b) inactivity on a patient screen returns to the list and forgets the patient', async () => {
    const page = await ctx.newPage(); // same sign-in: the kiosk stays signed in
    await page.goto('/kiosk?idle=6');
    await page.getByRole('button', { name: new RegExp(NAME) }).tap();
    await page.getByRole('heading', { name: 'Iniciar consulta' }).waitFor();
    await page.getByLabel(/El paciente leyó o escuchó el aviso/).waitFor();
    const warning = page.getByRole('alert').filter({ hasText: 'Nadie ha tocado la pantalla' });
    await warning.waitFor();
    await shot(page, 'kiosk-04-idle-warning');
    await page.getByRole('heading', { name: 'Consultas de hoy en esta clínica' }).waitFor({ timeout: 20000 });
    await page.getByText('Se cerró la pantalla del paciente por falta de actividad.').waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Iniciar consulta' }).count(), 0);
    assert.equal(await page.locator('#k-privacy, #k-recording, .k-notice').count(), 0);
    assert.equal(await warning.count(), 0);
    const left = await leftovers(page);
    assert.ok(!left.text.includes(FAMILY));
    assert.deepEqual([left.local, left.session], [0, 0]);
    await page.close();
  });

  test('(c) inactivity while waiting for the specialist closes the patient socket and forgets the patient', async () => {
    const page = await ctx.newPage();
    // Watch the page's WebSockets and peer connections (the network check
    // runs while the kiosk waits) to see that the kiosk closes them.
    await page.addInitScript(() => {
      const watch = (name, list) => {
        const Native = window[name];
        window[list] = [];
        window[name] = class extends Native {
          constructor(...args) {
            super(...args);
            window[list].push(this);
          }
        };
      };
      watch('WebSocket', '__sockets');
      watch('RTCPeerConnection', '__pcs');
    });
    // Long enough that consent, the new link and the socket are done before
    // the screen gives up on a slow machine; the reset is what is tested.
    await page.goto('/kiosk?idle=8');
    await page.getByRole('button', { name: new RegExp(NAME) }).tap();
    await page.getByLabel(/El paciente leyó o escuchó el aviso/).check();
    await page.getByRole('button', { name: 'Registrar consentimiento' }).click();
    await page.getByText('Esperando al especialista…').waitFor();
    assert.equal(await page.evaluate(() => window.__sockets.filter((w) => w.readyState === WebSocket.OPEN).length), 1);
    await page.getByRole('heading', { name: 'Consultas de hoy en esta clínica' }).waitFor({ timeout: 20000 });
    await page.getByText('Se cerró la pantalla del paciente por falta de actividad.').waitFor();
    await until(() => page.evaluate(() => window.__sockets.every((w) => w.readyState === WebSocket.CLOSED)), { what: 'patient socket closed' });
    assert.ok(await page.evaluate(() => window.__pcs.length > 0 && window.__pcs.every((pc) => pc.signalingState === 'closed')),
      'the network check ran and its connection is closed');
    const left = await leftovers(page);
    assert.ok(!left.text.includes(FAMILY));
    assert.deepEqual([left.local, left.session], [0, 0]);
    assert.equal(await page.getByText('Esperando al especialista…').count(), 0);
    await page.close();
  });
});
