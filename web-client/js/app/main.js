// Entry point of the staff app (/app): checks the session, shows the login
// form or the navigation, and routes between screens by the URL hash
// (#/hoy, #/semana, #/anteriores, #/nueva, #/consulta/<id>). Spanish by
// default; English with the header button or `?lang=en`, kept in the URL
// (not in browser storage, which a shared clinic computer must not keep).

import { get, post, setUnauthenticatedHandler } from '../api.js';
import { h, replace } from '../dom.js';
import { setLanguage, language, t, translatePage } from '../i18n.js';
import { showLogin } from './login.js';
import { showDay, showWeek, showPast } from './consults.js';
import { showNewConsult } from './new-consult.js';
import { showConsult } from './detail.js';
import { announce, hasLeave, runLeave } from './ui.js';
import { startWaitingAlert, stopWaitingAlert } from './waiting-alert.js';

setLanguage(new URLSearchParams(location.search).get('lang') === 'en' ? 'en' : 'es');
const main = document.getElementById('main');
const langButton = document.getElementById('lang');
let me = null;
let currentNav = null;

function labelPage() {
  translatePage();
  document.title = t('app_title');
  document.getElementById('nav').setAttribute('aria-label', t('nav_label'));
  document.getElementById('waiting-banner').setAttribute('aria-label', t('waiting_banner_label'));
  langButton.textContent = t('switch_language');
  langButton.lang = language() === 'es' ? 'en' : 'es';
}
labelPage();

langButton.addEventListener('click', () => {
  setLanguage(language() === 'es' ? 'en' : 'es');
  const url = new URL(location.href);
  if (language() === 'en') url.searchParams.set('lang', 'en');
  else url.searchParams.delete('lang');
  history.replaceState(null, '', url);
  labelPage();
  if (!me) {
    signedOut();
  } else if (hasLeave('call')) {
    // Redrawing would leave the call: the rest follows on the next screen.
    renderNav(currentNav);
    announce(t('language_after_call'));
  } else {
    route();
  }
});

const ROUTES = [
  { re: /^#\/hoy$/, nav: 'hoy', show: (el) => showDay(el, me) },
  { re: /^#\/semana(?:\/(\d{4}-\d{2}-\d{2}))?$/, nav: 'semana', show: (el, m) => showWeek(el, me, m[1]) },
  { re: /^#\/anteriores$/, nav: 'anteriores', show: (el) => showPast(el, me) },
  { re: /^#\/nueva$/, nav: 'nueva', show: (el) => showNewConsult(el, me) },
  { re: /^#\/consulta\/(\d+)$/, nav: null, show: (el, m) => showConsult(el, me, Number(m[1])) },
];

function renderNav(current) {
  currentNav = current;
  const nav = document.getElementById('nav');
  nav.hidden = false;
  const link = (id, key) => h('a', { href: `#/${id}`, 'aria-current': current === id ? 'page' : null }, t(key));
  replace(nav, link('hoy', 'nav_today'), link('semana', 'nav_week'), link('anteriores', 'nav_past'), link('nueva', 'nav_new'));
  const roleKey = `role_${me.role}`;
  replace(document.getElementById('who'),
    h('span', { class: 'name' }, `${me.full_name} · ${t(roleKey)}`),
    langButton,
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
  // Each screen draws into its own element. Routes overlap (the screen
  // shown at sign-in still loading when a link opens another): a slower,
  // earlier one then finishes into a detached element instead of over the
  // newer screen.
  const page = h('div', { class: 'page' }, h('p', {}, t('loading')));
  replace(main, page);
  await found.r.show(page, found.m);
  if (page.isConnected) main.focus({ preventScroll: true });
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
  replace(document.getElementById('who'), langButton);
  announce('');
  showLogin(main, message, (user) => signedIn(user));
}

function signedIn(user) {
  me = user;
  if (me.role === 'admin') {
    replace(main, h('div', { class: 'card' }, h('h1', {}, t('admin_title')), h('p', {}, t('admin_body'))));
    replace(document.getElementById('who'), langButton, h('button', { type: 'button', class: 'btn', onclick: logout }, t('logout')));
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
