// The sensor map panel: positions and latest readings (api/v1/map), its legend and the detail line.

import { getJSON } from './api.js';
import { h, legend, paintSwatches } from './charts.js';
import { BIN_BANDS, NEUTRAL, NO_DATA, PM25_BANDS, byPrimary, fmtTime, fmtValue, metricLabel } from './format.js';
import { KIND_NAMES, SensorMap, kindSymbol } from './map.js';
import { $, fail, placeholder, state } from './page.js';

export const sensorMap = new SensorMap($('#map'), { onSelect: showSensor });

export async function loadMap() {
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

export function mapLegend() {
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
