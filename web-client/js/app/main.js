// Entry point of the staff app (/app): checks the session, shows the login
// form or the navigation, and routes between screens by the URL hash
// (#/hoy, #/semana, #/anteriores, #/nueva, #/consulta/<id>).

import { get, post, setUnauthenticatedHandler } from '../api.js';
import { h, replace } from '../dom.js';
import { setLanguage, t, translatePage } from '../i18n.js';
import { showLogin } from './login.js';
import { showDay, showWeek, showPast } from './consults.js';
import { showNewConsult } from './new-consult.js';
import { showConsult } from './detail.js';
import { announce, runLeave } from './ui.js';
import { startWaitingAlert, stopWaitingAlert } from './waiting-alert.js';

setLanguage('es');
translatePage();

const main = document.getElementById('main');
let me = null;

const ROUTES = [
  { re: /^#\/hoy$/, nav: 'hoy', show: () => showDay(main, me) },
  { re: /^#\/semana(?:\/(\d{4}-\d{2}-\d{2}))?$/, nav: 'semana', show: (m) => showWeek(main, me, m[1]) },
  { re: /^#\/anteriores$/, nav: 'anteriores', show: () => showPast(main, me) },
  { re: /^#\/nueva$/, nav: 'nueva', show: () => showNewConsult(main, me) },
  { re: /^#\/consulta\/(\d+)$/, nav: null, show: (m) => showConsult(main, me, Number(m[1])) },
];

function renderNav(current) {
  const nav = document.getElementById('nav');
  nav.hidden = false;
  const link = (id, key) => h('a', { href: `#/${id}`, 'aria-current': current === id ? 'page' : null }, t(key));
  replace(nav, link('hoy', 'nav_today'), link('semana', 'nav_week'), link('anteriores', 'nav_past'), link('nueva', 'nav_new'));
  const roleKey = `role_${me.role}`;
  replace(document.getElementById('who'),
    h('span', { class: 'name' }, `${me.full_name} · ${t(roleKey)}`),
    h('button', { type: 'button', class: 'btn', onclick: logout }, t('logout')));
}

async function route() {
  await runLeave();
  if (!me) return;
  const hash = location.hash || '#/hoy';
  const found = ROUTES.map((r) => ({ r, m: r.re.exec(hash) })).find((x) => x.m);
  if (!found) {
    location.hash = '#/hoy';
    return;
  }
  renderNav(found.r.nav);
  announce('');
  replace(main, h('p', {}, t('loading')));
  await found.r.show(found.m);
  main.focus({ preventScroll: true });
}

async function logout() {
  try {
    await post('/auth/logout');
  } catch {
    // The session may already be gone; the login form is the right place either way.
  }
  signedOut(t('logged_out'));
}

function signedOut(message) {
  me = null;
  stopWaitingAlert();
  document.getElementById('nav').hidden = true;
  replace(document.getElementById('who'));
  announce('');
  showLogin(main, message, (user) => signedIn(user));
}

function signedIn(user) {
  me = user;
  if (me.role === 'admin') {
    replace(main, h('div', { class: 'card' }, h('h1', {}, t('admin_title')), h('p', {}, t('admin_body'))));
    replace(document.getElementById('who'), h('button', { type: 'button', class: 'btn', onclick: logout }, t('logout')));
    return;
  }
  if (!location.hash || location.hash === '#/') history.replaceState(null, '', '#/hoy');
  startWaitingAlert();
  route();
}

setUnauthenticatedHandler(() => {
  if (me) signedOut(t('session_ended'));
});
window.addEventListener('hashchange', route);

try {
  signedIn(await get('/me'));
} catch (err) {
  if (err.code === 'network') replace(main, h('p', { class: 'notice error', role: 'alert' }, t('error_network')));
  else signedOut();
}
