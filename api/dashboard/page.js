// The page's shared state, the sensor registry, and what an error (above all a 401) does to a panel.

import { ApiError, getJSON, storedKey } from './api.js';
import { h } from './charts.js';
import { kindOfMetric } from './format.js';
import { t } from './i18n.js';
import { stopLive } from './live-panel.js';

// A function declaration, not an arrow: the panels import each other in a cycle (a 401 stops the live
// feed, the live feed asks for a key), and map-panel.js calls $ while this module is still loading.
export function $(sel) {
  return document.querySelector(sel);
}

export const state = {
  sensors: new Map(), // id -> registry entry
  health: new Map(), // sensor id -> api/v1/sensors/health entry
  rows: new Map(), // sensor id -> {id, time: Date, fresh: ms, readings: Map(metric -> {value, unit, time})}
  kindFilter: '',
  received: 0,
  since: new Date(),
  authNeeded: false,
  source: null, // EventSource
  retry: null,
};

function problem(err) {
  if (err instanceof ApiError) {
    if (err.status === 401) return t('error.401');
    if (err.status === 0) return t('error.network');
    if (err.status === 503) return t('error.503');
    return t('error.load', { error: err.message });
  }
  console.warn(err);
  return t('error.show', { error: err?.message ?? err });
}

export function placeholder(el, text, cls = 'empty') {
  el.replaceChildren(h('p', { class: cls, text }));
}

export function fail(el, err) {
  if (err instanceof ApiError && err.status === 401) needAuth();
  placeholder(el, problem(err), err instanceof ApiError && err.status === 401 ? 'empty auth-needed' : 'empty error');
}

export function needAuth() {
  if (!state.authNeeded) {
    state.authNeeded = true;
    stopLive('unauthorized');
  }
  const had = storedKey();
  $('#auth-message').replaceChildren(
    h('strong', { text: had ? t('auth.refused') : t('auth.needed') }), ' ', t('auth.explain'),
  );
  $('#auth').hidden = false;
  document.documentElement.dataset.auth = 'needed';
}

export async function loadRegistry() {
  const reg = await getJSON('api/v1/sensors');
  state.sensors = new Map(reg.data.map((sn) => [sn.id, sn]));
}

export function kindOf(id) {
  const reg = state.sensors.get(id);
  if (reg && reg.kind !== 'unknown') return reg.kind;
  const row = state.rows.get(id);
  const metric = row ? [...row.readings.keys()].find((m) => kindOfMetric(m) !== 'unknown') : null;
  return metric ? kindOfMetric(metric) : 'unknown';
}
