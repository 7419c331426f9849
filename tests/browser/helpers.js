// Shared set-up for the browser tests: the real `cerca` binary in a temp
// dir, an admin made with the CLI, a clinic + specialist + staff made through
// the API, and a headless Debian Chromium with fake camera and microphone.

import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, request } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
export const CERCA_BIN = process.env.CERCA_BIN || join(repo, 'target/debug/cerca');
export const LINK_EMULATOR_BIN = process.env.LINK_EMULATOR_BIN || join(dirname(CERCA_BIN), 'link-emulator');
export const SHOTS = join(repo, 'artifacts/screenshots');
export const TZ = 'America/Mexico_City';

export const ADMIN = { email: 'admin@cerca.test', password: 'admin-clave-segura-1' };
export const SPECIALIST = {
  email: 'dra.lopez@cerca.test', password: 'una clave segura', role: 'specialist',
  full_name: 'Dra. Ana López', cedula: '7654321', specialty: 'Medicina interna',
};
export const STAFF = {
  email: 'enfermeria@cerca.test', password: 'otra clave segura', role: 'staff',
  full_name: 'Enf. Juana Pérez', clinic_clues: 'CSSSA017213',
};
export const CLINIC = { clues: 'CSSSA017213', name: 'Centro de Salud San Andrés', state: 'Chiapas', time_zone: TZ };

/** Starts `cerca serve` on a free port; `config` lines go into a config file. */
export async function startServer(config = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cerca-browser-'));
  const env = { ...process.env, CERCA_DATA_DIR: join(dir, 'data'), CERCA_LOG_FORMAT: '' };
  delete env.DATABASE_URL;
  delete env.CERCA_ADDR;
  delete env.CERCA_PUBLIC_URL;
  const args = [];
  if (Object.keys(config).length) {
    const file = join(dir, 'cerca.conf');
    writeFileSync(file, Object.entries(config).map(([k, v]) => `${k} = ${v}`).join('\n'));
    args.push('--config', file);
  }
  const made = spawnSync(CERCA_BIN, [...args, 'admin', 'create', '--email', ADMIN.email], {
    env, cwd: dir, input: `${ADMIN.password}\n`, encoding: 'utf8',
  });
  if (made.status !== 0) throw new Error(`admin create failed: ${made.stderr || made.stdout || made.error}`);

  const child = spawn(CERCA_BIN, [...args, 'serve', '--addr', '127.0.0.1:0'], { env, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const addr = await new Promise((resolveAddr, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 30000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      // eslint-disable-next-line no-control-regex
      const m = /cerca listening.*?addr=(\S+)/.exec(log.replace(/\x1b\[[0-9;]*m/g, ''));
      if (m) {
        clearTimeout(timer);
        resolveAddr(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${log}`));
    });
  });
  child.removeAllListeners('exit');
  const baseURL = `http://${addr}`;
  return {
    baseURL,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An API client with its own cookie jar, signed in as `who`. */
export async function apiAs(baseURL, who) {
  const ctx = await request.newContext({ baseURL });
  const res = await ctx.post('/api/auth/login', { data: { email: who.email, password: who.password } });
  if (!res.ok()) throw new Error(`login ${who.email}: ${res.status()} ${await res.text()}`);
  return ctx;
}

export async function ok(resPromise) {
  const res = await resPromise;
  if (!res.ok()) throw new Error(`${res.url()}: ${res.status()} ${await res.text()}`);
  return res.status() === 204 ? null : res.json();
}

/** Clinic, specialist and staff account, made by the admin through the API. */
export async function seed(baseURL) {
  const admin = await apiAs(baseURL, ADMIN);
  await ok(admin.post('/api/clinics', { data: CLINIC }));
  const specialist = await ok(admin.post('/api/users', { data: SPECIALIST }));
  const staff = await ok(admin.post('/api/users', { data: STAFF }));
  await admin.dispose();
  return { specialistId: specialist.id, staffId: staff.id };
}

/** Headless Debian Chromium with a fake camera and microphone; `fakeDevice` options such as 'fps=30'. */
export async function launch({ fakeDevice = null } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      fakeDevice ? `--use-fake-device-for-media-stream=${fakeDevice}` : '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection',
    ],
  });
}

export async function newContext(browser, baseURL, options = {}) {
  const ctx = await browser.newContext({ baseURL, locale: 'es-MX', timezoneId: TZ, viewport: { width: 1100, height: 900 }, ...options });
  ctx.setDefaultTimeout(15000);
  return ctx;
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Creates `patient` and schedules a consult for them a minute from now; returns its id and join link. */
export async function scheduleConsult(api, patient, reason) {
  const made = await ok(api.post('/api/patients', { data: patient }));
  const consult = await ok(api.post('/api/consults', {
    data: { patient_id: made.id, starts_at: new Date(Date.now() + 60000).toISOString(), duration_min: 20, reason },
  }));
  return { consultId: consult.consult.id, joinUrl: consult.join_link.url };
}

/**
 * The set-up of a two-browser call test: the server (with `config` lines),
 * seeded users, the specialist's API client, one consult scheduled for
 * `patient`, and a browser. `pages()` opens the specialist's desktop page
 * (signed in) and the patient's phone page; `stop()` tears all down.
 */
export async function callWorld({ config = {}, patient, reason }) {
  const server = await startServer(config);
  await seed(server.baseURL);
  const api = await apiAs(server.baseURL, SPECIALIST);
  const { consultId, joinUrl } = await scheduleConsult(api, patient, reason);
  const browser = await launch();
  const contexts = [];
  return {
    server, api, browser, consultId, joinUrl,
    async pages() {
      const docCtx = await newContext(browser, server.baseURL, { viewport: { width: 1366, height: 900 } });
      const patCtx = await phoneContext(browser);
      contexts.push(docCtx, patCtx);
      const doc = await docCtx.newPage();
      await login(doc, SPECIALIST);
      return { doc, pat: await patCtx.newPage() };
    },
    async stop() {
      for (const ctx of contexts) await ctx.close().catch(() => {});
      await api.dispose();
      await browser.close();
      await server.stop();
    },
  };
}

/** A phone-sized browser context for a patient, camera and microphone allowed. */
export function phoneContext(browser) {
  return newContext(browser, undefined, {
    viewport: { width: 412, height: 915 }, permissions: ['camera', 'microphone'], isMobile: true, hasTouch: true,
  });
}

/** The specialist opens the consult page and enters its call. */
export async function specialistEntersCall(page, consultId, patientName) {
  await page.goto(`/app#/consulta/${consultId}`);
  await page.getByRole('heading', { name: `Consulta: ${patientName}` }).waitFor();
  await page.getByRole('button', { name: 'Entrar a la consulta' }).click();
  await page.getByRole('region', { name: 'Videollamada' }).waitFor();
}

/** The patient opens the link, consents, passes the device check and waits. */
export async function patientWaits(page, joinUrl, { network = null } = {}) {
  await page.goto(joinUrl);
  await page.getByLabel(/Acepto el aviso de privacidad/).check();
  await page.getByRole('button', { name: 'Continuar' }).click();
  await page.getByRole('button', { name: 'Encender cámara y micrófono' }).click();
  await page.locator('.preview video').waitFor();
  // `network`: read the device step to its end, the network check showing this level.
  if (network) await page.locator(`.check-list li[data-network="${network}"]`).waitFor({ timeout: 20000 });
  await page.getByRole('button', { name: 'Entrar a la sala de espera' }).click();
  await page.getByText('la videollamada empezará en esta misma página').waitFor();
}

/**
 * A staff member signs in on the clinic kiosk, opens `patientName`'s consult,
 * records the witnessed consent and the kiosk waits for the specialist.
 */
export async function kioskWaits(page, patientName) {
  await page.goto('/kiosk');
  await page.getByLabel('Correo electrónico').fill(STAFF.email);
  await page.getByLabel('Contraseña').fill(STAFF.password);
  await page.getByRole('button', { name: 'Entrar' }).click();
  await page.getByRole('button', { name: new RegExp(patientName) }).tap();
  await page.getByLabel(/El paciente leyó o escuchó el aviso/).check();
  await page.getByRole('button', { name: 'Registrar consentimiento' }).click();
  await page.getByText('Esperando al especialista…').waitFor();
}

/** Inbound totals from the page's RTCPeerConnection (the `window.__cercaPeer` test hook), and the largest video height received. */
export function inbound(page) {
  return page.evaluate(async () => {
    const pc = window.__cercaPeer;
    if (!pc) return null;
    const out = { framesDecoded: 0, audioPackets: 0, frameHeight: 0 };
    (await pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') out.framesDecoded += s.framesDecoded ?? 0;
      if (s.kind === 'video') out.frameHeight = Math.max(out.frameHeight, s.frameHeight ?? 0);
      if (s.kind === 'audio') out.audioPackets += s.packetsReceived ?? 0;
    });
    return out;
  });
}

/** Waits until video frames are decoded and audio packets received, then until both rise again. */
export async function mediaFlows(page, who) {
  const first = await until(async () => {
    const s = await inbound(page);
    return s && s.framesDecoded > 0 && s.audioPackets > 0 ? s : null;
  }, { timeout: 30000, interval: 250, what: `${who}: first media` });
  await until(async () => {
    const s = await inbound(page);
    return s.framesDecoded > first.framesDecoded && s.audioPackets > first.audioPackets;
  }, { timeout: 20000, interval: 250, what: `${who}: media still flowing` });
}

/**
 * A free UDP port on 127.0.0.1 whose number is free for TCP too (for the
 * relay, so an emulator can point at it).
 */
export async function freeUdpPort() {
  for (let tries = 0; tries < 20; tries++) {
    const sock = dgram.createSocket('udp4');
    await new Promise((r) => sock.bind(0, '127.0.0.1', r));
    const { port } = sock.address();
    await new Promise((r) => sock.close(r));
    if (await tcpPortFree(port)) return port;
  }
  throw new Error('no port free for both UDP and TCP');
}

// The relay listens for ICE-TCP on its UDP port's number and, on a port it
// was given, goes on without TCP when that number is taken (a test's own
// connections hold ephemeral TCP ports of the same range).
function tcpPortFree(port) {
  return new Promise((resolvePort) => {
    const server = net.createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

/**
 * Starts `link-emulator` in front of the relay at `relay` (host:port), with
 * more of its flags in `args` (e.g. `['--profile', 'edge']`). Returns its
 * address and `set(command)`, which sends one stdin command ("down 100",
 * "down off", "play") and resolves on its `ok`, or with the JSON of a
 * `stats` reply.
 */
export async function startLinkEmulator(relay, args = []) {
  const child = spawn(LINK_EMULATOR_BIN, ['--relay', relay, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdout.setEncoding('utf8');
  const lines = [];
  const waiters = [];
  let buf = '';
  child.stdout.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line); else lines.push(line);
    }
  });
  const nextLine = () => new Promise((r) => { const l = lines.shift(); if (l !== undefined) r(l); else waiters.push(r); });
  const first = await nextLine();
  const m = /^listening on (\S+)$/.exec(first);
  if (!m) throw new Error(`link-emulator: ${first}`);
  return {
    addr: m[1],
    async set(command) {
      child.stdin.write(`${command}\n`);
      const reply = await nextLine();
      if (reply.startsWith('stats ')) return JSON.parse(reply.slice(6));
      if (reply !== 'ok') throw new Error(`link-emulator ${command}: ${reply}`);
      return null;
    },
    stop() {
      child.stdin.end();
      child.kill('SIGTERM');
    },
  };
}

/**
 * A TCP proxy in front of `target` (host:port), for breaking a browser's
 * connections the way a flaky mobile network does: `cut()` drops every open
 * connection without a WebSocket close frame and refuses new ones until
 * `restore()`.
 */
export async function startTcpProxy(target) {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const open = new Set();
  let down = false;
  const server = net.createServer((client) => {
    if (down) { client.destroy(); return; }
    const upstream = net.connect(port, host);
    open.add(client).add(upstream);
    const forget = () => { open.delete(client); open.delete(upstream); client.destroy(); upstream.destroy(); };
    client.on('error', forget).on('close', forget);
    upstream.on('error', forget).on('close', forget);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      down = true;
      for (const s of open) s.resetAndDestroy();
      open.clear();
    },
    restore() { down = false; },
    close() { for (const s of open) s.destroy(); return new Promise((r) => server.close(r)); },
  };
}

/** Polls `fn` until it returns a truthy value (or throws after `timeout`). */
export async function until(fn, { timeout = 10000, interval = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Today's date and the current time (HH:MM) in the test time zone. */
export function nowInTz() {
  const now = new Date();
  const day = new Intl.DateTimeFormat('en-CA', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
  const time = new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(now);
  return { day, time };
}

/** Logs in through the app's form. */
export async function login(page, who) {
  await page.goto('/app');
  await page.getByLabel('Correo electrónico').fill(who.email);
  await page.getByLabel('Contraseña').fill(who.password);
  await page.getByRole('button', { name: 'Entrar' }).click();
  await page.getByRole('button', { name: 'Cerrar sesión' }).waitFor();
}
