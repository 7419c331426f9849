// A link that cannot be used (expired, replaced, not open yet, cancelled,
// unknown) or a lost connection, explained in the patient's language.

import { h, replace } from '../dom.js';
import { t, locale } from '../i18n.js';

const KNOWN = ['join_link_expired', 'join_link_revoked', 'join_link_not_open', 'consult_cancelled', 'not_found', 'network', 'consent_required', 'consult_closed'];

export function problemScreen(main, err) {
  const code = KNOWN.includes(err?.code) ? err.code : 'other';
  let extra = null;
  if (code === 'join_link_not_open') {
    // The server says when the link opens: "this link opens at <RFC 3339>".
    const when = /(\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2}))/.exec(err.message ?? '')?.[1];
    if (when) {
      extra = h('p', { class: 'when' }, t('problem_opens_at', {
        when: new Date(when).toLocaleString(locale(), { weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
      }));
    }
  }
  const retry = ['network', 'join_link_not_open', 'other'].includes(code)
    ? h('button', { type: 'button', class: 'btn primary block', onclick: () => location.reload() }, t('problem_retry'))
    : null;
  replace(main, h('section', { class: 'step', 'aria-labelledby': 'p-title' },
    h('h1', { id: 'p-title' }, t(`problem_${code}_title`)),
    h('div', { class: 'notice warn', role: 'alert' }, h('p', {}, t(`problem_${code}`))),
    extra,
    retry,
    h('p', { class: 'hint' }, t('problem_help'))));
}
