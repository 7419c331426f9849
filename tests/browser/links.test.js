// (d) Links that cannot be used get a friendly page in the patient's
// language: unknown, expired, replaced, cancelled, not open yet.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, seed, launch, newContext, apiAs, ok, shot, SPECIALIST } from './helpers.js';

describe('unusable join links', () => {
  let server;
  let browser;
  let ctx;
  let api;
  let patientId;

  // The link closes one minute after the start, so a consult that started
  // ten minutes ago has an expired link.
  before(async () => {
    server = await startServer({ join_closes_after_min: 1 });
    await seed(server.baseURL);
    api = await apiAs(server.baseURL, SPECIALIST);
    patientId = (await ok(api.post('/api/patients', {
      data: { given_names: 'Pedro', family_names: 'Gómez Ruiz', date_of_birth: '1985-02-11', sex: 'M' },
    }))).id;
    browser = await launch();
    ctx = await newContext(browser, server.baseURL, { viewport: { width: 412, height: 915 } });
  });

  after(async () => {
    await api?.dispose();
    await browser?.close();
    await server?.stop();
  });

  async function consultStarting(minutesFromNow) {
    const startsAt = new Date(Date.now() + minutesFromNow * 60000).toISOString();
    return ok(api.post('/api/consults', { data: { patient_id: patientId, starts_at: startsAt, duration_min: 20, reason: 'Revisión' } }));
  }

  async function expectProblem(path, title, shotName, timeout = 15000) {
    const page = await ctx.newPage();
    page.setDefaultTimeout(timeout);
    try {
      await page.goto(path);
      await page.getByRole('heading', { name: title }).waitFor();
      assert.equal(await page.locator('html').getAttribute('lang'), 'es-MX');
      await shot(page, shotName);
      return page;
    } catch (err) {
      await page.close();
      throw err;
    }
  }

  test('an unknown link says so in Spanish', async () => {
    const page = await expectProblem(`/j/${'x'.repeat(43)}`, 'No encontramos esta consulta', 'patient-10-unknown-link');
    await page.getByText('Revise que el enlace esté completo').waitFor();
    await page.close();
  });

  test('an expired link says so, and in English on request', async () => {
    const { join_link: link } = await consultStarting(-10);
    const page = await expectProblem(link.url, 'Este enlace ya venció', 'patient-11-expired-link');
    await page.getByText('Pida un enlace nuevo a su clínica.').waitFor();
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('heading', { name: 'This link has expired' }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    await shot(page, 'patient-12-expired-link-en');
    await page.close();
  });

  test('a replaced link says to use the newest one', async () => {
    const { consult, join_link: first } = await consultStarting(5);
    await ok(api.post(`/api/consults/${consult.id}/join-link`));
    (await expectProblem(first.url, 'Este enlace fue reemplazado', 'patient-13-replaced-link')).close();
  });

  test('a cancelled consult says it was cancelled', async () => {
    const other = await consultStarting(5);
    await ok(api.post(`/api/consults/${other.consult.id}/status`, { data: { status: 'cancelled', reason: 'El paciente pidió cambiar de día' } }));
    (await expectProblem(other.join_link.url, 'Esta consulta fue cancelada', 'patient-14-cancelled', 3000)).close();
  });

  test('a link opened too early says when it opens', async () => {
    const { join_link: link } = await consultStarting(24 * 60);
    const page = await expectProblem(link.url, 'Todavía es temprano', 'patient-15-not-open');
    await page.getByText(/^Se abre el /).waitFor();
    await page.close();
  });
});
