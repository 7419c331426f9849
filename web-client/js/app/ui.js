// Shared bits of the app's screens: the live status line, error messages in
// Spanish by error code, and the confirm dialog.

import { h, replace } from '../dom.js';
import { t } from '../i18n.js';

/** Announces `text` in the page's aria-live region. */
export function announce(text, kind = 'ok') {
  const el = document.getElementById('status');
  replace(el, text ? h('p', { class: `notice ${kind}` }, text) : '');
}

/** A plain-Spanish message for an API error, with the server's detail when useful. */
export function errorText(err, fallbackKey = 'error_generic') {
  const key = `error_${err?.code}`;
  const known = t(key) !== key;
  // A 400 carries the server's own explanation of the field; show it too.
  if (known && err.status === 400 && err.message) return `${t(key)} ${t('error_detail', { message: err.message })}`;
  if (known) return t(key);
  if (err?.status === 400 && err.message) return `${t('error_validation_prefix')} ${err.message}`;
  return t(fallbackKey);
}

export function errorBox(err, fallbackKey) {
  return h('div', { class: 'notice error', role: 'alert' }, errorText(err, fallbackKey));
}

/** Asks a yes/no question in a modal dialog; resolves true on yes. */
export function confirmDialog({ title, body, yes, no = t('cancel'), danger = false }) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { 'aria-labelledby': 'dlg-title' },
      h('h2', { id: 'dlg-title' }, title),
      ...[].concat(body).map((p) => (p instanceof Node ? p : h('p', {}, p))),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: `btn primary${danger ? ' danger' : ''}`, value: 'yes', onclick: () => dialog.close('yes') }, yes),
        h('button', { type: 'button', class: 'btn', onclick: () => dialog.close('no') }, no)));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A screen may register cleanups (e.g. saving the note, leaving the call)
// to run before the next screen replaces it; one per key.
const leaving = new Map();

export function onLeave(fn, key = 'screen') {
  if (fn) leaving.set(key, fn);
  else leaving.delete(key);
}

/** Whether a cleanup is registered under `key` (e.g. a call in progress). */
export function hasLeave(key) {
  return leaving.has(key);
}

export async function runLeave() {
  const fns = [...leaving.values()];
  leaving.clear();
  for (const fn of fns) await fn();
}
