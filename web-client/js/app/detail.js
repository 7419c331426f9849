// One consult: its facts, reschedule and cancel (with a reason) while it is
// scheduled, a new join link while it is open, "Entrar a la consulta" (the
// room and the call, beside the note), and the consult note.

import { get, patch, post } from '../api.js';
import { h, replace, field } from '../dom.js';
import { t } from '../i18n.js';
import { dateLong, time, isoDay, isoTime, toInstant, statusBadge, timeZone } from './format.js';
import { newLinkButton } from './link.js';
import { showNote } from './note.js';
import { announce, errorBox, errorText, confirmDialog } from './ui.js';
import { enterButton } from './room.js';

const FINAL = ['completed', 'cancelled', 'no_show'];

export async function showConsult(main, me, id) {
  let consult;
  try {
    consult = await get(`/consults/${id}`);
  } catch (err) {
    replace(main, h('h1', {}, t('consult_title')), errorBox(err, 'error_consult_load'));
    return;
  }
  const linkArea = h('div');
  const actionArea = h('div');
  const noteArea = h('div');
  const callArea = h('div', { class: 'call-col' });
  const statusDd = h('dd', {}, statusBadge(consult.status));

  const facts = h('dl', { class: 'facts' },
    h('dt', {}, t('patient')), h('dd', {}, `${consult.patient_name} (${consult.patient_folio})`),
    h('dt', {}, t('when')), h('dd', {}, `${dateLong(consult.starts_at)}, ${time(consult.starts_at)} (${timeZone})`),
    h('dt', {}, t('duration')), h('dd', {}, `${consult.duration_min} min`),
    h('dt', {}, t('reason')), h('dd', {}, consult.reason),
    h('dt', {}, t('specialist')), h('dd', {}, consult.specialty ? `${consult.specialist_name} — ${consult.specialty}` : consult.specialist_name),
    consult.clinic_name ? [h('dt', {}, t('clinic')), h('dd', {}, consult.clinic_name)] : null,
    h('dt', {}, t('status')), statusDd,
    consult.cancel_reason ? [h('dt', {}, t('cancel_reason')), h('dd', {}, consult.cancel_reason)] : null);

  const layout = h('div', { class: 'consult-layout' });
  // The room changes the status (admit, end): only what still applies stays.
  const onStatus = (status) => {
    consult.status = status;
    replace(statusDd, statusBadge(status));
    for (const b of main.querySelectorAll('[data-when="scheduled"]')) b.hidden = status !== 'scheduled';
    if (FINAL.includes(status)) for (const b of main.querySelectorAll('[data-when="open"]')) b.hidden = true;
    if (status !== 'scheduled') replace(actionArea);
  };
  const buttons = [];
  const enter = enterButton(consult, { callArea, layout, onStatus });
  if (enter) buttons.push(enter);
  if (consult.status === 'scheduled') {
    buttons.push(h('button', { type: 'button', class: 'btn', dataset: { when: 'scheduled' }, onclick: () => rescheduleForm() }, t('reschedule')));
    buttons.push(h('button', { type: 'button', class: 'btn danger', dataset: { when: 'scheduled' }, onclick: () => cancelForm() }, t('cancel_consult')));
  }
  if (!FINAL.includes(consult.status)) {
    const linkButton = newLinkButton(id, linkArea);
    linkButton.dataset.when = 'open';
    buttons.push(linkButton);
  }

  replace(layout, callArea, h('div', { class: 'consult-side' },
    h('section', { class: 'card', 'aria-label': t('consult_title') }, facts,
      buttons.length ? h('div', { class: 'actions' }, buttons) : null,
      actionArea),
    linkArea,
    noteArea));
  replace(main,
    h('p', {}, h('a', { href: '#/hoy' }, `← ${t('back_to_list')}`)),
    h('h1', {}, `${t('consult_title')}: ${consult.patient_name}`),
    layout);

  function rescheduleForm() {
    const start = new Date(consult.starts_at);
    const date = h('input', { type: 'date', required: true, value: isoDay(start), min: isoDay() });
    const hour = h('input', { type: 'time', required: true, value: isoTime(start) });
    const duration = h('input', { type: 'number', min: 5, max: 240, step: 5, value: consult.duration_min, required: true, inputmode: 'numeric' });
    const error = h('div', { 'aria-live': 'assertive' });
    const form = h('form', { novalidate: true },
      h('h2', {}, t('reschedule')),
      h('div', { class: 'grid-3' }, field(t('date'), date), field(t('time_local'), hour), field(t('duration_min'), duration)),
      error,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'btn primary' }, t('reschedule_save')),
        h('button', { type: 'button', class: 'btn', onclick: () => replace(actionArea) }, t('cancel'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const startsAt = toInstant(date.value, hour.value);
      if (!startsAt) {
        replace(error, h('p', { class: 'notice error', role: 'alert' }, t('consult_missing')));
        return;
      }
      try {
        await patch(`/consults/${id}`, { starts_at: startsAt, duration_min: Number(duration.value) });
        await showConsult(main, me, id);
        announce(t('rescheduled'));
      } catch (err) {
        replace(error, errorBox(err));
      }
    });
    replace(actionArea, form);
    date.focus();
  }

  function cancelForm() {
    const reason = h('textarea', { required: true, rows: 3, maxLength: 500 });
    const error = h('div', { 'aria-live': 'assertive' });
    const form = h('form', { novalidate: true },
      h('h2', {}, t('cancel_consult')),
      field(t('cancel_reason'), reason, t('cancel_reason_hint')),
      error,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'btn danger primary' }, t('cancel_confirm')),
        h('button', { type: 'button', class: 'btn', onclick: () => replace(actionArea) }, t('cancel_keep'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!reason.value.trim()) {
        replace(error, h('p', { class: 'notice error', role: 'alert' }, t('cancel_reason_missing')));
        return;
      }
      const ok = await confirmDialog({ title: t('cancel_consult'), body: t('cancel_dialog_body'), yes: t('cancel_confirm'), no: t('cancel_keep'), danger: true });
      if (!ok) return;
      try {
        await post(`/consults/${id}/status`, { status: 'cancelled', reason: reason.value.trim() });
        await showConsult(main, me, id);
        announce(t('cancelled_done'));
      } catch (err) {
        replace(error, h('p', { class: 'notice error', role: 'alert' }, errorText(err)));
      }
    });
    replace(actionArea, form);
    reason.focus();
  }

  await showNote(noteArea, me, consult);
}
