// A signed note, read-only: the signature (who, cédula, when), every section,
// and the addenda. Also used for past consults.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { dateTime } from './format.js';
import { VITALS } from './note-form.js';

const TEXT_SECTIONS = ['reason', 'subjective', 'objective', 'assessment', 'diagnostic_criteria', 'study_plan', 'prognosis', 'suggestions'];

function section(title, content) {
  return [h('dt', {}, title), h('dd', {}, content)];
}

export function signedNoteView(note) {
  const b = note.body;
  const vitals = VITALS.filter(([name]) => b.vital_signs?.[name] !== undefined && b.vital_signs?.[name] !== null)
    .map(([name, unit]) => h('li', {}, `${t(`vital_${name}`)}: ${b.vital_signs[name]} ${unit}`));
  const text = (name) => section(t(`note_${name}`), b[name]?.trim() ? b[name] : t('none_recorded'));
  return h('div', { class: 'signed-block' },
    h('div', { class: 'signature', role: 'note' },
      h('p', {}, h('strong', {}, `✓ ${t('note_signed_by', { name: note.author_name, cedula: note.author_cedula })}`)),
      h('p', { class: 'meta' }, t('note_signed_at', { when: dateTime(note.signed_at) })),
      note.content_hash ? h('p', { class: 'meta' }, `${t('note_hash')}: ${note.content_hash.slice(0, 16)}…`) : null),
    h('dl', {},
      text('reason'), text('subjective'), text('objective'),
      section(t('note_vital_signs'), vitals.length ? h('ul', {}, vitals) : t('none_recorded')),
      text('assessment'),
      section(t('note_diagnoses'), b.diagnoses?.length
        ? h('ul', {}, b.diagnoses.map((d) => h('li', {}, h('span', { class: 'code' }, d.code), ` ${d.description}`)))
        : t('none_recorded')),
      text('diagnostic_criteria'), text('study_plan'),
      section(t('note_treatment'), b.treatment?.length
        ? h('ul', {}, b.treatment.map((rx) => h('li', {}, [rx.drug, rx.dose, rx.route, rx.frequency, rx.duration].filter(Boolean).join(' · '))))
        : t('none_recorded')),
      text('prognosis'), text('suggestions')));
}

export function addendaList(addenda) {
  if (!addenda.length) return h('p', { class: 'empty' }, t('addenda_none'));
  return h('ol', { class: 'addenda' }, addenda.map((a) => h('li', {},
    h('p', { class: 'text' }, a.body),
    h('p', { class: 'meta' }, t('addendum_by', { name: a.author_name, cedula: a.author_cedula, when: dateTime(a.signed_at) })))));
}

export { TEXT_SECTIONS };
