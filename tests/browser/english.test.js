// The staff app in English: the header button switches the whole app (and
// the choice is kept in the URL, not in browser storage, so a shared clinic
// computer keeps nothing); Spanish again with the same button.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, seed, launch, newContext, shot, SPECIALIST } from './helpers.js';

describe('staff app in English', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer();
    await seed(server.baseURL);
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('switch to English, sign in, stay in English on reload, back to Spanish', async () => {
    const ctx = await newContext(browser, server.baseURL);
    try {
      const page = await ctx.newPage();
      await page.goto('/app');
      await page.getByRole('button', { name: 'Entrar' }).waitFor();
      await page.getByRole('button', { name: 'English' }).click();
      await page.getByLabel('Email').fill(SPECIALIST.email);
      await page.getByLabel('Password').fill(SPECIALIST.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('link', { name: 'Today' }).waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
      assert.equal(await page.title(), 'Cerca — Consultations');
      assert.match(page.url(), /[?&]lang=en/);
      await shot(page, 'english-01-today');

      await page.reload();
      await page.getByRole('link', { name: 'Today' }).waitFor();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);

      await page.getByRole('button', { name: 'Español' }).click();
      await page.getByRole('link', { name: 'Hoy' }).waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.lang), 'es-MX');
      assert.doesNotMatch(page.url(), /lang=en/);
    } finally {
      await ctx.close();
    }
  });
});
