// The call's chat panel: the lines so far (an aria-live log), a text box and
// "Enviar". Lines are shown when the server relays them back, the sender's
// own included, so what is on screen is what the others received.

import { h, replace } from '../dom.js';
import { t, locale } from '../i18n.js';

export function createChat({ onSend }) {
  const log = h('ol', { class: 'chat-log', role: 'log', 'aria-live': 'polite' });
  const empty = h('p', { class: 'hint chat-empty' });
  const input = h('input', { type: 'text', id: 'call-chat-input', maxLength: 2000, autocomplete: 'off' });
  const label = h('label', { for: input.id, class: 'visually-hidden' });
  const send = h('button', { type: 'submit', class: 'btn primary' });
  const title = h('h3', { id: 'call-chat-title' });
  const form = h('form', { class: 'chat-form' }, label, input, send);
  const el = h('section', { class: 'chat-panel', 'aria-labelledby': title.id, hidden: true }, title, empty, log, form);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (onSend(text.slice(0, 2000))) input.value = '';
    input.focus();
  });

  function relabel() {
    title.textContent = t('call_chat_title');
    empty.textContent = t('call_chat_empty');
    label.textContent = t('call_chat_label');
    input.placeholder = t('call_chat_placeholder');
    send.textContent = t('call_chat_send');
  }
  relabel();

  return {
    el,
    input,
    relabel,
    add(msg, mine) {
      empty.hidden = true;
      const at = msg.at ? new Date(msg.at) : new Date();
      const when = Number.isNaN(at.getTime()) ? '' : at.toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
      log.append(h('li', { class: mine ? 'mine' : '' },
        h('span', { class: 'chat-who' }, mine ? t('call_you') : (msg.display_name || t('call_someone'))),
        h('span', { class: 'chat-when' }, when),
        h('span', { class: 'chat-text' }, msg.text)));
      log.scrollTop = log.scrollHeight;
    },
    clear() {
      replace(log);
      empty.hidden = false;
    },
  };
}
