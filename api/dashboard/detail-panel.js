// The sensor detail view, built once and opened from anywhere a sensor is shown (map, live table,
// fleet health, bin list): its registry entry, its health and problems with its expected interval,
// its latest values, and a chart per metric over the last 24 hours or 7 days.

import { ApiError, getJSON } from './api.js';
import { h, sparkline } from './charts.js';
import {
  CITY_TZ, byPrimary, fmtDayTime, fmtNum, fmtSeconds, fmtTime, fmtValue, metricLabel, statusColour, statusLabel,
} from './format.js';
import { locale, t } from './i18n.js';
import { kindName, kindSymbol } from './map.js';
import { $, fail, state } from './page.js';

const RANGES = {
  '24h': { hours: 24, bucket: '15m', bucketS: 900 },
  '7d': { hours: 24 * 7, bucket: '1h', bucketS: 3600 },
};
const MAX_METRICS = 8;
const COUNTS = new Set(['bikes', 'cars', 'pedestrians', 'heavy_vehicles']);
const CUMULATIVE = new Set(['energy_import', 'energy_export', 'gas_volume']);

let current = null; // {id, range, latest}
let generation = 0;

/** A status badge: the health status in words, coloured. */
export function statusBadge(status) {
  const el = h('span', { class: 'badge', 'data-status': status, text: statusLabel(status) });
  el.style.background = statusColour(status);
  return el;
}

function aggOf(metric) {
  if (COUNTS.has(metric)) return 'sum';
  if (CUMULATIVE.has(metric)) return 'increase';
  return 'avg';
}

const axisFmt = () => new Intl.DateTimeFormat(locale(), { timeZone: CITY_TZ, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

async function metricCard(id, lv, range, mine) {
  const card = h('article', { class: 'metric-card', 'data-metric': lv.metric },
    h('header', {}, h('strong', { text: metricLabel(lv.metric) }), ' ',
      h('span', { class: 'latest', text: fmtValue(lv.value, lv.unit) }),
      h('span', { class: 'muted small', text: ` · ${fmtTime(lv.time)}` })));
  const body = h('div', { class: 'metric-chart' }, h('p', { class: 'empty', text: t('loading') }));
  card.append(body);
  const { hours, bucket, bucketS } = RANGES[range];
  const end = new Date();
  end.setMinutes(0, 0, 0);
  end.setHours(end.getHours() + 1);
  const start = new Date(end.getTime() - hours * 3600_000);
  const agg = aggOf(lv.metric);
  getJSON('api/v1/aggregates', {
    metric: lv.metric, sensor: id, bucket, agg, group_by: 'none', fill: 'null',
    from: start.toISOString(), to: end.toISOString(),
  }).then((res) => {
    if (mine !== generation) return;
    const points = res.data.map((d) => ({ t: new Date(d.bucket), v: d.value }));
    const vals = points.filter((p) => p.v != null).map((p) => p.v);
    if (!vals.length) {
      body.replaceChildren(h('p', { class: 'empty', text: t('detail.no-data') }));
      return;
    }
    const what = t(`detail.agg.${agg}`, { bucket: fmtSeconds(bucketS) });
    body.replaceChildren(
      sparkline(points, { colour: '#0b5cad', width: 420, height: 90, title: `${metricLabel(lv.metric)}, ${what}` }),
      h('p', { class: 'range small muted' },
        `${axisFmt().format(start)} – ${axisFmt().format(end)} · ${what} · `,
        t('detail.minmax', { min: fmtNum(Math.min(...vals)), max: fmtValue(Math.max(...vals), lv.unit) })),
    );
    Object.assign(body.dataset, { points: String(vals.length), from: start.toISOString(), to: end.toISOString(), agg, bucket });
  }).catch((err) => { if (mine === generation) fail(body, err); });
  return card;
}

function healthBlock(health) {
  if (!health) return h('p', { class: 'muted', text: t('detail.health.unknown') });
  const problems = health.problems.map((pr) => h('li', { 'data-problem': pr.kind },
    statusBadge(pr.kind), ' ', pr.metric ? `${metricLabel(pr.metric)} · ` : '',
    pr.since ? t('detail.since', { time: fmtDayTime(pr.since) }) : '',
    h('span', { class: 'muted small server-detail', title: t('detail.server-detail'), text: ` (${pr.detail})` })));
  return h('div', { class: 'detail-health' },
    h('p', {}, statusBadge(health.status), ' ',
      t('detail.interval', { interval: health.expected_interval_s == null ? '–' : fmtSeconds(health.expected_interval_s) }),
      ' · ', t('detail.last-seen', { time: health.last_seen ? fmtDayTime(health.last_seen) : '–' })),
    problems.length ? h('ul', { class: 'problems' }, problems) : h('p', { class: 'muted', text: t('detail.healthy') }));
}

async function render() {
  const mine = ++generation;
  const cur = current;
  const { id, range } = cur;
  const reg = state.sensors.get(id);
  const kind = reg?.kind ?? 'unknown';
  $('#detail-title').replaceChildren(kindSymbol(kind), ' ', id);
  const meta = reg?.metadata ?? {};
  const place = meta.street ?? meta.site ?? meta.building ?? meta.room;
  $('#detail-meta').textContent = [kindName(kind), reg?.district ?? t('district.none'), reg?.model, place]
    .filter(Boolean).join(' · ');
  $('#detail-health').replaceChildren(healthBlock(state.health.get(id)));
  for (const b of document.querySelectorAll('#sensor-detail [data-range]')) b.setAttribute('aria-pressed', String(b.dataset.range === range));
  const box = $('#detail-metrics');
  box.dataset.sensor = id;
  box.dataset.range = range;
  try {
    cur.latest ??= (await getJSON(`api/v1/sensors/${encodeURIComponent(id)}/latest`)).data;
  } catch (err) {
    if (mine !== generation) return;
    if (err instanceof ApiError && err.status === 404) box.replaceChildren(h('p', { class: 'empty', text: t('detail.unknown') }));
    else fail(box, err);
    return;
  }
  if (mine !== generation) return;
  const latest = [...cur.latest].sort((a, b) => byPrimary(kind)(a.metric, b.metric)).slice(0, MAX_METRICS);
  if (!latest.length) {
    box.replaceChildren(h('p', { class: 'empty', text: t('detail.no-readings') }));
    return;
  }
  box.replaceChildren(...await Promise.all(latest.map((lv) => metricCard(id, lv, range, mine))));
}

/** Open the detail view of a sensor. */
export function openDetail(id) {
  current = { id, range: current?.id === id ? current.range : '24h', latest: null };
  const dlg = $('#sensor-detail');
  if (!dlg.open) dlg.showModal();
  render();
}

export function setupDetail() {
  const dlg = $('#sensor-detail');
  $('#detail-close').addEventListener('click', () => dlg.close());
  dlg.addEventListener('click', (e) => { if (e.target === dlg) dlg.close(); }); // a click on the backdrop
  dlg.addEventListener('close', () => { generation += 1; current = null; });
  for (const b of dlg.querySelectorAll('[data-range]')) {
    b.addEventListener('click', () => {
      if (!current || current.range === b.dataset.range) return;
      current.range = b.dataset.range;
      render();
    });
  }
  // Anything that names a sensor (data-sensor) and is marked openable opens its detail.
  document.addEventListener('click', (e) => {
    const row = e.target.closest?.('[data-opens-detail][data-sensor]');
    if (row) openDetail(row.dataset.sensor);
  });
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    const row = e.target.closest?.('[data-opens-detail][data-sensor]');
    if (row) openDetail(row.dataset.sensor);
  });
}
