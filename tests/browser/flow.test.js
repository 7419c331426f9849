// The main path, in order: (a) the specialist schedules a consult and copies
// the link, (b) the patient consents, checks devices and waits, (c) the
// specialist writes, autosaves and signs the note.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, seed, launch, newContext, apiAs, shot, login, nowInTz, until, SPECIALIST,
} from './helpers.js';

describe('consult from scheduling to signed note', () => {
  let server;
  let browser;
  let doctor; // the specialist's browser context
  let page;
  let api; // the specialist's API client
  let consultId;
  let link;

  before(async () => {
    server = await startServer();
    await seed(server.baseURL);
    browser = await launch();
    doctor = await newContext(browser, server.baseURL);
    await doctor.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.baseURL });
    page = await doctor.newPage();
    api = await apiAs(server.baseURL, SPECIALIST);
  });

  after(async () => {
    await api?.dispose();
    await browser?.close();
    await server?.stop();
  });

  test('(a) specialist logs in, registers a patient, schedules a consult and copies the link', async () => {
    await page.goto('/app');
    await page.getByLabel('Correo electrónico').fill(SPECIALIST.email);
    await page.getByLabel('Contraseña').fill('no es la clave');
    await page.getByRole('button', { name: 'Entrar' }).click();
    await page.getByText('Correo o contraseña incorrectos.').waitFor();
    await shot(page, 'app-01-login-error');

    await login(page, SPECIALIST);
    await page.getByRole('heading', { name: 'Consultas de hoy' }).waitFor();
    await page.getByText('No hay consultas para hoy.').waitFor();

    await page.getByRole('navigation').getByRole('link', { name: 'Nueva consulta' }).click();
    await page.getByLabel('Buscar paciente por nombre o CURP').fill('Rosa Hernández');
    await page.getByRole('button', { name: 'Buscar', exact: true }).click();
    await page.getByText('No encontramos a nadie').waitFor();
    await page.getByRole('button', { name: 'Registrar paciente nuevo' }).click();
    assert.equal(await page.getByLabel('Nombre(s)').inputValue(), 'Rosa');
    await page.getByLabel('Fecha de nacimiento').fill('1970-05-04');
    await page.getByLabel('Mujer').check();
    // A CURP whose birth date disagrees: the server's message is shown.
    await page.getByLabel('CURP (opcional)').fill('HEGR700504MCSRRS09');
    await page.getByRole('button', { name: 'Guardar paciente' }).click();
    const curpError = page.locator('.notice.error');
    await curpError.waitFor();
    assert.match(await curpError.innerText(), /CURP/);
    await shot(page, 'app-02-new-patient-error');
    await page.getByLabel('CURP (opcional)').fill('');
    await page.getByLabel('Teléfono celular (opcional)').fill('+529611234567');
    await page.getByRole('button', { name: 'Guardar paciente' }).click();
    await page.getByText('Paciente registrado: Rosa Hernández.').waitFor();

    const { day, time } = nowInTz();
    await page.getByLabel('Fecha', { exact: true }).fill(day);
    await page.getByLabel('Hora (su zona horaria)').fill(time);
    await page.getByLabel('Motivo de la consulta').fill('Control de hipertensión');
    await shot(page, 'app-03-new-consult');
    const created = page.waitForResponse((r) => r.url().endsWith('/api/consults') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Crear consulta' }).click();
    const body = await (await created).json();
    consultId = body.consult.id;

    await page.getByRole('heading', { name: 'Enlace para el paciente' }).waitFor();
    const whatsapp = await page.getByRole('link', { name: 'Enviar por WhatsApp' }).getAttribute('href');
    assert.equal(whatsapp, body.join_link.whatsapp_url);
    assert.match(whatsapp, /^https:\/\/wa\.me\/529611234567\?text=/);
    await page.getByRole('button', { name: 'Copiar enlace' }).click();
    await page.getByText('Enlace copiado.').waitFor();
    link = await page.evaluate(() => navigator.clipboard.readText());
    assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/j\/[A-Za-z0-9_-]{43}$/);
    assert.ok(link.endsWith(body.join_link.token));
    await shot(page, 'app-04-consult-created-link');

    await page.getByRole('navigation').getByRole('link', { name: 'Hoy' }).click();
    const row = page.locator(`[data-consult-id="${consultId}"]`);
    await row.waitFor();
    const text = await row.innerText();
    assert.match(text, /Rosa Hernández/);
    assert.match(text, /Programada/);
    assert.match(text, new RegExp(time.replace(/^0/, '0?')));
    await shot(page, 'app-05-today');

    await page.getByRole('navigation').getByRole('link', { name: 'Semana' }).click();
    await page.getByRole('heading', { name: 'Consultas de la semana' }).waitFor();
    await page.locator(`[data-consult-id="${consultId}"]`).waitFor();
    await shot(page, 'app-06-week');
  });

  test('(b) patient consents, checks camera and microphone, and waits', async () => {
    assert.ok(link, 'needs the link from (a)');
    const patientCtx = await newContext(browser, undefined, {
      viewport: { width: 412, height: 915 }, permissions: ['camera', 'microphone'], isMobile: true, hasTouch: true,
    });
    const p = await patientCtx.newPage();
    try {
      // The notice held back on its way: no consent box before the text it
      // consents to is on the screen (nor one the notice would push away).
      let releaseNotice;
      const noticeHeld = new Promise((resolve) => { releaseNotice = resolve; });
      const simplified = /\/privacy-notice\/.*simplified=true/;
      await p.route(simplified, async (route) => { await noticeHeld; await route.continue(); });
      await p.goto(link);
      await p.getByRole('heading', { name: 'Hola, Rosa' }).waitFor();
      assert.equal(await p.getByLabel(/Acepto el aviso de privacidad/).count(), 0, 'no box before the notice');
      releaseNotice();
      await p.getByText('cuida los datos que usted nos da').waitFor();
      await p.unroute(simplified);
      const privacy = p.getByLabel(/Acepto el aviso de privacidad/);
      assert.equal(await privacy.isChecked(), false, 'consent must start unticked');
      assert.equal(await p.getByLabel(/Acepto que se grabe/).isChecked(), false);
      await shot(p, 'patient-01-consent');

      await p.getByRole('button', { name: 'Continuar' }).click();
      await p.getByText('Para continuar, marque la casilla').waitFor();
      await privacy.check();
      const consent = p.waitForResponse((r) => r.url().endsWith('/consent') && r.status() === 200);
      await p.getByRole('button', { name: 'Continuar' }).click();
      const consentBody = (await consent).request().postDataJSON();
      assert.deepEqual(consentBody, { notice_version: 'v1', language: 'es', accept_privacy: true, recording: false });

      await p.getByRole('heading', { name: 'Revisemos su cámara y micrófono' }).waitFor();
      assert.equal(await p.locator('[role=meter]').getAttribute('data-peak'), '0');
      await p.getByRole('button', { name: 'Encender cámara y micrófono' }).click();
      await p.waitForFunction(() => {
        const v = document.querySelector('video');
        return v && v.videoWidth > 0 && v.readyState >= 2;
      });
      await p.waitForFunction(() => Number(document.querySelector('[role=meter]').dataset.peak) >= 8);
      await p.getByText('le escuchamos').waitFor();
      // The network check reached the relay (loopback: a fast round trip).
      await p.locator('.check-list li.ok[data-network="good"]', { hasText: 'buena para la videollamada' }).waitFor();
      await shot(p, 'patient-02-devices');

      await p.getByRole('button', { name: 'Probar el sonido' }).click();
      await p.getByRole('button', { name: 'Sí' }).click();
      await p.locator('.check-list li.ok', { hasText: 'Sonido' }).waitFor();

      await p.getByRole('button', { name: 'Entrar a la sala de espera' }).click();
      await p.getByText('Su doctor(a) ya sabe que usted está aquí.').waitFor();
      // The camera is released once in the waiting room.
      assert.equal(await p.locator('video').count(), 0);
      await shot(p, 'patient-03-waiting');

      const consult = await (await api.get(`/api/consults/${consultId}`)).json();
      assert.equal(consult.status, 'waiting');

      await page.reload();
      await page.locator(`[data-consult-id="${consultId}"]`).getByText('En sala de espera').waitFor();
      await shot(page, 'app-07-week-waiting');
    } finally {
      await patientCtx.close();
    }
  });

  test('(c) specialist writes the note with autosave, adds a CIE-10 code and signs', async () => {
    assert.ok(consultId, 'needs the consult from (a)');
    await page.goto(`/app#/consulta/${consultId}`);
    await page.getByRole('heading', { name: 'Nota de interconsulta' }).waitFor();
    const state = page.locator('.saved-state');

    const firstSave = page.waitForResponse((r) => r.url().endsWith(`/api/consults/${consultId}/note`) && r.request().method() === 'PUT');
    await page.getByLabel('Padecimiento actual e interrogatorio').fill('Cefalea matutina desde hace dos semanas.');
    await until(async () => /Cambios sin guardar|Guardando/.test(await state.innerText()), { what: 'dirty state' });
    assert.equal((await firstSave).status(), 200);
    await page.locator('.saved-state', { hasText: /^Guardado \d/ }).waitFor();

    await page.getByLabel('Presión sistólica').fill('150');
    await page.getByLabel('Presión diastólica').fill('95');
    await page.getByLabel('Temperatura').fill('36.7');
    await page.getByLabel('Buscar diagnóstico CIE-10').fill('hipertension');
    await page.getByRole('button', { name: /^Agregar I10/ }).click();
    await page.getByText('Diagnóstico I10 agregado.').waitFor();
    await page.getByLabel('Impresión diagnóstica').fill('Hipertensión arterial sistémica descontrolada.');
    await page.getByRole('button', { name: 'Agregar medicamento' }).click();
    await page.getByLabel('Medicamento', { exact: true }).fill('Losartán');
    await page.getByLabel('Dosis', { exact: true }).fill('50 mg');
    await page.getByLabel('Vía', { exact: true }).fill('oral');
    await page.getByLabel('Frecuencia', { exact: true }).fill('cada 24 h');
    await page.getByLabel('Duración', { exact: true }).fill('30 días');
    await page.locator('.saved-state', { hasText: /^Guardado \d/ }).waitFor();
    const saved = await (await api.get(`/api/consults/${consultId}/note`)).json();
    assert.equal(saved.signed, false);
    assert.deepEqual(saved.body.diagnoses.map((d) => d.code), ['I10']);
    assert.equal(saved.body.vital_signs.systolic_mmhg, 150);
    assert.equal(saved.body.vital_signs.temperature_c, 36.7);
    assert.equal(saved.body.treatment[0].drug, 'Losartán');
    await shot(page, 'app-08-note-draft');

    await page.getByRole('button', { name: 'Firmar nota' }).click();
    const dialog = page.getByRole('dialog', { name: '¿Firmar la nota?' });
    await dialog.getByText('cédula profesional 7654321').waitFor();
    await shot(page, 'app-09-sign-dialog');
    await dialog.getByRole('button', { name: 'Firmar', exact: true }).click();
    await page.getByText('Firmada por Dra. Ana López, cédula profesional 7654321').waitFor();
    assert.equal(await page.getByLabel('Padecimiento actual e interrogatorio').count(), 0, 'read-only after signing');

    await page.getByLabel('Nueva adenda').fill('Se agrega: paciente refiere apego irregular al tratamiento previo.');
    await page.getByRole('button', { name: 'Firmar y agregar adenda' }).click();
    await page.getByText('apego irregular').waitFor();
    await shot(page, 'app-10-note-signed');

    const note = await (await api.get(`/api/consults/${consultId}/note`)).json();
    assert.equal(note.signed, true);
    assert.equal(note.author_cedula, '7654321');
    assert.equal(note.addenda.length, 1);
    const again = await api.put(`/api/consults/${consultId}/note`, { data: { version: note.version, body: note.body } });
    assert.equal(again.status(), 409);
    assert.equal((await again.json()).error.code, 'note_signed');
  });
});
