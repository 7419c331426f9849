// Waiting-room alert for the staff app: while /app is open, asks every 10 s
// which of today's consults are in the waiting room, and shows a badge with
// the count in the header, a banner with each patient's name and an "Abrir
// consulta" link, the count in the tab title, and a short WebAudio chime when
// someone new arrives (only once the user has interacted with the page, as
// browsers require for sound).
// Polling is temporary: the WebSocket push arrives with the media relay.

import { get, query } from '../api.js';
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { timeZone, isoDay, time, statusBadge } from './format.js';
import { announce } from './ui.js';

const POLL_MS = 10000;
let timer = null;
let known = new Set();
let running = false;
let audio = null;

// Browsers only let a page make sound after a user gesture.
function unlockAudio() {
  if (audio) return;
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  audio = new Ctx();
  for (const e of ['pointerdown', 'keydown']) document.removeEventListener(e, unlockAudio, true);
}
for (const e of ['pointerdown', 'keydown']) document.addEventListener(e, unlockAudio, true);

/** Two short soft tones, ~0.4 s in all. */
function chime() {
  if (!audio) return;
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  const start = audio.currentTime + 0.02;
  [[880, 0], [660, 0.18]].forEach(([freq, offset]) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.2);
    osc.connect(gain).connect(audio.destination);
    osc.start(start + offset);
    osc.stop(start + offset + 0.22);
  });
}

function render(waiting) {
  const badge = document.getElementById('waiting-badge');
  const banner = document.getElementById('waiting-banner');
  const n = waiting.length;
  // The count goes in front of the page title, in the current language.
  document.title = n ? `(${n}) ${t('app_title')}` : t('app_title');
  if (!n) {
    badge.hidden = true;
    banner.hidden = true;
    replace(banner);
    return;
  }
  badge.textContent = n === 1 ? t('waiting_count_one') : t('waiting_count_many', { n });
  badge.href = n === 1 ? `#/consulta/${waiting[0].id}` : '#/hoy';
  badge.hidden = false;
  replace(banner, h('ul', {}, waiting.map((c) => h('li', {},
    h('span', { class: 'waiting-symbol', 'aria-hidden': 'true' }, '●'),
    h('span', { class: 'waiting-text' }, t('waiting_banner_item', { name: c.patient_name, time: time(c.starts_at) })),
    h('a', { class: 'btn primary', href: `#/consulta/${c.id}`, dataset: { consultId: c.id } }, t('waiting_open'))))));
  banner.hidden = false;
}

/** Asks the server now (also after this page changed a status). */
export async function pollNow() {
  if (!running) return;
  let waiting;
  try {
    waiting = await get(`/consults${query({ day: isoDay(), tz: timeZone, status: 'waiting' })}`);
  } catch {
    return; // Offline or signed out: try again at the next tick.
  }
  if (!running) return;
  const arrived = waiting.filter((c) => !known.has(c.id));
  known = new Set(waiting.map((c) => c.id));
  render(waiting);
  // A list on screen keeps its rows; only their status word is brought up to date.
  for (const c of arrived) {
    for (const old of document.querySelectorAll(`.consult-row[data-consult-id="${c.id}"] .status`)) old.replaceWith(statusBadge('waiting'));
  }
  if (arrived.length) {
    announce(t('waiting_announce', { name: arrived.map((c) => c.patient_name).join(', ') }), 'warn');
    chime();
  }
}

export function startWaitingAlert() {
  stopWaitingAlert();
  running = true;
  pollNow();
  timer = setInterval(pollNow, POLL_MS);
}

export function stopWaitingAlert() {
  running = false;
  if (timer) clearInterval(timer);
  timer = null;
  known = new Set();
  if (document.getElementById('waiting-badge')) render([]);
}
