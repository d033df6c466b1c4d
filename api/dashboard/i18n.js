// The page's language: Dutch (nl-BE) unless the reader switched to English; the choice is kept in
// localStorage. Every visible text comes from the one catalogue, messages.js, through t().

import { MESSAGES } from './messages.js';

const LANG_STORE = 'citysense.lang';
export const LOCALES = { nl: 'nl-BE', en: 'en-GB' };
export const DEFAULT_LANG = 'nl';

function stored() {
  try { return localStorage.getItem(LANG_STORE); } catch { return null; }
}

const current = stored() in LOCALES ? stored() : DEFAULT_LANG;

export function lang() { return current; }

/** The BCP 47 locale every Intl formatter of the page uses. */
export function locale() { return LOCALES[current]; }

/** Switch the language: remembered, and the page is drawn again in it. */
export function setLang(code) {
  if (!(code in LOCALES) || code === current) return;
  try { localStorage.setItem(LANG_STORE, code); } catch { /* storage disabled: this page only */ }
  window.location.reload();
}

export function has(key) { return key in MESSAGES[current]; }

const plurals = new Intl.PluralRules(LOCALES[current]);

/**
 * The message `key` in the page's language, its {placeholders} filled from `params`. A message with
 * plural forms ({one, other}) is chosen by params.n (Intl.PluralRules).
 */
export function t(key, params = {}) {
  let msg = MESSAGES[current][key] ?? MESSAGES[DEFAULT_LANG][key];
  if (msg == null) {
    console.warn(`no message ${key}`);
    return key;
  }
  if (typeof msg === 'object') msg = msg[plurals.select(Number(params.n ?? 0))] ?? msg.other;
  return msg.replace(/\{(\w+)\}/g, (all, name) => (name in params ? String(params[name]) : all));
}

/** Fill the static page: data-i18n (text), data-i18n-title, data-i18n-aria (aria-label), data-i18n-placeholder. */
export function translatePage(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
}
