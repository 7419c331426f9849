// "Nueva consulta": find the patient (name or CURP) or register them, pick
// the specialist (clinic staff), date, time, duration and reason, and show
// the join link once the consult exists.

import { get, post, query } from '../api.js';
import { h, replace, field } from '../dom.js';
import { t } from '../i18n.js';
import { isoDay, isoTime, toInstant, dateLong, time } from './format.js';
import { linkPanel } from './link.js';
import { announce, errorBox } from './ui.js';

const CURP_RE = /^[A-Z]{4}\d{6}[HMX][A-Z]{5}[A-Z0-9]\d$/i;
const LANGUAGES = ['es', 'en', 'nah', 'yua', 'tzo', 'tzh', 'mix', 'zap', 'oto', 'maz'];

function age(dob) {
  const d = new Date(`${dob}T12:00:00Z`);
  const now = new Date();
  let years = now.getUTCFullYear() - d.getUTCFullYear();
  if (now.getUTCMonth() < d.getUTCMonth() || (now.getUTCMonth() === d.getUTCMonth() && now.getUTCDate() < d.getUTCDate())) years -= 1;
  return years;
}

function patientSummary(p) {
  return [h('strong', {}, `${p.given_names} ${p.family_names}`),
    h('span', { class: 'meta' }, ` · ${t('years_old', { n: age(p.date_of_birth) })} · ${p.curp ?? t('no_curp')} · ${p.folio}`)];
}

export async function showNewConsult(main, me) {
  let patient = null;
  const patientArea = h('div');
  const scheduleArea = h('div');
  replace(main, h('h1', {}, t('new_title')), patientArea, scheduleArea);

  function choose(p) {
    patient = p;
    replace(patientArea,
      h('section', { class: 'card chosen', 'aria-labelledby': 'pt-title' },
        h('h2', { id: 'pt-title' }, t('new_step_patient')),
        h('p', {}, ...patientSummary(p)),
        h('button', { type: 'button', class: 'btn', onclick: () => { patient = null; renderSearch(); renderSchedule(); } }, t('patient_change'))));
    renderSchedule();
    scheduleArea.querySelector('input, select')?.focus();
  }

  function renderSearch() {
    const q = h('input', { type: 'search', autocomplete: 'off', spellcheck: false });
    const results = h('div', { 'aria-live': 'polite' });
    const form = h('form', { role: 'search' },
      field(t('patient_search_label'), q, t('patient_search_hint')),
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'btn primary' }, t('patient_search_button')),
        h('button', { type: 'button', class: 'btn', onclick: () => renderCreate(q.value) }, t('patient_create_button'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const text = q.value.trim();
      if (!text) return;
      replace(results, h('p', {}, t('searching')));
      try {
        const found = await get(`/patients${query(CURP_RE.test(text) ? { curp: text.toUpperCase() } : { q: text })}`);
        replace(results, found.length
          ? h('ul', { class: 'results', 'aria-label': t('patient_results') }, found.map((p) => h('li', {},
            h('span', {}, ...patientSummary(p)),
            h('button', { type: 'button', class: 'btn', onclick: () => choose(p) }, t('patient_choose')))))
          : h('p', { class: 'notice' }, t('patient_none')));
      } catch (err) {
        replace(results, errorBox(err));
      }
    });
    replace(patientArea, h('section', { class: 'card', 'aria-labelledby': 'pt-title' },
      h('h2', { id: 'pt-title' }, t('new_step_patient')), form, results));
  }

  function renderCreate(prefill = '') {
    const looksLikeCurp = CURP_RE.test(prefill.trim());
    const given = h('input', { type: 'text', name: 'given_names', required: true, autocomplete: 'off' });
    const family = h('input', { type: 'text', name: 'family_names', required: true, autocomplete: 'off' });
    if (!looksLikeCurp && prefill.trim()) {
      const words = prefill.trim().split(/\s+/);
      given.value = words[0];
      family.value = words.slice(1).join(' ');
    }
    const dob = h('input', { type: 'date', name: 'date_of_birth', required: true, max: isoDay(), min: '1900-01-01' });
    const sexes = ['F', 'M', 'X'].map((s) => h('label', { class: 'check' },
      h('input', { type: 'radio', name: 'sex', value: s, required: true }), t(`sex_${s}`)));
    const phone = h('input', { type: 'tel', name: 'phone', autocomplete: 'off', inputmode: 'tel' });
    const curp = h('input', { type: 'text', name: 'curp', maxLength: 18, autocomplete: 'off', spellcheck: false, style: 'text-transform:uppercase' });
    if (looksLikeCurp) curp.value = prefill.trim().toUpperCase();
    const lang = h('select', { name: 'preferred_language' }, LANGUAGES.map((l) => h('option', { value: l }, t(`lang_${l}`))));
    const error = h('div', { 'aria-live': 'assertive' });
    const form = h('form', { novalidate: true },
      h('div', { class: 'grid-2' }, field(t('given_names'), given), field(t('family_names'), family)),
      h('div', { class: 'grid-2' },
        field(t('date_of_birth'), dob),
        h('fieldset', {}, h('legend', {}, t('sex')), h('div', { class: 'radio-row' }, sexes))),
      h('div', { class: 'grid-2' },
        field(t('curp_optional'), curp, t('curp_hint')),
        field(t('phone_optional'), phone, t('phone_hint'))),
      field(t('preferred_language'), lang),
      error,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'btn primary' }, t('patient_save')),
        h('button', { type: 'button', class: 'btn', onclick: renderSearch }, t('back_to_search'))));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      replace(error);
      const sex = form.querySelector('input[name=sex]:checked')?.value;
      if (!given.value.trim() || !family.value.trim() || !dob.value || !sex) {
        replace(error, h('p', { class: 'notice error', role: 'alert' }, t('patient_missing')));
        return;
      }
      try {
        const p = await post('/patients', {
          given_names: given.value.trim(),
          family_names: family.value.trim(),
          date_of_birth: dob.value,
          sex,
          phone: phone.value.trim() || null,
          curp: curp.value.trim().toUpperCase() || null,
          preferred_language: lang.value,
        });
        announce(t('patient_created', { name: `${p.given_names} ${p.family_names}` }));
        choose(p);
      } catch (err) {
        replace(error, errorBox(err));
      }
    });
    replace(patientArea, h('section', { class: 'card', 'aria-labelledby': 'pt-title' },
      h('h2', { id: 'pt-title' }, t('patient_create_title')), form));
    given.focus();
  }

  async function renderSchedule() {
    if (!patient) {
      replace(scheduleArea, h('section', { class: 'card' }, h('h2', {}, t('new_step_when')), h('p', { class: 'hint' }, t('choose_patient_first'))));
      return;
    }
    let specialistSelect = null;
    if (me.role !== 'specialist') {
      let specialists = [];
      try {
        specialists = await get('/specialists');
      } catch (err) {
        replace(scheduleArea, errorBox(err));
        return;
      }
      specialistSelect = h('select', { name: 'specialist', required: true },
        h('option', { value: '' }, t('specialist_pick')),
        specialists.map((s) => h('option', { value: s.id }, s.specialty ? `${s.full_name} — ${s.specialty}` : s.full_name)));
    }
    const next = new Date(Math.ceil((Date.now() + 5 * 60000) / 900000) * 900000);
    const date = h('input', { type: 'date', name: 'date', required: true, value: isoDay(next), min: isoDay() });
    const hour = h('input', { type: 'time', name: 'time', required: true, value: isoTime(next), step: 60 });
    const duration = h('select', { name: 'duration' }, [15, 20, 30, 45, 60, 90].map((m) => h('option', { value: m, selected: m === 30 }, `${m} min`)));
    const reason = h('textarea', { name: 'reason', required: true, rows: 3, maxLength: 500 });
    const error = h('div', { 'aria-live': 'assertive' });
    const form = h('form', { novalidate: true },
      specialistSelect ? field(t('specialist'), specialistSelect) : null,
      h('div', { class: 'grid-3' }, field(t('date'), date), field(t('time_local'), hour), field(t('duration'), duration)),
      field(t('reason'), reason, t('reason_hint')),
      error,
      h('button', { type: 'submit', class: 'btn primary' }, t('consult_create')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      replace(error);
      const startsAt = toInstant(date.value, hour.value);
      if (!startsAt || !reason.value.trim() || (specialistSelect && !specialistSelect.value)) {
        replace(error, h('p', { class: 'notice error', role: 'alert' }, t('consult_missing')));
        return;
      }
      try {
        const created = await post('/consults', {
          patient_id: patient.id,
          specialist_id: specialistSelect ? Number(specialistSelect.value) : undefined,
          starts_at: startsAt,
          duration_min: Number(duration.value),
          reason: reason.value.trim(),
        });
        showCreated(created);
      } catch (err) {
        replace(error, errorBox(err));
      }
    });
    replace(scheduleArea, h('section', { class: 'card', 'aria-labelledby': 'when-title' },
      h('h2', { id: 'when-title' }, t('new_step_when')), form));
  }

  function showCreated({ consult, join_link: link }) {
    replace(main,
      h('h1', {}, t('consult_created_title')),
      h('div', { class: 'notice ok', role: 'status' },
        h('p', {}, t('consult_created_body', { name: consult.patient_name, when: `${dateLong(consult.starts_at)}, ${time(consult.starts_at)}` }))),
      linkPanel(consult.id, link),
      h('div', { class: 'actions' },
        h('a', { class: 'btn', href: `#/consulta/${consult.id}` }, t('consult_open')),
        h('a', { class: 'btn', href: '#/hoy' }, t('nav_today'))));
    announce(t('consult_created_title'));
    main.querySelector('.btn.primary')?.focus();
  }

  renderSearch();
  renderSchedule();
}
