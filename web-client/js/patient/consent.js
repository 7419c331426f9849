// Step 1: who the consult is with, the simplified privacy notice (with the
// full notice one tap away), the express consent checkbox (never pre-ticked)
// and the separate, optional recording consent.

import { get, post } from '../api.js';
import { h, replace } from '../dom.js';
import { t, language, locale } from '../i18n.js';
import { renderMarkdown } from '../markdown.js';
import { go, say } from './main.js';

function noticeBlock(html) {
  const div = h('div', { class: 'notice-text' });
  div.innerHTML = html; // renderMarkdown escapes everything first
  return div;
}

export async function consentStep(main, flow) {
  const info = flow.info;
  const lang = language();
  const when = new Date(info.starts_at);
  const noticeArea = h('div', { 'aria-busy': 'true' }, h('p', {}, t('patient_loading')));
  const fullArea = h('div');
  const privacy = h('input', { type: 'checkbox', id: 'accept-privacy', name: 'accept_privacy' });
  privacy.checked = flow.consent.privacy;
  const recording = h('input', { type: 'checkbox', id: 'accept-recording', name: 'recording' });
  recording.checked = flow.consent.recording;
  privacy.addEventListener('change', () => { flow.consent.privacy = privacy.checked; });
  recording.addEventListener('change', () => { flow.consent.recording = recording.checked; });
  const error = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn primary block' }, t('consent_continue'));

  const showFull = h('button', { type: 'button', class: 'btn quiet', 'aria-expanded': 'false', 'aria-controls': 'full-notice' }, t('notice_full'));
  showFull.addEventListener('click', async () => {
    const open = showFull.getAttribute('aria-expanded') === 'true';
    if (open) {
      showFull.setAttribute('aria-expanded', 'false');
      replace(fullArea);
      return;
    }
    showFull.setAttribute('aria-expanded', 'true');
    replace(fullArea, h('p', {}, t('patient_loading')));
    try {
      const full = await get(`/privacy-notice/${info.privacy_notice_version}/${lang}`);
      const block = noticeBlock(renderMarkdown(full.text, { headingLevel: 3 }));
      block.classList.add('full-notice');
      block.id = 'full-notice';
      block.tabIndex = 0;
      block.setAttribute('role', 'region');
      block.setAttribute('aria-label', t('notice_full_label'));
      replace(fullArea, block);
    } catch {
      replace(fullArea, h('p', { class: 'notice error' }, t('notice_failed')));
    }
  });

  // The checkboxes come once the notice is shown: nobody accepts a notice
  // they could not read yet, and a notice arriving above a box already on
  // the screen would move it from under the patient's finger (most likely
  // why a click on it missed in the benchmark's browser on a loaded machine).
  const consentArea = h('div');
  const form = h('form', { novalidate: true }, noticeArea, showFull, fullArea, consentArea);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(error);
    if (!privacy.checked) {
      replace(error, h('p', { class: 'notice error', role: 'alert' }, t('consent_needed')));
      privacy.focus();
      return;
    }
    submit.disabled = true;
    try {
      info.consent = await post(`/join/${encodeURIComponent(flow.token)}/consent`, {
        notice_version: info.privacy_notice_version,
        language: lang,
        accept_privacy: true,
        recording: recording.checked,
      });
      say(t('consent_saved'));
      go('devices');
    } catch (err) {
      submit.disabled = false;
      if (['join_link_expired', 'join_link_revoked', 'consult_cancelled', 'not_found'].includes(err.code)) {
        go('problem', { error: err });
      } else {
        replace(error, h('p', { class: 'notice error', role: 'alert' }, err.code === 'network' ? t('problem_network') : t('consent_failed')));
      }
    }
  });

  replace(main,
    h('section', { class: 'step', 'aria-labelledby': 'hello' },
      h('p', { class: 'step-count' }, t('step_of', { n: 1, total: 3 })),
      h('h1', { id: 'hello' }, t('hello', { name: info.patient_given_names })),
      h('p', { class: 'when' }, t('your_consult_with', { doctor: info.specialist_name }),
        info.specialty ? ` (${info.specialty})` : '',
        h('strong', {}, when.toLocaleString(locale(), { weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }))),
      info.clinic_name ? h('p', {}, t('from_clinic', { clinic: info.clinic_name })) : null),
    h('section', { class: 'step' }, form));

  try {
    const notice = await get(`/privacy-notice/${info.privacy_notice_version}/${lang}?simplified=true`);
    replace(noticeArea, noticeBlock(renderMarkdown(notice.text, { headingLevel: 2 })));
  } catch {
    // The full notice stays one tap away.
    replace(noticeArea, h('p', { class: 'notice error' }, t('notice_failed')));
  }
  noticeArea.removeAttribute('aria-busy');
  replace(consentArea,
    h('fieldset', {},
      h('legend', {}, t('consent_legend')),
      h('label', { class: 'check', for: privacy.id }, privacy, h('span', {}, h('strong', {}, t('consent_privacy')), h('br'), t('consent_privacy_required'))),
      h('label', { class: 'check', for: recording.id }, recording, h('span', {}, t('consent_recording'), h('br'), h('span', { class: 'hint' }, t('consent_recording_optional'))))),
    error,
    submit);
}
