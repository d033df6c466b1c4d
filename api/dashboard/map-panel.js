// The sensor map panel: positions and latest readings (api/v1/map), health outlines, its legend, the
// hover line, and the search that takes a facility manager to a sensor on its street.

import { getJSON } from './api.js';
import { h, legend, paintSwatches } from './charts.js';
import { openDetail } from './detail-panel.js';
import {
  BIN_BANDS, NEUTRAL, NO_DATA, PM25_BANDS, STATUSES, byPrimary, fmtTime, fmtValue, metricLabel, statusColour,
  statusLabel,
} from './format.js';
import { t } from './i18n.js';
import { SensorMap, kindName, kindSymbol } from './map.js';
import { $, fail, state } from './page.js';

export const sensorMap = new SensorMap($('#map'), { onHover: showSensor, onOpen: openDetail });

export async function loadMap() {
  const status = $('#map-status');
  try {
    const fc = await getJSON('api/v1/map');
    const n = sensorMap.render(fc);
    sensorMap.setHealth(state.health);
    status.replaceChildren();
    status.hidden = n > 0;
    if (n === 0) status.replaceChildren(h('p', { class: 'empty', text: t('map.empty') }));
    const unplaced = [...state.sensors.values()].filter((sn) => sn.lat == null || sn.lon == null).length;
    $('#map-note').textContent = t('map.placed', { n })
      + (unplaced ? ` · ${t('map.unplaced', { n: unplaced })}` : '');
    searchOptions();
    applySearch(false);
  } catch (err) {
    status.hidden = false;
    const p = h('p');
    status.replaceChildren(p);
    fail(p, err);
  }
}

export function mapLegend() {
  const row = (title, keys) => h('div', { class: 'legend-row' }, h('span', { class: 'legend-title', text: title }),
    h('div', { class: 'keys' }, keys));
  const swatches = (items) => [...legend(items.map((b) => ({ name: b.label, colour: b.colour }))).children];
  const outlines = STATUSES.map((st) => h('span', { class: 'key' },
    h('span', { class: 'swatch outline', 'data-outline': statusColour(st) }), statusLabel(st)));
  $('#map-legend').replaceChildren(
    row(t('legend.shape'), ['air', 'bin', 'energy', 'mobility'].map((k) => h('span', { class: 'key' }, kindSymbol(k), kindName(k)))),
    row(t('legend.bins'), swatches(BIN_BANDS)),
    row(t('legend.air'), swatches(PM25_BANDS)),
    row(t('legend.other'), swatches([NEUTRAL, NO_DATA])),
    row(t('legend.health'), outlines),
  );
  paintSwatches($('#map-legend'));
  for (const el of $('#map-legend').querySelectorAll('.swatch[data-outline]')) el.style.borderColor = el.dataset.outline;
}

function showSensor(entry) {
  const p = entry.feature.properties;
  const metrics = Object.keys(entry.latest).sort(byPrimary(p.kind));
  const parts = metrics.slice(0, 6).map((m) => `${metricLabel(m)} ${fmtValue(entry.latest[m].value, entry.latest[m].unit)}`);
  const last = metrics.map((m) => new Date(entry.latest[m].time)).sort((a, b) => b - a)[0];
  const health = state.health.get(p.id);
  $('#map-detail').replaceChildren(
    h('strong', { text: p.id }), ` · ${kindName(p.kind)} · ${p.district ?? t('district.none')}`,
    p.model ? ` · ${p.model}` : '',
    health ? ` · ${statusLabel(health.status)}` : '',
    h('br'),
    parts.length ? t('map.latest', { values: parts.join(' · '), band: entry.band?.label ?? '', time: fmtTime(last) })
      : t('map.no-reading'),
    ' ', t('map.click'),
  );
}

// --- search -------------------------------------------------------------------------------------

// Every text a sensor can be found by: its id, district, model, and the metadata's texts (street,
// site, building, room…).
function searchText(id) {
  const reg = state.sensors.get(id);
  const meta = Object.values(reg?.metadata ?? {}).filter((v) => typeof v === 'string');
  return [id, reg?.district, reg?.model, ...meta].filter(Boolean).join(' ').toLocaleLowerCase();
}

function placeOf(id) {
  const meta = state.sensors.get(id)?.metadata ?? {};
  return meta.street ?? meta.site ?? meta.building ?? meta.room ?? null;
}

function searchOptions() {
  const opts = [...sensorMap.markers.keys()].sort().map((id) => {
    const place = placeOf(id);
    return h('option', { value: id, label: place ? `${place} · ${kindName(state.sensors.get(id)?.kind)}` : null });
  });
  const places = [...new Set([...sensorMap.markers.keys()].map(placeOf).filter(Boolean))].sort()
    .map((place) => h('option', { value: place }));
  $('#map-search-options').replaceChildren(...places, ...opts);
}

function matcher(query) {
  const words = query.toLocaleLowerCase().split(/\s+/).filter(Boolean);
  return (id) => words.every((w) => searchText(id).includes(w));
}

function applySearch(zoom) {
  const query = $('#map-search-input').value.trim();
  const hits = sensorMap.filter(matcher(query));
  const result = $('#map-search-result');
  if (!query) {
    result.textContent = '';
    return;
  }
  result.textContent = hits.length ? t('map.search.hits', { n: hits.length }) : t('map.search.none');
  if (zoom && hits.length) {
    sensorMap.show(hits);
    if (hits.length === 1) openDetail(hits[0]);
  }
}

export function setupColourBy() {
  const buttons = document.querySelectorAll('#map-colour [data-colour]');
  for (const b of buttons) {
    b.addEventListener('click', () => {
      for (const o of buttons) o.setAttribute('aria-pressed', String(o === b));
      sensorMap.setColourBy(b.dataset.colour);
    });
  }
}

export function setupSearch() {
  $('#map-search-input').addEventListener('input', () => applySearch(false));
  $('#map-search').addEventListener('submit', (e) => {
    e.preventDefault();
    applySearch(true);
  });
}
