// The sensor map: WGS84 lat/lon projected onto an SVG over Leuven's bounding box (an
// equirectangular projection scaled by cos(latitude), exact enough over 10 km), with district
// labels, the inner ring for orientation, a scale bar, and one marker per sensor.

import { s } from './charts.js';
import { DISTRICT_LABELS } from './districts.js';
import { bandOf } from './format.js';

// Leuven (the municipality, all five deelgemeenten), with a margin. Grown to fit any sensor outside.
const LEUVEN = { west: 4.655, east: 4.765, south: 50.848, north: 50.934 };

// Where to write each deelgemeente's name (DISTRICT_LABELS) comes with the district list from the
// server (districts.js, generated from models/districts.py).

// The inner ring road (R23) around the historic centre, drawn as an ellipse: orientation only.
const RING = { lat: 50.8800, lon: 4.7030, rLat: 0.0092, rLon: 0.0140 };

const KIND_SHAPES = { air: 'circle', bin: 'square', energy: 'triangle', mobility: 'diamond' };
export const KIND_NAMES = { air: 'air quality', bin: 'litter bin', energy: 'energy meter', mobility: 'traffic counter' };

function shape(kind, fill) {
  const common = { class: 'shape', fill };
  switch (KIND_SHAPES[kind]) {
    case 'circle': return s('circle', { ...common, r: 7 });
    case 'square': return s('rect', { ...common, x: -6.5, y: -6.5, width: 13, height: 13, rx: 2 });
    case 'triangle': return s('path', { ...common, d: 'M0,-8 L7.5,6 L-7.5,6 Z' });
    case 'diamond': return s('path', { ...common, d: 'M0,-8.5 L8.5,0 L0,8.5 L-8.5,0 Z' });
    default: return s('circle', { ...common, r: 5 });
  }
}

/** A small legend symbol for a kind (an <svg>). */
export function kindSymbol(kind, fill = '#7b8794') {
  return s('svg', { class: 'sym', viewBox: '-10 -10 20 20', width: 16, height: 16 }, shape(kind, fill));
}

export class SensorMap {
  constructor(container, { onSelect } = {}) {
    this.container = container;
    this.onSelect = onSelect ?? (() => {});
    this.markers = new Map(); // sensor id -> {g, feature, latest {metric: value}}
  }

  /** Draw the map for a GeoJSON FeatureCollection of /api/v1/map. */
  render(collection) {
    const features = (collection.features ?? []).filter((f) => f.geometry?.coordinates?.length === 2);
    const box = { ...LEUVEN };
    for (const f of features) {
      const [lon, lat] = f.geometry.coordinates;
      box.west = Math.min(box.west, lon - 0.004); box.east = Math.max(box.east, lon + 0.004);
      box.south = Math.min(box.south, lat - 0.003); box.north = Math.max(box.north, lat + 0.003);
    }
    const k = Math.cos(((box.north + box.south) / 2) * Math.PI / 180);
    const W = 600;
    const scale = W / ((box.east - box.west) * k); // px per degree of latitude
    const H = Math.round((box.north - box.south) * scale);
    const px = (lon, lat) => [
      Math.round((lon - box.west) * k * scale * 10) / 10,
      Math.round((box.north - lat) * scale * 10) / 10,
    ];
    const svg = s('svg', { class: 'map-svg', viewBox: `0 0 ${W} ${H}`, role: 'img',
      'aria-label': `map of ${features.length} sensors in Leuven` });
    svg.append(s('rect', { class: 'land', x: 0, y: 0, width: W, height: H, rx: 8 }));

    // Graticule every 0.02°, labelled at the edges.
    const grid = s('g', { class: 'graticule' });
    for (let lon = Math.ceil(box.west * 50) / 50; lon < box.east; lon += 0.02) {
      const [x] = px(lon, box.north);
      grid.append(s('line', { x1: x, x2: x, y1: 0, y2: H }));
      grid.append(s('text', { x: x + 3, y: H - 6 }, `${lon.toFixed(2)}°E`));
    }
    for (let lat = Math.ceil(box.south * 50) / 50; lat < box.north; lat += 0.02) {
      const [, y] = px(box.west, lat);
      grid.append(s('line', { x1: 0, x2: W, y1: y, y2: y }));
      grid.append(s('text', { x: 6, y: y - 4 }, `${lat.toFixed(2)}°N`));
    }
    svg.append(grid);

    const [rcx, rcy] = px(RING.lon, RING.lat);
    svg.append(s('ellipse', { class: 'ring', cx: rcx, cy: rcy, rx: RING.rLon * k * scale, ry: RING.rLat * scale }));
    svg.append(s('text', { class: 'ring-label', x: rcx, y: rcy - RING.rLat * scale - 5, 'text-anchor': 'middle' },
      'ring R23'));

    const labels = s('g', { class: 'districts' });
    for (const d of DISTRICT_LABELS) {
      const [x, y] = px(d.lon, d.lat);
      labels.append(s('text', { x, y, 'text-anchor': 'middle' }, d.name));
    }
    svg.append(labels);

    // Scale bar: 1 km.
    const km = scale / 111.32;
    const sx = W - 20 - km, sy = H - 22;
    svg.append(s('g', { class: 'scale' },
      s('path', { d: `M${sx},${sy - 5} V${sy} H${sx + km} V${sy - 5}` }),
      s('text', { x: sx + km / 2, y: sy - 8, 'text-anchor': 'middle' }, '1 km')));
    svg.append(s('g', { class: 'north' },
      s('path', { d: `M${W - 24},42 l7,-22 l7,22 l-7,-6 Z` }),
      s('text', { x: W - 17, y: 56, 'text-anchor': 'middle' }, 'N')));

    const layer = s('g', { class: 'markers' });
    const previous = this.markers;
    this.markers = new Map();
    // Draw bins and air last: their colours carry the state.
    const order = { energy: 0, mobility: 1, unknown: 1, bin: 2, air: 3 };
    const sorted = [...features].sort((a, b) => (order[a.properties.kind] ?? 1) - (order[b.properties.kind] ?? 1));
    for (const f of sorted) {
      const p = f.properties;
      const latest = {};
      for (const [metric, lv] of Object.entries(p.latest ?? {})) latest[metric] = { value: lv.value, unit: lv.unit, time: lv.time };
      // Keep what the live feed brought since, where it is newer.
      for (const [metric, lv] of Object.entries(previous.get(p.id)?.latest ?? {})) {
        if (!latest[metric] || new Date(lv.time) > new Date(latest[metric].time)) latest[metric] = lv;
      }
      const [x, y] = px(...f.geometry.coordinates);
      const g = s('g', { class: 'marker', transform: `translate(${x},${y})`, tabindex: 0, 'data-sensor': p.id,
        'data-kind': p.kind, 'data-district': p.district ?? '' });
      g.append(s('title', {}, p.id));
      g.append(shape(p.kind, '#fff'));
      const entry = { g, feature: f, latest };
      this.markers.set(p.id, entry);
      this.#paint(entry);
      const select = () => this.onSelect(entry);
      g.addEventListener('mouseenter', select);
      g.addEventListener('focus', select);
      g.addEventListener('click', select);
      layer.append(g);
    }
    svg.append(layer);
    this.container.replaceChildren(svg);
    return features.length;
  }

  #paint(entry) {
    const values = Object.fromEntries(Object.entries(entry.latest).map(([m, lv]) => [m, lv.value]));
    const band = bandOf(entry.feature.properties.kind, values);
    entry.band = band;
    entry.g.setAttribute('data-band', band.key);
    entry.g.querySelector('.shape').setAttribute('fill', band.colour);
  }

  /** A live reading: recolour the sensor's marker. Returns false when the sensor is not on the map. */
  update(reading) {
    const entry = this.markers.get(reading.sensor_id);
    if (!entry) return false;
    const old = entry.latest[reading.metric];
    if (!old || new Date(reading.time) >= new Date(old.time)) {
      entry.latest[reading.metric] = { value: reading.value, unit: reading.unit, time: reading.time };
      this.#paint(entry);
      entry.g.classList.remove('pulse');
      entry.g.getBoundingClientRect(); // restart the animation
      entry.g.classList.add('pulse');
    }
    return true;
  }
}
