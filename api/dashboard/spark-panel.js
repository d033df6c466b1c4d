// The sparkline cards: the last 24 hours of one metric each, refetched (throttled) as live readings come.

import { getJSON } from './api.js';
import { h, sparkline } from './charts.js';
import { binBand, fmtHour, fmtNum, fmtValue, pm25Band, unitLabel } from './format.js';
import { loadBins } from './bins-panel.js';
import { kindSymbol } from './map.js';
import { t } from './i18n.js';
import { $, fail } from './page.js';

// Title and note: the messages spark.<metric>.title and spark.<metric>.note.
export const SPARKS = [
  { metric: 'power', kind: 'energy', agg: 'avg', unit: 'W', colour: '#0072b2' },
  { metric: 'pm25', kind: 'air', agg: 'avg', unit: 'ug/m3', colour: '#b0417a' },
  { metric: 'bikes', kind: 'mobility', agg: 'sum', unit: 'count', colour: '#009e73' },
  { metric: 'fill_level', kind: 'bin', agg: 'avg', unit: '%', colour: '#c97a00' },
];

const SPARK_MIN_GAP = 10_000; // live readings redraw a sparkline at most this often
const BINS_MIN_GAP = 15_000; // and the bin urgency list

export function sparkCard(cfg) { return $(`#spark-${cfg.metric}`); }

export async function loadSpark(cfg) {
  const card = sparkCard(cfg);
  const title = t(`spark.${cfg.metric}.title`);
  const head = h('header', {}, kindSymbol(cfg.kind, cfg.colour), h('span', { text: title }));
  try {
    const res = await getJSON('api/v1/aggregates', {
      metric: cfg.metric, bucket: '1h', agg: cfg.agg, group_by: 'none', fill: 'null',
    });
    const points = res.data.map((d) => ({ t: new Date(d.bucket), v: d.value }));
    const withData = points.filter((p) => p.v != null);
    if (!withData.length) {
      card.replaceChildren(head, h('p', { class: 'empty', text: t('spark.empty') }));
      card.dataset.points = '0';
      return;
    }
    const last = withData[withData.length - 1];
    const vals = withData.map((p) => p.v);
    let chip = null;
    if (cfg.metric === 'pm25') chip = pm25Band(last.v);
    if (cfg.metric === 'fill_level') chip = binBand(last.v);
    const big = h('div', { class: 'big' },
      h('span', { class: 'v', text: fmtNum(last.v) }), h('span', { class: 'u', text: unitLabel(cfg.unit) }),
      chip ? h('span', { class: 'band', 'data-colour': chip.colour, text: chip.label }) : null);
    const end = new Date(last.t.getTime() + 3600_000);
    card.replaceChildren(
      head, big,
      h('p', { class: 'note', text: `${t(`spark.${cfg.metric}.note`)}, ${fmtHour(last.t)}–${fmtHour(end)}` }),
      sparkline(points, { colour: cfg.colour, title: t('spark.chart-title', { title }) }),
      h('p', { class: 'range', text: t('spark.range', { min: fmtNum(Math.min(...vals)), max: fmtValue(Math.max(...vals), cfg.unit) }) }),
    );
    card.dataset.points = String(withData.length);
    const band = card.querySelector('.band');
    if (band) {
      band.style.background = band.dataset.colour;
      band.classList.toggle('dark', ['#960032', '#7d2181', '#d64545', '#ff5050'].includes(band.dataset.colour));
    }
  } catch (err) {
    card.replaceChildren(head);
    const p = h('p');
    card.append(p);
    fail(p, err);
  }
}

// At most one refetch per `gap` ms per key, however many live readings ask for it.
const refetch = new Map(); // key -> {at, timer}
function throttled(key, gap, fn) {
  const r = refetch.get(key) ?? { at: 0, timer: null };
  refetch.set(key, r);
  if (r.timer) return;
  const wait = Math.max(0, r.at + gap - Date.now()) + 500; // a moment for the commit to be everywhere
  r.timer = setTimeout(() => { r.timer = null; r.at = Date.now(); fn(); }, wait);
}

export function scheduleSpark(metric) {
  const cfg = SPARKS.find((c) => c.metric === metric);
  if (cfg) throttled(`spark:${metric}`, SPARK_MIN_GAP, () => loadSpark(cfg));
  if (metric === 'fill_level') throttled('bins', BINS_MIN_GAP, loadBins);
}
