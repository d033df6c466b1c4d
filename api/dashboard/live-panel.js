// The live table: the latest readings per sensor from the SSE feed, filtered by kind.

import { liveStatus, liveURL } from './api.js';
import { h } from './charts.js';
import { statusBadge } from './detail-panel.js';
import { binBand, byPrimary, fmtHour, fmtNum, fmtTime, fmtValue, metricLabel, pm25Band, shortId } from './format.js';
import { t } from './i18n.js';
import { kindName, kindSymbol } from './map.js';
import { loadMap, sensorMap } from './map-panel.js';
import { $, kindOf, loadRegistry, needAuth, state } from './page.js';
import { scheduleSpark } from './spark-panel.js';

const FRESH_MS = 4000; // how long a row stays highlighted after a reading
const MAX_ROWS = 80;

export function setLive(st, text) {
  const el = $('#live-status');
  el.dataset.state = st;
  el.textContent = text;
}

export function stopLive(why) {
  if (state.source) state.source.close();
  state.source = null;
  clearTimeout(state.retry);
  if (why === 'unauthorized') setLive('unauthorized', t('live.unauthorized'));
}

export function startLive() {
  stopLive();
  const es = new EventSource(liveURL());
  state.source = es;
  setLive('connecting', t('live.connecting'));
  const parse = (e) => { try { return JSON.parse(e.data); } catch { return null; } };
  es.addEventListener('latest', (e) => { const d = parse(e); if (d) onReading(d, false); });
  es.addEventListener('reading', (e) => { const d = parse(e); if (d) onReading(d, true); });
  es.addEventListener('snapshot_end', (e) => {
    const d = parse(e) ?? {};
    if (d.live_bus === false) setLive('off', t('live.off'));
    else setLive('live', t('live.live'));
    renderLive();
  });
  es.addEventListener('lagged', (e) => {
    const d = parse(e) ?? {};
    $('#live-note').textContent = d.missed == null ? t('live.lagged-some') : t('live.lagged', { n: fmtNum(d.missed) });
  });
  es.addEventListener('error', async () => {
    if (state.source !== es) return;
    if (es.readyState === EventSource.CONNECTING) {
      setLive('reconnecting', t('live.reconnecting'));
      return;
    }
    // Closed for good (an HTTP error): find out which, then retry or ask for a key.
    setLive('offline', t('live.offline'));
    const status = await liveStatus();
    if (state.source !== es) return;
    if (status === 401) {
      needAuth();
      return;
    }
    setLive('offline', status ? t('live.retrying-status', { status }) : t('live.retrying'));
    state.retry = setTimeout(startLive, 5000);
  });
}

function onReading(ev, live) {
  if (!ev.sensor_id || !ev.metric) return;
  let row = state.rows.get(ev.sensor_id);
  if (!row) {
    row = { id: ev.sensor_id, time: new Date(0), fresh: 0, readings: new Map() };
    state.rows.set(ev.sensor_id, row);
  }
  const t = new Date(ev.time);
  const old = row.readings.get(ev.metric);
  if (!old || t >= old.time) row.readings.set(ev.metric, { value: ev.value, unit: ev.unit, time: t });
  if (t > row.time) row.time = t;
  if (live) {
    row.fresh = Date.now();
    state.received += 1;
    if (!state.sensors.has(ev.sensor_id)) scheduleRegistry();
    scheduleSpark(ev.metric);
  }
  sensorMap.update(ev);
  scheduleRender();
}

let renderTimer = null;
function scheduleRender() {
  if (renderTimer) return;
  renderTimer = setTimeout(() => { renderTimer = null; renderLive(); }, 150);
}

let registryTimer = null;
let registryAt = 0;
function scheduleRegistry() {
  // A sensor we have not seen: ingest registered it with its first readings; pick it up (and its
  // position) soon, but not on every reading.
  if (registryTimer) return;
  const wait = Math.max(1500, registryAt + 15_000 - Date.now());
  registryTimer = setTimeout(async () => {
    registryTimer = null;
    registryAt = Date.now();
    try { await loadRegistry(); } catch { return; }
    await loadMap();
    renderLive();
  }, wait);
}

function chip(metric, r, kind) {
  const el = h('span', { class: 'chip', title: t('live.chip-title', { metric, time: fmtTime(r.time) }) },
    h('span', { class: 'm', text: metricLabel(metric) }), h('span', { class: 'v', text: fmtValue(r.value, r.unit) }));
  let band = null;
  if (kind === 'bin' && metric === 'fill_level') band = binBand(r.value);
  if (kind === 'air' && metric === 'pm25') band = pm25Band(r.value);
  if (band) {
    const dot = h('span', { class: 'dot', title: band.label });
    dot.style.background = band.colour;
    el.prepend(dot);
  }
  return el;
}

export function renderLive() {
  const now = Date.now();
  const rows = [...state.rows.values()]
    .filter((r) => !state.kindFilter || kindOf(r.id) === state.kindFilter)
    .sort((a, b) => b.time - a.time || a.id.localeCompare(b.id))
    .slice(0, MAX_ROWS);
  const trs = rows.map((r) => {
    const kind = kindOf(r.id);
    const reg = state.sensors.get(r.id);
    const metrics = [...r.readings.keys()].sort(byPrimary(kind));
    const shown = metrics.slice(0, 3);
    const rest = metrics.length - shown.length;
    const fresh = now - r.fresh < FRESH_MS;
    const health = state.health.get(r.id);
    return h('tr', { 'data-sensor': r.id, 'data-kind': kind, 'data-opens-detail': '', tabindex: 0,
      'data-health': health?.status ?? 'unknown', class: fresh ? 'fresh' : null },
      h('td', { class: 'time', text: fmtTime(r.time) }),
      h('td', { class: 'sensor', title: r.id }, kindSymbol(kind), h('span', { class: 'id', text: shortId(r.id) }),
        h('span', { class: 'where', text: `${kindName(kind)} · ${reg?.district ?? t('district.none')}` })),
      h('td', { class: 'status' }, health ? statusBadge(health.status) : h('span', { class: 'muted', text: '–' })),
      h('td', { class: 'readings' }, h('div', { class: 'chipset' }, shown.map((m) => chip(m, r.readings.get(m), kind)),
        rest > 0 ? h('span', { class: 'more', title: metrics.slice(3).map(metricLabel).join(', '), text: `+${rest}` })
          : null)));
  });
  $('#live-table tbody').replaceChildren(...trs);
  const empty = $('#live-empty');
  empty.hidden = trs.length > 0;
  if (!trs.length) {
    empty.textContent = state.rows.size && state.kindFilter
      ? t('live.empty-kind', { kind: kindName(state.kindFilter) })
      : t('live.empty');
  }
  $('#live-count').textContent = state.received
    ? t('live.count', { n: state.received, count: fmtNum(state.received), since: fmtHour(state.since) }) : '';
  if (rows.some((r) => now - r.fresh < FRESH_MS)) {
    setTimeout(scheduleRender, FRESH_MS); // un-highlight
  }
}

export function setupFilter() {
  for (const b of document.querySelectorAll('#live-filter button')) {
    b.addEventListener('click', () => {
      state.kindFilter = b.dataset.kind;
      for (const o of document.querySelectorAll('#live-filter button')) o.setAttribute('aria-pressed', String(o === b));
      renderLive();
    });
  }
}
