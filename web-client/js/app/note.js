// The consult note panel: loads the note, shows the editor to the consult's
// specialist with autosave (debounced, optimistic version; a stale version is
// never overwritten), signing, and after signing the read-only note with its
// addenda. Others see only a signed note.

import { get, put, post } from '../api.js';
import { h, replace, field } from '../dom.js';
import { t } from '../i18n.js';
import { noteForm } from './note-form.js';
import { signedNoteView, addendaList } from './note-view.js';
import { announce, errorText, confirmDialog, onLeave } from './ui.js';

const AUTOSAVE_MS = 1500;

export async function showNote(area, me, consult) {
  const isAuthor = me.role === 'specialist' && me.id === consult.specialist_id;
  let note = null;
  try {
    note = await get(`/consults/${consult.id}/note`);
  } catch (err) {
    if (err.code !== 'not_found') {
      replace(area, card(h('p', { class: 'notice error', role: 'alert' }, errorText(err))));
      return;
    }
  }
  if (note?.signed) {
    renderSigned(area, note, isAuthor, consult);
  } else if (!isAuthor) {
    replace(area, card(h('p', { class: 'empty' }, t('note_not_signed_yet'))));
  } else if (['cancelled', 'no_show'].includes(consult.status)) {
    replace(area, card(h('p', { class: 'empty' }, t('note_closed'))));
  } else {
    renderEditor(area, me, consult, note);
  }
}

function card(...children) {
  return h('section', { class: 'card', 'aria-labelledby': 'note-title' },
    h('div', { class: 'note-head' }, h('h2', { id: 'note-title' }, t('note_title'))), ...children);
}

function renderSigned(area, note, isAuthor, consult) {
  const addendaArea = h('div', { 'aria-live': 'polite' }, addendaList(note.addenda));
  let form = null;
  if (isAuthor) {
    const text = h('textarea', { rows: 4, maxLength: 20000, required: true });
    const error = h('div', { 'aria-live': 'assertive' });
    form = h('form', { novalidate: true },
      field(t('addendum_label'), text, t('addendum_hint')),
      error,
      h('button', { type: 'submit', class: 'btn primary' }, t('addendum_add')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      replace(error);
      if (!text.value.trim()) {
        replace(error, h('p', { class: 'notice error', role: 'alert' }, t('addendum_empty')));
        return;
      }
      try {
        const updated = await post(`/consults/${consult.id}/note/addenda`, { body: text.value.trim() });
        text.value = '';
        replace(addendaArea, addendaList(updated.addenda));
        announce(t('addendum_added'));
      } catch (err) {
        replace(error, h('p', { class: 'notice error', role: 'alert' }, errorText(err)));
      }
    });
  }
  replace(area, card(
    signedNoteView(note),
    h('h3', {}, t('addenda_title')),
    addendaArea,
    form));
}

function renderEditor(area, me, consult, note) {
  let version = note?.version ?? 0;
  const initial = note?.body ?? { reason: consult.reason };
  let timer = null;
  let changes = 0; // edits since the page opened
  let savedChanges = note ? 0 : -1; // -1: nothing stored yet
  let saving = null; // the in-flight save
  let blocked = false; // a stale version: stop saving until reloaded

  const state = h('p', { class: 'saved-state', role: 'status', 'aria-live': 'polite' }, note ? t('save_state_loaded') : t('save_state_new'));
  const stateActions = h('div');
  const setState = (text, kind = '', ...actions) => {
    state.textContent = text;
    state.className = `saved-state ${kind}`;
    replace(stateActions, actions.length ? h('div', { class: 'actions' }, actions) : '');
  };

  const { form, read } = noteForm(initial, () => {
    changes += 1;
    if (blocked) return;
    setState(t('save_state_dirty'));
    clearTimeout(timer);
    timer = setTimeout(save, AUTOSAVE_MS);
  });

  async function save() {
    clearTimeout(timer);
    if (blocked) return false;
    if (saving) {
      await saving;
      if (changes === savedChanges) return true;
    }
    const target = changes;
    const { body, problem } = read();
    if (problem) {
      setState(`${t('save_state_failed')}: ${problem}`, 'error');
      return false;
    }
    setState(t('save_state_saving'));
    saving = (async () => {
      try {
        const saved = await put(`/consults/${consult.id}/note`, { version, body });
        version = saved.version;
        savedChanges = target;
        if (changes === target) {
          const hhmm = new Date(saved.updated_at).toLocaleTimeString('es-MX', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
          setState(t('save_state_saved', { time: hhmm }), 'ok');
        } else {
          timer = setTimeout(save, AUTOSAVE_MS);
        }
        return true;
      } catch (err) {
        if (err.code === 'stale_version') {
          blocked = true;
          setState(t('save_state_stale'), 'error',
            h('button', { type: 'button', class: 'btn primary', onclick: reload }, t('note_reload')));
        } else if (err.code === 'note_signed') {
          blocked = true;
          setState(t('save_state_signed_elsewhere'), 'error',
            h('button', { type: 'button', class: 'btn primary', onclick: reload }, t('note_reload')));
        } else {
          setState(`${t('save_state_failed')}: ${errorText(err)}`, 'error',
            h('button', { type: 'button', class: 'btn', onclick: save }, t('retry')));
        }
        return false;
      } finally {
        saving = null;
      }
    })();
    return saving;
  }

  /** Saves now if anything is unsaved; true when the server has it all. */
  async function flush() {
    if (blocked) return false;
    if (changes === savedChanges && !saving) return true;
    return save();
  }

  async function reload() {
    window.removeEventListener('beforeunload', warnUnsaved);
    await showNote(area, me, consult);
  }

  async function sign() {
    const ok = await confirmDialog({
      title: t('sign_title'),
      body: [t('sign_body'), t('sign_as', { name: me.full_name, cedula: me.cedula ?? '—' })],
      yes: t('sign_yes'),
    });
    if (!ok) return;
    if (!(await flush())) {
      announce(t('sign_needs_save'), 'error');
      return;
    }
    try {
      const signed = await post(`/consults/${consult.id}/note/sign`, { version });
      window.removeEventListener('beforeunload', warnUnsaved);
      onLeave(null);
      renderSigned(area, signed, true, consult);
      announce(t('signed_done'));
      area.querySelector('.signature')?.setAttribute('tabindex', '-1');
      area.querySelector('.signature')?.focus();
    } catch (err) {
      if (err.code === 'stale_version') {
        blocked = true;
        setState(t('save_state_stale'), 'error',
          h('button', { type: 'button', class: 'btn primary', onclick: reload }, t('note_reload')));
      } else if (err.code === 'incomplete_note') {
        announce(t('error_incomplete_note'), 'error');
      } else {
        announce(errorText(err), 'error');
      }
    }
  }

  function warnUnsaved(ev) {
    if (changes !== savedChanges && changes > 0) {
      save();
      ev.preventDefault();
    }
  }
  window.addEventListener('beforeunload', warnUnsaved);
  onLeave(async () => {
    window.removeEventListener('beforeunload', warnUnsaved);
    await flush();
  });

  replace(area, h('section', { class: 'card', 'aria-labelledby': 'note-title' },
    h('div', { class: 'note-head sticky' },
      h('h2', { id: 'note-title' }, t('note_title')),
      h('div', {}, state)),
    stateActions,
    h('p', { class: 'hint' }, t('note_intro')),
    form,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'btn primary', onclick: sign }, t('sign_button')))));
}
