// The strings of the interface live in ../i18n/<lang>.js; t() looks a key up
// in the current language, falls back to Spanish, and fills {name} slots.

import es from '../i18n/es.js';
import en from '../i18n/en.js';

const tables = { es, en };
let current = 'es';

export function setLanguage(lang) {
  current = tables[lang] ? lang : 'es';
  document.documentElement.lang = current === 'es' ? 'es-MX' : 'en';
}

export function language() {
  return current;
}

/** The locale for Intl formatting. */
export function locale() {
  return current === 'es' ? 'es-MX' : 'en-US';
}

export function t(key, vars = {}) {
  const s = tables[current][key] ?? tables.es[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** Fills every [data-i18n] element's text from its key. */
export function translatePage(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
}
