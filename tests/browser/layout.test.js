// (e) At 360×740 (a small Android phone) the patient's screens and the login
// form fit the width: no horizontal scrolling.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, seed, launch, newContext, apiAs, ok, shot, SPECIALIST } from './helpers.js';

const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

async function assertNoHorizontalScroll(page, where) {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= client, `${where}: page is ${scroll}px wide in a ${client}px viewport`);
}

describe('small phone layout', () => {
  let server;
  let browser;
  let api;

  before(async () => {
    server = await startServer();
    await seed(server.baseURL);
    api = await apiAs(server.baseURL, SPECIALIST);
    browser = await launch();
  });

  after(async () => {
    await api?.dispose();
    await browser?.close();
    await server?.stop();
  });

  test('login and the staff app fit 360 px', async () => {
    const ctx = await newContext(browser, server.baseURL, PHONE);
    const page = await ctx.newPage();
    await page.goto('/app');
    await page.getByRole('heading', { name: 'Iniciar sesión' }).waitFor();
    await assertNoHorizontalScroll(page, 'login');
    await shot(page, 'phone-01-login');
    await page.getByLabel('Correo electrónico').fill(SPECIALIST.email);
    await page.getByLabel('Contraseña').fill(SPECIALIST.password);
    await page.getByRole('button', { name: 'Entrar' }).click();
    await page.getByRole('heading', { name: 'Consultas de hoy' }).waitFor();
    await assertNoHorizontalScroll(page, 'today');
    await page.getByRole('navigation').getByRole('link', { name: 'Nueva consulta' }).click();
    await page.getByRole('button', { name: 'Registrar paciente nuevo' }).click();
    await page.getByRole('button', { name: 'Guardar paciente' }).waitFor();
    await assertNoHorizontalScroll(page, 'new patient');
    await shot(page, 'phone-02-new-patient');
    await ctx.close();
  });

  test('every patient screen fits 360 px', async () => {
    const patient = await ok(api.post('/api/patients', {
      data: { given_names: 'María Guadalupe', family_names: 'Santiago Hernández', date_of_birth: '1958-09-30', sex: 'F' },
    }));
    const { join_link: link } = await ok(api.post('/api/consults', {
      data: { patient_id: patient.id, starts_at: new Date(Date.now() + 10 * 60000).toISOString(), duration_min: 30, reason: 'Seguimiento' },
    }));
    const ctx = await newContext(browser, server.baseURL, { ...PHONE, permissions: ['camera', 'microphone'] });
    const page = await ctx.newPage();
    await page.goto(link.url);
    await page.getByRole('heading', { name: 'Hola, María Guadalupe' }).waitFor();
    await page.getByText('cuida los datos').waitFor();
    await assertNoHorizontalScroll(page, 'consent');
    await page.getByRole('button', { name: 'Leer el aviso completo' }).click();
    await page.getByRole('region', { name: 'Aviso de privacidad completo' }).waitFor();
    await assertNoHorizontalScroll(page, 'full notice');
    await page.getByLabel(/Acepto el aviso de privacidad/).check();
    await page.getByRole('button', { name: 'Continuar' }).click();
    await page.getByRole('button', { name: 'Encender cámara y micrófono' }).click();
    await page.waitForFunction(() => document.querySelector('video')?.videoWidth > 0);
    await assertNoHorizontalScroll(page, 'device check');
    await shot(page, 'phone-03-devices');
    await page.getByRole('button', { name: 'Entrar a la sala de espera' }).click();
    await page.getByText('Su doctor(a) ya sabe que usted está aquí.').waitFor();
    await assertNoHorizontalScroll(page, 'waiting room');
    await shot(page, 'phone-04-waiting');
    await page.goto(`/j/${'y'.repeat(43)}`);
    await page.getByRole('heading', { name: 'No encontramos esta consulta' }).waitFor();
    await assertNoHorizontalScroll(page, 'problem page');
    await ctx.close();
  });
});
