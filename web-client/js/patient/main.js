// The patient's page (/j/<token>): one step at a time — the consult and the
// privacy notice with express consent, the device check, then the waiting
// room, then the call. Spanish by default, English on request; nothing is stored in the
// browser (the link itself is the patient's only credential).

import { get } from '../api.js';
import { h, replace } from '../dom.js';
import { setLanguage, language, t } from '../i18n.js';
import { consentStep } from './consent.js';
import { deviceStep } from './devices.js';
import { waitingStep } from './waiting.js';
import { callStep } from './call.js';
import { problemScreen } from './problem.js';

const token = decodeURIComponent(location.pathname.split('/').pop() ?? '');
const main = document.getElementById('main');
const langButton = document.getElementById('lang');

// The current screen; switching language redraws it with the same state.
const flow = { token, info: null, screen: 'loading', error: null, consent: { privacy: false, recording: false } };

function initialLanguage() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked === 'en' || asked === 'es') return asked;
  return 'es';
}

export function go(screen, extra = {}) {
  flow.screen = screen;
  Object.assign(flow, extra);
  render();
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

export function say(text) {
  document.getElementById('status').textContent = text;
}

function render() {
  langButton.textContent = t('switch_language');
  langButton.lang = language() === 'es' ? 'en' : 'es';
  document.title = t('patient_page_title');
  switch (flow.screen) {
    case 'consent': return consentStep(main, flow);
    case 'devices': return deviceStep(main, flow);
    case 'waiting': return waitingStep(main, flow);
    case 'call': return callStep(main, flow);
    case 'problem': return problemScreen(main, flow.error);
    default: return replace(main, h('p', {}, t('patient_loading')));
  }
}

langButton.addEventListener('click', () => {
  setLanguage(language() === 'es' ? 'en' : 'es');
  const url = new URL(location.href);
  url.searchParams.set('lang', language());
  history.replaceState(null, '', url);
  render();
});

setLanguage(initialLanguage());
render();
try {
  flow.info = await get(`/join/${encodeURIComponent(token)}`);
  if (!new URLSearchParams(location.search).get('lang') && flow.info.preferred_language === 'en') setLanguage('en');
  go(flow.info.consent.privacy ? 'devices' : 'consent');
} catch (err) {
  go('problem', { error: err });
}
