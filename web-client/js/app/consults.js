// Lists of consults: today, a week (with previous/next), and the last 30
// days. Times are shown in the viewer's time zone, which is also the zone the
// server uses to cut the days.

import { get, query } from '../api.js';
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { timeZone, isoDay, addDays, time, dayTitle, statusBadge } from './format.js';
import { errorBox } from './ui.js';

function row(c) {
  return h('li', {},
    h('a', { class: 'consult-row', href: `#/consulta/${c.id}`, dataset: { consultId: c.id } },
      h('span', { class: 'time' }, time(c.starts_at)),
      h('span', { class: 'who-line' }, c.patient_name,
        h('span', { class: 'sub' }, `${c.reason} · ${c.duration_min} min · ${c.specialist_name}`)),
      statusBadge(c.status)));
}

function head(title, ...extra) {
  return h('div', { class: 'page-head' },
    h('div', {}, h('h1', {}, title), h('p', { class: 'tz' }, t('times_in_zone', { tz: timeZone }))),
    h('div', { class: 'actions' }, ...extra, h('a', { class: 'btn primary', href: '#/nueva' }, t('nav_new'))));
}

async function load(params) {
  return get(`/consults${query({ ...params, tz: timeZone })}`);
}

export async function showDay(main) {
  const today = isoDay();
  let consults;
  try {
    consults = await load({ day: today });
  } catch (err) {
    replace(main, head(t('today_title')), errorBox(err));
    return;
  }
  replace(main,
    head(t('today_title')),
    h('p', { class: 'meta' }, dayTitle(today)),
    consults.length
      ? h('ul', { class: 'consults', 'aria-label': t('today_title') }, consults.map(row))
      : h('p', { class: 'empty' }, t('today_empty')));
}

function grouped(consults, days) {
  const byDay = new Map(days.map((d) => [d, []]));
  for (const c of consults) byDay.get(isoDay(new Date(c.starts_at)))?.push(c);
  return [...byDay].map(([day, list]) => h('section', { class: 'day-group', 'aria-label': dayTitle(day) },
    h('h2', {}, dayTitle(day)),
    list.length ? h('ul', { class: 'consults' }, list.map(row)) : h('p', { class: 'empty' }, t('day_empty'))));
}

export async function showWeek(main, _me, from) {
  const first = from ?? isoDay();
  const days = Array.from({ length: 7 }, (_, i) => addDays(first, i));
  const nav = [
    h('a', { class: 'btn', href: `#/semana/${addDays(first, -7)}` }, t('week_prev')),
    h('a', { class: 'btn', href: `#/semana/${addDays(first, 7)}` }, t('week_next')),
  ];
  let consults;
  try {
    consults = await load({ from: first, days: 7 });
  } catch (err) {
    replace(main, head(t('week_title'), ...nav), errorBox(err));
    return;
  }
  replace(main, head(t('week_title'), ...nav), ...grouped(consults, days));
}

export async function showPast(main) {
  const today = isoDay();
  let consults;
  try {
    consults = await load({ from: addDays(today, -30), days: 31 });
  } catch (err) {
    replace(main, head(t('past_title')), errorBox(err));
    return;
  }
  const now = Date.now();
  const past = consults.filter((c) => new Date(c.starts_at).getTime() < now).reverse();
  replace(main,
    head(t('past_title')),
    h('p', { class: 'hint' }, t('past_intro')),
    past.length ? h('ul', { class: 'consults' }, past.map((c) => {
      const li = row(c);
      li.querySelector('.sub').prepend(`${dayTitle(isoDay(new Date(c.starts_at)))} · `);
      return li;
    })) : h('p', { class: 'empty' }, t('past_empty')));
}
