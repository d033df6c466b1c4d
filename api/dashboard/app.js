// The citysense dashboard: wires the API to the page. No framework; see docs/dashboard.md.

import { ApiError, getJSON, liveStatus, liveURL, storedKey, storeKey } from './api.js';
import { groupedBars, h, legend, paintSwatches, sparkline } from './charts.js';
import {
  BIN_BANDS, NEUTRAL, NO_DATA, PM25_BANDS, PRIMARY, binBand, dayParts, daysOf, districtColour, districtOrder, fmtDayTime,
  fmtDuration, fmtHour, fmtNum, fmtPeriod, fmtTime, fmtValue, kindOfMetric, metricLabel, pm25Band, shortId, unitLabel,
} from './format.js';
import { KIND_NAMES, SensorMap, kindSymbol } from './map.js';

const SPARKS = [
  { metric: 'power', kind: 'energy', title: 'Energy · power', agg: 'avg', unit: 'W', colour: '#0072b2',
    note: 'mean per meter' },
  { metric: 'pm25', kind: 'air', title: 'Air · PM2.5', agg: 'avg', unit: 'ug/m3', colour: '#b0417a',
    note: 'mean of the air sensors' },
  { metric: 'bikes', kind: 'mobility', title: 'Mobility · bikes', agg: 'sum', unit: 'count', colour: '#009e73',
    note: 'bikes per hour, all counters' },
  { metric: 'fill_level', kind: 'bin', title: 'Bins · fill level', agg: 'avg', unit: '%', colour: '#c97a00',
    note: 'mean of the bins' },
];

const REFRESH = { map: 60_000, sparks: 60_000, policy: 600_000, registry: 300_000 };
const SPARK_MIN_GAP = 10_000; // live readings redraw a sparkline at most this often
const BINS_MIN_GAP = 15_000; // and the bin urgency list
const FRESH_MS = 4000; // how long a row stays highlighted after a reading
const MAX_ROWS = 80;

const $ = (sel) => document.querySelector(sel);

const state = {
  sensors: new Map(), // id -> registry entry
  rows: new Map(), // sensor id -> {id, time: Date, fresh: ms, readings: Map(metric -> {value, unit, time})}
  kindFilter: '',
  received: 0,
  since: new Date(),
  authNeeded: false,
  source: null, // EventSource
  retry: null,
};

const sensorMap = new SensorMap($('#map'), { onSelect: showSensor });

// --- errors and the API key -------------------------------------------------------------------

function problem(err) {
  if (err instanceof ApiError) {
    if (err.status === 401) return 'The API needs a read key (HTTP 401) — enter it above.';
    if (err.status === 0) return 'The API did not answer (network error). Retrying.';
    if (err.status === 503) return 'The API answered 503: its database is not available. Retrying.';
    return `Could not load: ${err.message}`;
  }
  console.warn(err);
  return `Could not show this: ${err?.message ?? err}`;
}

function placeholder(el, text, cls = 'empty') {
  el.replaceChildren(h('p', { class: cls, text }));
}

function fail(el, err) {
  if (err instanceof ApiError && err.status === 401) needAuth();
  placeholder(el, problem(err), err instanceof ApiError && err.status === 401 ? 'empty auth-needed' : 'empty error');
}

function needAuth() {
  if (!state.authNeeded) {
    state.authNeeded = true;
    stopLive('unauthorized');
  }
  const had = storedKey();
  $('#auth-message').replaceChildren(
    h('strong', { text: had ? 'The stored API key was refused (HTTP 401).' : 'This API needs a read key (HTTP 401).' }),
    ' Read endpoints need a key of CITYSENSE_API_KEYS unless the server runs with CITYSENSE_PUBLIC_READ=true. '
    + 'The key is kept in this browser only (localStorage) and sent as X-API-Key.',
  );
  $('#auth').hidden = false;
  document.documentElement.dataset.auth = 'needed';
}

function setupKeyForm() {
  $('#key-input').value = storedKey();
  $('#key-button').addEventListener('click', () => {
    $('#auth').hidden = !$('#auth').hidden;
    if (!$('#auth').hidden) {
      if (!state.authNeeded) {
        $('#auth-message').replaceChildren(h('strong', { text: 'API key.' }),
          ' Optional here: with a key, private sensors (households) are included. Kept in this browser only.');
      }
      $('#key-input').focus();
    }
  });
  $('#key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    storeKey($('#key-input').value.trim());
    restart();
  });
  $('#key-forget').addEventListener('click', () => {
    storeKey('');
    $('#key-input').value = '';
    restart();
  });
}

function restart() {
  state.authNeeded = false;
  document.documentElement.dataset.auth = storedKey() ? 'key' : 'none';
  $('#auth').hidden = true;
  state.rows.clear();
  renderLive();
  loadAll();
}

// --- registry and map ----------------------------------------------------------------------------

async function loadRegistry() {
  const reg = await getJSON('api/v1/sensors');
  state.sensors = new Map(reg.data.map((sn) => [sn.id, sn]));
}

function kindOf(id) {
  const reg = state.sensors.get(id);
  if (reg && reg.kind !== 'unknown') return reg.kind;
  const row = state.rows.get(id);
  const metric = row ? [...row.readings.keys()].find((m) => kindOfMetric(m) !== 'unknown') : null;
  return metric ? kindOfMetric(metric) : 'unknown';
}

async function loadMap() {
  try {
    const fc = await getJSON('api/v1/map');
    const n = fc.features.length;
    if (n === 0) {
      placeholder($('#map'), 'No data yet: no sensor with a position is registered.');
    } else {
      sensorMap.render(fc);
    }
    const unplaced = [...state.sensors.values()].filter((sn) => sn.lat == null || sn.lon == null).length;
    $('#map-note').textContent = `${n} sensor${n === 1 ? '' : 's'} placed`
      + (unplaced ? ` · ${unplaced} without a position (not shown)` : '');
  } catch (err) {
    fail($('#map'), err);
  }
}

function mapLegend() {
  const row = (title, keys) => h('div', { class: 'legend-row' }, h('span', { class: 'legend-title', text: title }),
    h('div', { class: 'keys' }, keys));
  const swatches = (items) => [...legend(items.map((b) => ({ name: b.label, colour: b.colour }))).children];
  $('#map-legend').replaceChildren(
    row('shape', ['air', 'bin', 'energy', 'mobility'].map((k) => h('span', { class: 'key' }, kindSymbol(k), KIND_NAMES[k]))),
    row('bins: fill level', swatches(BIN_BANDS)),
    row('air: PM2.5 µg/m³, EEA index bands', swatches(PM25_BANDS)),
    row('other', swatches([NEUTRAL, NO_DATA])),
  );
  paintSwatches($('#map-legend'));
}

function showSensor(entry) {
  const p = entry.feature.properties;
  const metrics = Object.keys(entry.latest).sort(byPrimary(p.kind));
  const parts = metrics.slice(0, 6).map((m) => `${metricLabel(m)} ${fmtValue(entry.latest[m].value, entry.latest[m].unit)}`);
  const last = metrics.map((m) => new Date(entry.latest[m].time)).sort((a, b) => b - a)[0];
  $('#map-detail').replaceChildren(
    h('strong', { text: p.id }), ` · ${KIND_NAMES[p.kind] ?? p.kind} · ${p.district ?? 'no district'}`,
    p.model ? ` · ${p.model}` : '',
    h('br'),
    parts.length ? `${parts.join(' · ')} (${entry.band?.label ?? ''}; last reading ${fmtTime(last)})`
      : 'No reading in the last 48 hours.',
  );
}

// --- sparklines ----------------------------------------------------------------------------------

function sparkCard(cfg) { return $(`#spark-${cfg.metric}`); }

async function loadSpark(cfg) {
  const card = sparkCard(cfg);
  const head = h('header', {}, kindSymbol(cfg.kind, cfg.colour), h('span', { text: cfg.title }));
  try {
    const res = await getJSON('api/v1/aggregates', {
      metric: cfg.metric, bucket: '1h', agg: cfg.agg, group_by: 'none', fill: 'null',
    });
    const points = res.data.map((d) => ({ t: new Date(d.bucket), v: d.value }));
    const withData = points.filter((p) => p.v != null);
    if (!withData.length) {
      card.replaceChildren(head, h('p', { class: 'empty', text: 'No data yet in the last 24 hours.' }));
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
      h('p', { class: 'note', text: `${cfg.note}, ${fmtHour(last.t)}–${fmtHour(end)}` }),
      sparkline(points, { colour: cfg.colour, title: `${cfg.title}, last 24 hours` }),
      h('p', { class: 'range', text: `24 h: ${fmtNum(Math.min(...vals))} – ${fmtValue(Math.max(...vals), cfg.unit)}` }),
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

function scheduleSpark(metric) {
  const cfg = SPARKS.find((c) => c.metric === metric);
  if (cfg) throttled(`spark:${metric}`, SPARK_MIN_GAP, () => loadSpark(cfg));
  if (metric === 'fill_level') throttled('bins', BINS_MIN_GAP, loadBins);
}

// --- live feed -----------------------------------------------------------------------------------

function setLive(st, text) {
  const el = $('#live-status');
  el.dataset.state = st;
  el.textContent = text;
}

function stopLive(why) {
  if (state.source) state.source.close();
  state.source = null;
  clearTimeout(state.retry);
  if (why === 'unauthorized') setLive('unauthorized', 'live feed: key needed');
}

function startLive() {
  stopLive();
  const es = new EventSource(liveURL());
  state.source = es;
  setLive('connecting', 'live feed: connecting…');
  const parse = (e) => { try { return JSON.parse(e.data); } catch { return null; } };
  es.addEventListener('latest', (e) => { const d = parse(e); if (d) onReading(d, false); });
  es.addEventListener('reading', (e) => { const d = parse(e); if (d) onReading(d, true); });
  es.addEventListener('snapshot_end', (e) => {
    const d = parse(e) ?? {};
    if (d.live_bus === false) setLive('off', 'live feed: off on this server');
    else setLive('live', 'live');
    renderLive();
  });
  es.addEventListener('lagged', (e) => {
    const d = parse(e) ?? {};
    $('#live-note').textContent = `This page fell behind and missed ${d.missed ?? 'some'} readings; the table shows the rest.`;
  });
  es.addEventListener('error', async () => {
    if (state.source !== es) return;
    if (es.readyState === EventSource.CONNECTING) {
      setLive('reconnecting', 'live feed: reconnecting…');
      return;
    }
    // Closed for good (an HTTP error): find out which, then retry or ask for a key.
    setLive('offline', 'live feed: offline');
    const status = await liveStatus();
    if (state.source !== es) return;
    if (status === 401) {
      needAuth();
      return;
    }
    setLive('offline', `live feed: offline${status ? ` (HTTP ${status})` : ''}, retrying`);
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

function byPrimary(kind) {
  const first = PRIMARY[kind];
  return (a, b) => (b === first) - (a === first) || a.localeCompare(b);
}

function chip(metric, r, kind) {
  const el = h('span', { class: 'chip', title: `${metric} at ${fmtTime(r.time)}` },
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

function renderLive() {
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
    return h('tr', { 'data-sensor': r.id, 'data-kind': kind, class: fresh ? 'fresh' : null },
      h('td', { class: 'time', text: fmtTime(r.time) }),
      h('td', { class: 'sensor', title: r.id }, kindSymbol(kind), h('span', { class: 'id', text: shortId(r.id) }),
        h('span', { class: 'where', text: `${KIND_NAMES[kind] ?? kind} · ${reg?.district ?? 'no district'}` })),
      h('td', { class: 'readings' }, h('div', { class: 'chipset' }, shown.map((m) => chip(m, r.readings.get(m), kind)),
        rest > 0 ? h('span', { class: 'more', title: metrics.slice(3).map(metricLabel).join(', '), text: `+${rest}` })
          : null)));
  });
  $('#live-table tbody').replaceChildren(...trs);
  const empty = $('#live-empty');
  empty.hidden = trs.length > 0;
  if (!trs.length) {
    empty.textContent = state.rows.size && state.kindFilter
      ? `No ${state.kindFilter} readings in the last 48 hours.`
      : 'No readings yet — waiting for the live feed.';
  }
  $('#live-count').textContent = state.received
    ? `${fmtNum(state.received)} reading${state.received === 1 ? '' : 's'} since ${fmtHour(state.since)}` : '';
  if (rows.some((r) => now - r.fresh < FRESH_MS)) {
    setTimeout(scheduleRender, FRESH_MS); // un-highlight
  }
}

function setupFilter() {
  for (const b of document.querySelectorAll('#live-filter button')) {
    b.addEventListener('click', () => {
      state.kindFilter = b.dataset.kind;
      for (const o of document.querySelectorAll('#live-filter button')) o.setAttribute('aria-pressed', String(o === b));
      renderLive();
    });
  }
}

// --- policy reports ------------------------------------------------------------------------------

function districtSeries(rows, key, days) {
  const districts = [...new Set(rows.map((r) => r[key] ?? null))].sort(districtOrder);
  return districts.map((d) => ({
    name: d ?? 'no district',
    colour: districtColour(d),
    values: days.map((day) => {
      const hit = rows.filter((r) => (r[key] ?? null) === d && r.day === day);
      return hit.length ? hit.reduce((a, r) => a + (r.count ?? r.kwh), 0) : 0;
    }),
  }));
}

/** Every day of the report's period (days without data too), and any day the data has besides. */
function periodDays(rep, rows) {
  return [...new Set([...daysOf(rep.from, rep.to), ...rows.map((r) => r.day)])].sort();
}

function chartBlock(el, svg, series, notes) {
  const leg = legend(series.map((se) => ({ name: se.name, colour: se.colour })));
  el.replaceChildren(svg, leg, ...notes.filter(Boolean).map((n) => h('p', { class: 'note', text: n })));
  paintSwatches(el);
}

async function loadMobility() {
  const el = $('#chart-bikes');
  try {
    const rep = await getJSON('api/v1/policy/mobility');
    $('#policy-period').textContent = `${fmtPeriod(rep.from, rep.to)} · the last 7 whole days (Europe/Brussels); bins: now`;
    const rows = rep.daily.filter((r) => r.mode === 'bikes' && r.district !== 'all');
    if (!rows.length || rows.every((r) => !r.count)) {
      placeholder(el, 'No data yet: no bikes counted in this period.');
      return;
    }
    const days = periodDays(rep, rep.daily);
    const series = districtSeries(rows, 'district', days);
    const svg = groupedBars(days.map(dayParts), series, {
      unit: 'bikes', yLabel: 'bikes/day', format: (v) => fmtNum(v), title: 'bikes counted per district per day',
    });
    const total = rep.totals.find((t) => t.district === 'all' && t.mode === 'bikes');
    const notes = [];
    if (total) {
      const change = total.change_pct == null ? '' : `, ${total.change_pct >= 0 ? '+' : ''}${fmtNum(total.change_pct)} % on the 7 days before`;
      const share = total.share_pct == null ? '' : `; bikes are ${fmtNum(total.share_pct)} % of all counted movements`;
      notes.push(`${fmtNum(total.count)} bikes counted${change}${share}.`);
    }
    chartBlock(el, svg, series, notes);
  } catch (err) {
    fail(el, err);
  }
}

async function loadEnergy() {
  const el = $('#chart-energy');
  try {
    const rep = await getJSON('api/v1/policy/energy');
    const rows = rep.daily_by_district;
    if (!rows.length) {
      placeholder(el, 'No data yet: no energy meter counted any kWh in this period.');
      return;
    }
    const days = periodDays(rep, rows);
    const series = districtSeries(rows, 'group', days);
    const svg = groupedBars(days.map(dayParts), series, {
      unit: 'kWh', yLabel: 'kWh/day', format: (v) => fmtNum(v), title: 'kWh imported per district per day',
    });
    const peak = [...rep.districts].filter((d) => d.peak_demand_w != null).sort((a, b) => b.peak_demand_w - a.peak_demand_w)[0];
    const total = rep.districts.reduce((a, d) => a + d.kwh, 0);
    const notes = [`${fmtNum(total)} kWh imported in the period`
      + (peak ? `; highest peak demand ${fmtNum(peak.peak_demand_w / 1000)} kW in ${peak.district ?? 'no district'}`
        + (peak.peak_hour ? ` (${fmtDayTime(peak.peak_hour)})` : '') : '') + '.',
    state.authNeeded || storedKey() ? null : 'Without an API key, private meters (households) are left out.'];
    chartBlock(el, svg, series, notes);
  } catch (err) {
    fail(el, err);
  }
}

const STANDARD_NAMES = { who_2021: 'WHO', eu_limit: 'EU limit' };

async function loadAir() {
  const el = $('#chart-air');
  try {
    const rep = await getJSON('api/v1/policy/air-quality');
    const ex = rep.exceedances.filter((e) => e.scope === 'district');
    if (!ex.length || ex.every((e) => !e.valid_days)) {
      placeholder(el, 'No data yet: no air sensor has a valid day (18 hours of data) in this period.');
      return;
    }
    const standards = rep.standards.filter((st) => ex.some((e) => e.metric === st.metric && e.standard === st.name));
    const districts = [...new Set(ex.map((e) => e.id ?? null))].sort(districtOrder);
    const find = (st, d) => ex.find((e) => e.metric === st.metric && e.standard === st.name && (e.id ?? null) === d);
    const series = districts.map((d) => ({
      name: d ?? 'no district',
      colour: districtColour(d),
      values: standards.map((st) => find(st, d)?.days ?? null),
      ghost: standards.map((st) => find(st, d)?.valid_days ?? null),
    }));
    const cats = standards.map((st) => [`${metricLabel(st.metric)} > ${fmtNum(st.limit)}`, STANDARD_NAMES[st.name] ?? st.name]);
    const svg = groupedBars(cats, series, {
      unit: 'days', ghostUnit: 'valid days', yLabel: 'days', title: 'days with a daily mean above the limit', integer: true,
      valueLabels: (v) => String(v),
    });
    const worst = ex.filter((e) => e.days > 0).sort((a, b) => b.days - a.days)[0];
    chartBlock(el, svg, series, [
      worst ? `Most: ${worst.id ?? 'no district'}, ${metricLabel(worst.metric)} above ${fmtNum(worst.limit)} µg/m³ on ${worst.days} of ${worst.valid_days} days.`
        : 'No day above any limit in this period.',
      'Bars: days whose district mean exceeded the limit; shaded: days with a valid mean (≥ 18 h of data). '
      + 'WHO 2021 24-hour guideline levels (3–4 such days a year at most); EU Directive 2008/50/EC PM10 daily limit (35 a year).',
    ]);
  } catch (err) {
    fail(el, err);
  }
}

async function loadBins() {
  const el = $('#chart-bins');
  try {
    const rep = await getJSON('api/v1/policy/cleanliness');
    const list = rep.collection_list;
    if (!list.length) {
      placeholder(el, 'No data yet: no bin has reported a fill level.');
      return;
    }
    const top = list.slice(0, 8);
    const rows = top.map((b, i) => {
      const band = binBand(b.fill_level);
      const bar = h('span', { class: 'fill' });
      bar.style.width = `${Math.max(0, Math.min(100, b.fill_level))}%`;
      bar.style.background = band.colour;
      let forecast = '–';
      if (b.hours_to_full != null) forecast = b.hours_to_full <= 0 ? 'full' : `in ${fmtDuration(b.hours_to_full)}`;
      return h('tr', { 'data-sensor': b.sensor_id, 'data-band': band.key, class: b.above_threshold ? 'urgent' : null },
        h('td', { class: 'rank', text: String(i + 1) }),
        h('td', { class: 'sensor', title: b.sensor_id, text: shortId(b.sensor_id) }),
        h('td', { text: b.district ?? '–' }),
        h('td', { class: 'fillcell' }, h('span', { class: 'track' }, bar), h('span', { class: 'pct', text: `${fmtNum(b.fill_level)} %` })),
        h('td', { class: 'num', text: b.fill_rate_per_hour == null ? '–' : `${b.fill_rate_per_hour >= 0 ? '+' : ''}${fmtNum(b.fill_rate_per_hour)} %/h` }),
        h('td', { class: 'num', text: forecast }));
    });
    const table = h('table', { class: 'bins' },
      h('thead', {}, h('tr', {}, ['#', 'bin', 'district', 'fill level', 'rate', 'full'].map((t) => h('th', { text: t })))),
      h('tbody', {}, rows));
    const overflow = rep.overflow_hours.filter((o) => o.hours > 0)
      .map((o) => `${o.district ?? 'no district'} ${o.hours} h`).join(', ');
    el.replaceChildren(...[
      h('p', { class: 'summary' }, h('strong', { text: `${rep.bins_above} of ${list.length}` }),
        ` bins at or above ${fmtNum(rep.threshold)} % now; most urgent first (then by time to full).`),
      table,
      list.length > top.length ? h('p', { class: 'note', text: `…and ${list.length - top.length} more bins.` }) : null,
      h('p', { class: 'note', text: `Overflowing (100 %) bin-hours, last 7 days: ${overflow || 'none'}.` }),
    ].filter(Boolean));
  } catch (err) {
    fail(el, err);
  }
}

async function loadPolicy() {
  await Promise.all([loadMobility(), loadEnergy(), loadAir(), loadBins()]);
}

// --- start ---------------------------------------------------------------------------------------

let timers = [];
let generation = 0; // a newer loadAll (a key entered meanwhile) supersedes an older one

async function loadAll() {
  const mine = ++generation;
  for (const t of timers) clearInterval(t);
  timers = [];
  stopLive();
  document.documentElement.dataset.ready = 'false';
  try {
    await loadRegistry();
  } catch (err) {
    if (mine !== generation) return;
    for (const el of [$('#map'), ...SPARKS.map(sparkCard), $('#chart-bikes'), $('#chart-energy'), $('#chart-air'), $('#chart-bins')]) {
      fail(el, err);
    }
    if (!(err instanceof ApiError && err.status === 401)) {
      timers.push(setTimeout(loadAll, 10_000));
      setLive('offline', 'live feed: API unreachable, retrying');
    }
    document.documentElement.dataset.ready = 'true';
    return;
  }
  if (mine !== generation) return;
  startLive();
  await Promise.all([loadMap(), ...SPARKS.map(loadSpark), loadPolicy()]);
  if (mine !== generation) return;
  const every = (ms, f) => timers.push(setInterval(() => { if (!state.authNeeded) f(); }, ms));
  every(REFRESH.map, loadMap);
  every(REFRESH.sparks, () => SPARKS.forEach(loadSpark));
  every(REFRESH.policy, loadPolicy);
  every(REFRESH.registry, () => loadRegistry().catch(() => {})); // the next refresh tries again
  document.documentElement.dataset.ready = 'true';
}

function main() {
  document.documentElement.dataset.auth = storedKey() ? 'key' : 'none';
  setupKeyForm();
  setupFilter();
  mapLegend();
  for (const cfg of SPARKS) sparkCard(cfg).replaceChildren(h('p', { class: 'empty', text: 'Loading…' }));
  loadAll();
}

main();
