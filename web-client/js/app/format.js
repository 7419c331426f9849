// Dates, times and statuses as the viewer reads them: in the browser's own
// time zone, in Spanish, and each status as a word with a symbol.

import { h } from '../dom.js';
import { t, locale } from '../i18n.js';

export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'America/Mexico_City';

/** YYYY-MM-DD of `date` in the viewer's zone. */
export function isoDay(date = new Date()) {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);
}

/** HH:MM (24 h) of `date` in the viewer's zone, for time inputs. */
export function isoTime(date) {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(date);
}

export function addDays(day, n) {
  const d = new Date(`${day}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

// Clinics read times on a 24-hour clock: no a.m./p.m. to misread.
export const time = (iso) => new Date(iso).toLocaleTimeString(locale(), { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
export const dateLong = (iso) => new Date(iso).toLocaleDateString(locale(), { timeZone, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
export const dateTime = (iso) => new Date(iso).toLocaleString(locale(), { timeZone, dateStyle: 'long', timeStyle: 'short', hourCycle: 'h23' });

/** A calendar day (YYYY-MM-DD) as words, e.g. "martes 3 de marzo". */
export function dayTitle(day) {
  return new Date(`${day}T12:00:00Z`).toLocaleDateString(locale(), { timeZone: 'UTC', weekday: 'long', day: 'numeric', month: 'long' });
}

const SYMBOLS = { scheduled: '◷', waiting: '●', in_call: '▶', completed: '✓', cancelled: '✕', no_show: '–' };

export function statusBadge(status) {
  return h('span', { class: `status ${status}`, dataset: { symbol: SYMBOLS[status] ?? '' } }, t(`status_${status}`));
}

/** Local date + time inputs → RFC 3339 in UTC. */
export function toInstant(day, hhmm) {
  const d = new Date(`${day}T${hhmm}`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
