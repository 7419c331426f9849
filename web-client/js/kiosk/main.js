// The clinic kiosk (/kiosk): a shared computer where a staff member signs in
// once; patients then go list → "Iniciar consulta" (consent witnessed by the
// staff member) → the patient's video call on this screen (js/kiosk/ready.js).
// Finishing, the end of the call, or inactivity on a patient screen goes back
// to the list and forgets the patient: the call's socket, camera and join
// token are dropped, the DOM is rebuilt, forms are gone, the URL is reset
// with history.replaceState, and nothing is ever written to localStorage,
// sessionStorage, IndexedDB or the Cache API.

import { get, post, setUnauthenticatedHandler } from '../api.js';
import { h, replace } from '../dom.js';
import { setLanguage, t, translatePage } from '../i18n.js';
import { showLogin } from '../app/login.js';
import { fullscreenButton } from './fullscreen.js';
import { idleSeconds, createIdleTimer } from './idle.js';
import { showList } from './list.js';
import { showConsent } from './consent.js';
import { showReady, stopCall } from './ready.js';

setLanguage('es');
translatePage();

const main = document.getElementById('main');
const tools = document.getElementById('k-tools');
const status = document.getElementById('status');
let me = null;

const idle = createIdleTimer(idleSeconds(), () => backToList(t('kiosk_idle_done')));

/** Announces `text`; `quiet` when the screen already shows it in words. */
function say(text, { quiet = false } = {}) {
  replace(status, text ? h('p', { class: quiet ? 'visually-hidden' : 'notice ok' }, text) : '');
}

/** Forgets the patient on screen, then shows the list. */
function forget() {
  idle.stop();
  stopCall();
  replace(main);
  say('');
  // No patient in the address bar or the history entry: Back cannot bring it back.
  history.replaceState(null, '', `${location.pathname}${location.search}`);
  window.scrollTo(0, 0);
}

async function backToList(message) {
  forget();
  if (!me) return;
  await showList(main, openConsult);
  if (message) say(message);
  main.focus({ preventScroll: true });
}

function openConsult(consult) {
  forget();
  idle.start();
  showConsent(main, me, consult, {
    onCancel: () => backToList(),
    onDone: () => {
      showReady(main, consult, {
        onFinish: () => backToList(t('kiosk_finished')),
        // A consult lasts longer than the inactivity limit and nobody touches
        // the screen while talking: the timer pauses during the call, whose
        // end (or a lost connection) goes back to the list by itself.
        onCallStart: () => idle.stop(),
        onCallOver: (key) => backToList(t(key)),
        announce: (text) => say(text, { quiet: true }),
      });
      say(t('kiosk_consent_saved'), { quiet: true });
    },
  });
}

function renderTools() {
  replace(tools,
    me ? h('span', { class: 'k-staff' }, me.full_name) : null,
    fullscreenButton(),
    me ? h('button', { type: 'button', class: 'btn k-tool', onclick: logout }, t('logout')) : null);
}

async function logout() {
  try {
    await post('/auth/logout');
  } catch {
    // Already gone: the login form is the right place either way.
  }
  signedOut(t('logged_out'));
}

function signedOut(message) {
  forget();
  me = null;
  renderTools();
  showLogin(main, message, signedIn);
}

function signedIn(user) {
  if (user.role !== 'staff') {
    me = null;
    forget();
    replace(main, h('div', { class: 'card k-wrong-role', role: 'alert' },
      h('h1', {}, t('kiosk_staff_only_title')), h('p', {}, t('kiosk_staff_only')),
      h('button', { type: 'button', class: 'btn primary k-big', onclick: logout }, t('logout'))));
    return;
  }
  me = user;
  renderTools();
  backToList();
}

setUnauthenticatedHandler(() => {
  if (me) signedOut(t('session_ended'));
});

// Leaving the page (or a back/forward cache restore) must not keep a patient.
window.addEventListener('pagehide', () => forget());
window.addEventListener('pageshow', (ev) => {
  if (ev.persisted && me) backToList();
});

renderTools();
try {
  signedIn(await get('/me'));
} catch (err) {
  if (err.code === 'network') replace(main, h('p', { class: 'notice error', role: 'alert' }, t('error_network')));
  else signedOut();
}
