// The patient's join link, shown once after it is issued (the server keeps
// only its hash): copy it, send it by WhatsApp, or issue a new one.

import { post } from '../api.js';
import { h, replace, uid } from '../dom.js';
import { t } from '../i18n.js';
import { dateTime } from './format.js';
import { announce, errorText, confirmDialog } from './ui.js';

function absolute(url) {
  return new URL(url, location.origin).href;
}

async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Older or locked-down browsers: select the text so Ctrl+C works.
    input.focus();
    input.select();
    return document.execCommand?.('copy') ?? false;
  }
}

/** A panel with the link and its actions; `onNew` gets each reissued link. */
export function linkPanel(consultId, link) {
  const panel = h('section', { class: 'card', 'aria-labelledby': 'link-title' });
  const render = (current) => {
    const url = absolute(current.url);
    const input = h('input', { type: 'text', readOnly: true, value: url, id: uid('link'), 'aria-describedby': 'link-hint' });
    const copyBtn = h('button', { type: 'button', class: 'btn primary' }, t('link_copy'));
    copyBtn.addEventListener('click', async () => {
      announce(await copy(url, input) ? t('link_copied') : t('link_copy_failed'), 'ok');
    });
    const renew = h('button', { type: 'button', class: 'btn' }, t('link_new'));
    renew.addEventListener('click', async () => {
      const ok = await confirmDialog({ title: t('link_new_title'), body: t('link_new_body'), yes: t('link_new') });
      if (!ok) return;
      try {
        render(await post(`/consults/${consultId}/join-link`));
        announce(t('link_renewed'));
      } catch (err) {
        announce(errorText(err), 'error');
      }
    });
    replace(panel,
      h('h2', { id: 'link-title' }, t('link_title')),
      h('p', { id: 'link-hint', class: 'hint' }, t('link_hint', { opens: dateTime(current.opens_at), closes: dateTime(current.closes_at) })),
      h('label', { for: input.id, class: 'label' }, t('link_label')),
      h('div', { class: 'link-box' }, input),
      h('div', { class: 'actions' },
        copyBtn,
        h('a', { class: 'btn', href: current.whatsapp_url, target: '_blank', rel: 'noopener noreferrer' }, t('link_whatsapp')),
        renew));
  };
  render(link);
  return panel;
}

/** Just the "Nuevo enlace" button, for a consult whose link is not on screen. */
export function newLinkButton(consultId, container) {
  const btn = h('button', { type: 'button', class: 'btn' }, t('link_new'));
  btn.addEventListener('click', async () => {
    const ok = await confirmDialog({ title: t('link_new_title'), body: t('link_new_body'), yes: t('link_new') });
    if (!ok) return;
    try {
      const link = await post(`/consults/${consultId}/join-link`);
      replace(container, linkPanel(consultId, link));
      announce(t('link_renewed'));
      container.querySelector('input')?.focus();
    } catch (err) {
      announce(errorText(err), 'error');
    }
  });
  return btn;
}
