// After consent: the consult is ready and the patient waits for the
// specialist. The video call is not built yet, and the screen says so.

import { h, replace } from '../dom.js';
import { t } from '../i18n.js';

export function showReady(main, consult, { onFinish }) {
  const finish = h('button', { type: 'button', class: 'btn primary k-big', onclick: onFinish }, t('kiosk_finish'));
  replace(main,
    h('section', { class: 'k-patient k-ready', 'aria-labelledby': 'k-ready' },
      h('p', { class: 'k-done' }, h('span', { class: 'k-done-mark', 'aria-hidden': 'true' }, '✓'), t('kiosk_ready_consent_saved')),
      h('h1', { id: 'k-ready' }, t('kiosk_ready_title')),
      h('p', { class: 'k-facts' }, t('kiosk_ready_waiting', { name: consult.patient_name, doctor: consult.specialist_name })),
      h('div', { class: 'k-call-soon' },
        h('p', {}, h('strong', {}, t('kiosk_call_here'))),
        h('p', {}, t('kiosk_call_meanwhile'))),
      h('div', { class: 'actions' }, finish)));
  finish.focus();
}
