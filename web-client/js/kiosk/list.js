// The kiosk's home screen: today's consults of the clinic as large cards.
// Scheduled and waiting consults open "Iniciar consulta" with one tap; the
// others show their status only.

import { get, query } from '../api.js';
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { timeZone, isoDay, time, dayTitle, statusBadge } from '../app/format.js';
import { errorText } from '../app/ui.js';

const STARTABLE = ['scheduled', 'waiting'];

function card(c, onPick) {
  const body = [
    h('span', { class: 'k-time' }, time(c.starts_at)),
    h('span', { class: 'k-who' },
      h('span', { class: 'k-name' }, c.patient_name),
      h('span', { class: 'k-sub' }, t('kiosk_with', { doctor: c.specialist_name }), c.specialty ? ` · ${c.specialty}` : '')),
    h('span', { class: 'k-state' }, statusBadge(c.status),
      STARTABLE.includes(c.status) ? h('span', { class: 'k-go', 'aria-hidden': 'true' }, t('kiosk_tap_to_start')) : null),
  ];
  if (!STARTABLE.includes(c.status)) return h('li', {}, h('div', { class: 'k-card inert' }, body));
  return h('li', {}, h('button', {
    type: 'button', class: 'k-card', dataset: { consultId: c.id },
    'aria-label': t('kiosk_card_label', { time: time(c.starts_at), name: c.patient_name, doctor: c.specialist_name, status: t(`status_${c.status}`) }),
    onclick: () => onPick(c),
  }, body));
}

export async function showList(main, onPick) {
  const today = isoDay();
  const refresh = h('button', { type: 'button', class: 'btn k-big', onclick: () => showList(main, onPick) }, t('kiosk_refresh'));
  const head = h('div', { class: 'k-head' },
    h('div', {}, h('h1', { id: 'k-title' }, t('kiosk_list_title')), h('p', { class: 'k-day' }, dayTitle(today))),
    refresh);
  let consults;
  try {
    consults = await get(`/consults${query({ day: today, tz: timeZone })}`);
  } catch (err) {
    replace(main, head, h('p', { class: 'notice error', role: 'alert' }, errorText(err)));
    return;
  }
  replace(main, head,
    consults.length
      ? h('ul', { class: 'k-list', 'aria-labelledby': 'k-title' }, consults.map((c) => card(c, onPick)))
      : h('p', { class: 'k-empty' }, t('kiosk_list_empty')),
    h('p', { class: 'k-hint' }, t('kiosk_list_hint')));
}
