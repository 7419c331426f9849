// The editable consult note (NOM-004 "nota de interconsulta"): every field
// of the note body, typed vital signs with units, CIE-10 diagnoses from a
// search box, and treatment lines. It knows nothing about saving: it calls
// onChange when the user edits, and read() returns the body to save.

import { get, query } from '../api.js';
import { h, replace, field, uid } from '../dom.js';
import { t } from '../i18n.js';

// [field, unit, min, max, step]; integer fields have step 1 (the server
// stores them as whole numbers).
export const VITALS = [
  ['systolic_mmhg', 'mmHg', 40, 300, 1],
  ['diastolic_mmhg', 'mmHg', 20, 200, 1],
  ['heart_rate_bpm', 'lpm', 20, 300, 1],
  ['respiratory_rate_rpm', 'rpm', 4, 80, 1],
  ['temperature_c', '°C', 25, 45, 0.1],
  ['spo2_percent', '%', 30, 100, 1],
  ['weight_kg', 'kg', 0.3, 400, 0.1],
  ['height_cm', 'cm', 20, 250, 0.1],
  ['glucose_mg_dl', 'mg/dL', 10, 1500, 1],
];

export const RX_FIELDS = ['drug', 'dose', 'route', 'frequency', 'duration'];

function textArea(name, value, rows = 4) {
  return h('textarea', { name, rows, value: value ?? '', maxLength: 20000 });
}

export function noteForm(body, onChange) {
  const texts = {};
  const text = (name, rows) => {
    texts[name] = textArea(name, body[name], rows);
    return field(t(`note_${name}`), texts[name], t(`note_${name}_hint`) !== `note_${name}_hint` ? t(`note_${name}_hint`) : undefined);
  };

  const vitals = {};
  const vitalFields = VITALS.map(([name, unit, min, max, step]) => {
    const input = h('input', { type: 'number', name, min, max, step, inputmode: step === 1 ? 'numeric' : 'decimal', id: uid('v') });
    const v = body.vital_signs?.[name];
    if (v !== undefined && v !== null) input.value = v;
    vitals[name] = input;
    const unitId = uid('u');
    input.setAttribute('aria-describedby', unitId);
    return h('div', { class: 'field' },
      h('label', { for: input.id }, t(`vital_${name}`)),
      h('div', { class: 'unit-input' }, input, h('span', { class: 'unit', id: unitId }, unit)));
  });

  // Diagnoses
  let diagnoses = (body.diagnoses ?? []).map((d) => ({ code: d.code, description: d.description }));
  const dxList = h('ul', { class: 'dx-list', 'aria-label': t('note_diagnoses_chosen') });
  const renderDx = () => replace(dxList, diagnoses.length ? diagnoses.map((d, i) => h('li', {},
    h('span', {}, h('span', { class: 'code' }, d.code), ` ${d.description}`),
    h('button', { type: 'button', class: 'btn quiet', 'aria-label': t('dx_remove_label', { code: d.code }),
      onclick: () => { diagnoses.splice(i, 1); renderDx(); onChange(); } }, t('remove')))) : h('li', { class: 'empty' }, t('dx_none')));
  renderDx();
  const dxSearch = h('input', { type: 'search', autocomplete: 'off', spellcheck: false, dataset: { nosave: '1' } });
  const dxResults = h('ul', { class: 'results', 'aria-label': t('dx_results') });
  const dxStatus = h('p', { class: 'hint', 'aria-live': 'polite' });
  let dxTimer = null;
  let dxSeq = 0;
  const searchDx = async () => {
    const q = dxSearch.value.trim();
    const seq = ++dxSeq;
    if (q.length < 2) {
      replace(dxResults);
      replace(dxStatus);
      return;
    }
    try {
      const found = await get(`/cie10${query({ q, limit: 10 })}`);
      if (seq !== dxSeq) return;
      replace(dxStatus, found.length ? t('dx_found', { n: found.length }) : t('dx_not_found'));
      replace(dxResults, found.map((e) => h('li', {},
        h('span', {}, h('span', { class: 'code' }, e.code), ` ${e.description}`),
        h('button', { type: 'button', class: 'btn', 'aria-label': t('dx_add_label', { code: e.code, description: e.description }),
          disabled: diagnoses.some((d) => d.code === e.code),
          onclick: () => {
            diagnoses.push({ code: e.code, description: e.description });
            renderDx();
            replace(dxResults);
            replace(dxStatus, t('dx_added', { code: e.code }));
            dxSearch.value = '';
            dxSearch.focus();
            onChange();
          } }, t('add')))));
    } catch {
      if (seq === dxSeq) replace(dxStatus, t('dx_search_failed'));
    }
  };
  dxSearch.addEventListener('input', () => {
    clearTimeout(dxTimer);
    dxTimer = setTimeout(searchDx, 250);
  });
  dxSearch.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      clearTimeout(dxTimer);
      searchDx();
    }
  });

  // Treatment
  const rxList = h('ol', { class: 'rx-list' });
  const addRx = (rx = {}) => {
    const n = rxList.children.length + 1;
    const inputs = RX_FIELDS.map((f) => h('input', { type: 'text', name: `rx_${f}`, value: rx[f] ?? '', maxLength: 200, autocomplete: 'off' }));
    const li = h('li', {},
      h('div', { class: 'grid-3' }, RX_FIELDS.map((f, i) => field(t(`rx_${f}`), inputs[i]))),
      h('button', { type: 'button', class: 'btn quiet', onclick: () => { li.remove(); onChange(); } }, t('rx_remove', { n })));
    li.rx = inputs;
    rxList.append(li);
    return inputs[0];
  };
  (body.treatment ?? []).forEach((rx) => addRx(rx));

  const form = h('form', { class: 'note-form', novalidate: true, 'aria-label': t('note_title') },
    text('reason', 2),
    text('subjective', 5),
    text('objective', 5),
    h('fieldset', {}, h('legend', {}, t('note_vital_signs')), h('div', { class: 'grid-3' }, vitalFields)),
    text('assessment', 4),
    h('fieldset', {}, h('legend', {}, t('note_diagnoses')),
      dxList,
      field(t('dx_search'), dxSearch, t('dx_search_hint')),
      dxStatus, dxResults),
    text('diagnostic_criteria', 3),
    text('study_plan', 3),
    h('fieldset', {}, h('legend', {}, t('note_treatment')),
      rxList,
      h('button', { type: 'button', class: 'btn', onclick: () => { addRx().focus(); } }, t('rx_add'))),
    text('prognosis', 2),
    text('suggestions', 4));
  form.addEventListener('submit', (ev) => ev.preventDefault());
  form.addEventListener('input', (ev) => {
    if (!ev.target.dataset.nosave) onChange();
  });

  /** The body to save, or a problem (an i18n'd sentence) that blocks saving. */
  function read() {
    const out = { vital_signs: {}, diagnoses: diagnoses.map((d) => ({ code: d.code })), treatment: [] };
    for (const [name, el] of Object.entries(texts)) out[name] = el.value;
    for (const [name, , , , step] of VITALS) {
      const el = vitals[name];
      if (el.value === '' && !el.validity.badInput) continue;
      if (!el.validity.valid) return { problem: t('vital_invalid', { field: t(`vital_${name}`), min: el.min, max: el.max }) };
      out.vital_signs[name] = step === 1 ? Math.round(Number(el.value)) : Number(el.value);
    }
    let i = 0;
    for (const li of rxList.children) {
      i += 1;
      const values = Object.fromEntries(RX_FIELDS.map((f, k) => [f, li.rx[k].value.trim()]));
      if (RX_FIELDS.every((f) => !values[f])) continue;
      if (!values.drug) return { problem: t('rx_drug_missing', { n: i }) };
      out.treatment.push(values);
    }
    return { body: out };
  }

  return { form, read };
}
