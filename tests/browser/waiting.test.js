// (c) The specialist has /app open; the patient consents and arrives through
// the API; the waiting-room badge, banner and tab title appear within the
// polling period; in the consult's room (over /ws) the specialist sees the
// patient waiting, and "Admitir" moves the consult to in_call.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'playwright-core';
import { startServer, seed, launch, newContext, apiAs, ok, shot, login, until, SPECIALIST } from './helpers.js';

describe('specialist waiting-room alert', () => {
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

  test('(c) arrival shows badge, banner and title; Admitir moves the consult to in_call', async () => {
    const patient = await ok(api.post('/api/patients', {
      data: { given_names: 'Joaquín', family_names: 'Méndez Cruz', date_of_birth: '1949-11-02', sex: 'M' },
    }));
    const { consult, join_link: link } = await ok(api.post('/api/consults', {
      data: { patient_id: patient.id, starts_at: new Date(Date.now() + 60000).toISOString(), duration_min: 20, reason: 'Dolor de rodilla' },
    }));

    const ctx = await newContext(browser, server.baseURL);
    const page = await ctx.newPage();
    await login(page, SPECIALIST);
    await page.getByRole('heading', { name: 'Consultas de hoy' }).waitFor();
    assert.equal(await page.locator('#waiting-badge').isVisible(), false);
    await page.mouse.click(5, 300); // a first gesture, so the chime may play

    const token = new URL(link.url).pathname.split('/').pop();
    const patientApi = await request.newContext({ baseURL: server.baseURL });
    await ok(patientApi.post(`/api/join/${token}/consent`, { data: { notice_version: 'v1', language: 'es', accept_privacy: true } }));
    await ok(patientApi.post(`/api/join/${token}/arrive`));
    await patientApi.dispose();
    // The patient's page keeps a socket in the waiting room (as /j/<token> does).
    const patientCtx = await newContext(browser, server.baseURL);
    const patientPage = await patientCtx.newPage();
    await patientPage.goto('/');
    const joined = await patientPage.evaluate((t) => new Promise((resolve) => {
      const ws = new WebSocket(`ws://${location.host}/ws?join=${t}`);
      window.__msgs = [];
      ws.onmessage = (ev) => {
        const m = JSON.parse(ev.data);
        window.__msgs.push(m.type);
        if (m.type === 'hello') ws.send(JSON.stringify({ type: 'join' }));
        else resolve(m.type);
      };
      ws.onclose = () => resolve('closed');
    }), token);
    assert.equal(joined, 'waiting');

    const badge = page.getByRole('link', { name: '1 paciente en espera' });
    await badge.waitFor({ timeout: 25000 });
    const banner = page.getByRole('region', { name: 'Pacientes en sala de espera' });
    await banner.getByText('Joaquín Méndez Cruz está en la sala de espera').waitFor();
    await until(async () => (await page.title()).startsWith('(1) '), { what: 'title with the count' });
    // The list on screen shows the new status in words too.
    await page.locator('.consult-row', { hasText: 'Joaquín Méndez Cruz' }).getByText('En sala de espera').waitFor();
    await shot(page, 'app-waiting-01-banner');

    await banner.getByRole('link', { name: 'Abrir consulta' }).click();
    await page.getByRole('heading', { name: 'Consulta: Joaquín Méndez Cruz' }).waitFor();
    await shot(page, 'app-waiting-02-detail');
    await page.getByRole('button', { name: 'Entrar a la consulta' }).click();
    const room = page.locator('.room-patient');
    await room.getByText('Joaquín Méndez Cruz está en la sala de espera.').waitFor();
    await room.getByRole('button', { name: 'Admitir' }).click();
    await page.getByText('Paciente admitido.').waitFor();
    await page.locator('.facts .status.in_call').waitFor();
    assert.equal((await ok(api.get(`/api/consults/${consult.id}`))).status, 'in_call');
    await badge.waitFor({ state: 'hidden' });
    await until(async () => !(await page.title()).startsWith('('), { what: 'title without the count' });
    await shot(page, 'app-waiting-03-admitted');
    await patientPage.waitForFunction(() => window.__msgs.includes('admitted'));
    await patientCtx.close();
    await ctx.close();
  });
});
