// "Iniciar consulta": the simplified privacy notice in large type, read to
// or by the patient; an unticked consent box and a separate optional
// recording box; the signed-in staff member is recorded as witness. On
// success the consult moves to the waiting room.

import { get, post } from '../api.js';
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { renderMarkdown } from '../markdown.js';
import { time } from '../app/format.js';
import { errorText } from '../app/ui.js';

export async function showConsent(main, me, consult, { onDone, onCancel }) {
  const noticeArea = h('div', { class: 'k-notice', 'aria-busy': 'true' }, h('p', {}, t('loading')));
  const privacy = h('input', { type: 'checkbox', id: 'k-privacy', name: 'accept_privacy' });
  const recording = h('input', { type: 'checkbox', id: 'k-recording', name: 'recording' });
  privacy.checked = false;
  recording.checked = false;
  const error = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn primary k-big' }, t('kiosk_consent_submit'));
  let version = null;

  // The form comes once the notice is on screen: consent is to the text
  // shown, and a notice arriving above a box already there would move it
  // from under a finger (patient/consent.js).
  const formArea = h('div');
  const form = h('form', { class: 'k-form', novalidate: true, autocomplete: 'off' },
    h('fieldset', {},
      h('legend', {}, t('kiosk_consent_legend')),
      h('label', { class: 'check k-check', for: privacy.id }, privacy,
        h('span', {}, h('strong', {}, t('kiosk_consent_privacy')), h('br'), h('span', { class: 'hint' }, t('kiosk_consent_required')))),
      h('label', { class: 'check k-check', for: recording.id }, recording,
        h('span', {}, t('kiosk_consent_recording'), h('br'), h('span', { class: 'hint' }, t('kiosk_consent_recording_optional'))))),
    h('p', { class: 'k-witness' }, t('kiosk_witness', { name: me.full_name })),
    error,
    h('div', { class: 'actions' }, submit,
      h('button', { type: 'button', class: 'btn k-big', onclick: onCancel }, t('kiosk_back_to_list'))));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(error);
    if (!privacy.checked) {
      replace(error, h('p', { class: 'notice error', role: 'alert' }, t('kiosk_consent_needed')));
      privacy.focus();
      return;
    }
    if (!version) {
      replace(error, h('p', { class: 'notice error', role: 'alert' }, t('notice_failed')));
      return;
    }
    submit.disabled = true;
    try {
      await post(`/consults/${consult.id}/consent`, { notice_version: version, language: 'es', accept_privacy: true, recording: recording.checked });
      // The patient is now in the clinic and consents: into the waiting room.
      if (consult.status === 'scheduled') await post(`/consults/${consult.id}/status`, { status: 'waiting' });
      onDone();
    } catch (err) {
      submit.disabled = false;
      replace(error, h('p', { class: 'notice error', role: 'alert' }, errorText(err)));
    }
  });

  replace(main,
    h('section', { class: 'k-patient', 'aria-labelledby': 'k-start' },
      h('h1', { id: 'k-start' }, t('kiosk_start_title')),
      h('p', { class: 'k-facts' },
        h('strong', { class: 'k-name' }, consult.patient_name), h('br'),
        t('kiosk_start_facts', { time: time(consult.starts_at), doctor: consult.specialist_name })),
      h('h2', {}, t('kiosk_notice_title')),
      h('p', { class: 'hint' }, t('kiosk_notice_read_aloud')),
      noticeArea,
      formArea));
  main.focus({ preventScroll: true });

  try {
    const index = await get('/privacy-notice');
    const notice = await get(`/privacy-notice/${encodeURIComponent(index.current_version)}/es?simplified=true`);
    version = notice.version;
    noticeArea.innerHTML = renderMarkdown(notice.text, { headingLevel: 3 }); // escaped by the renderer
  } catch {
    replace(noticeArea, h('p', { class: 'notice error' }, t('notice_failed')));
  }
  noticeArea.removeAttribute('aria-busy');
  replace(formArea, form);
}
