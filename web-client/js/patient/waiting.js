// Step 3: the waiting room. The specialist's list shows the patient as
// waiting; this page keeps checking the consult so that a cancellation is
// told to the patient rather than leaving them waiting.

import { get } from '../api.js';
import { h, replace } from '../dom.js';
import { t, locale } from '../i18n.js';
import { go } from './main.js';

const CHECK_EVERY_MS = 20000;

export function waitingStep(main, flow) {
  clearTimeout(flow.waitTimer);
  const info = flow.info;
  const when = new Date(info.starts_at).toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  replace(main,
    h('section', { class: 'step waiting', 'aria-labelledby': 'wait-title' },
      h('p', { class: 'step-count' }, t('step_of', { n: 3, total: 3 })),
      h('div', { class: 'pulse', 'aria-hidden': 'true' }, '✓'),
      h('h1', { id: 'wait-title' }, t('waiting_title')),
      h('p', { class: 'big', role: 'status' }, t('waiting_doctor_knows')),
      h('p', {}, t('waiting_with', { doctor: info.specialist_name, time: when })),
      h('p', {}, t('waiting_keep_open'))),
    h('section', { class: 'step' },
      h('h2', {}, t('waiting_meanwhile')),
      h('ul', {}, h('li', {}, t('waiting_tip_quiet')), h('li', {}, t('waiting_tip_charge')), h('li', {}, t('waiting_tip_signal'))),
      h('p', { class: 'hint' }, t('waiting_call_not_ready'))));

  const check = async () => {
    try {
      const now = await get(`/join/${encodeURIComponent(flow.token)}`);
      flow.info = now;
    } catch (err) {
      if (err.code !== 'network') {
        go('problem', { error: err });
        return;
      }
    }
    if (flow.screen === 'waiting') flow.waitTimer = setTimeout(check, CHECK_EVERY_MS);
  };
  flow.waitTimer = setTimeout(check, CHECK_EVERY_MS);
}
