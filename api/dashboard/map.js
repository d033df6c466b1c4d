// The sensor map: Leaflet (vendored in vendor/leaflet, loaded as a classic script: window.L) over the
// tile source of config.js, and always, tiles or not, the schematic districts drawn as Leaflet layers:
// each deelgemeente as the area nearest its centre (the rule of models/districts.py, district_at),
// the inner ring for orientation, and the district names. One marker per sensor: shape by kind,
// fill by its latest state, outline by its health.

import { s } from './charts.js';
import { MAP_CONFIG } from './config.js';
import { DISTRICT_CENTRES, DISTRICT_LABELS, MAX_KM_FROM_CENTRE } from './districts.js';
import { bandOf, statusColour, statusLabel } from './format.js';
import { t } from './i18n.js';

const L = window.L;

const LEUVEN = [[50.848, 4.655], [50.934, 4.765]]; // the municipality, with a margin
const STREET_ZOOM = 18;

// The inner ring road (R23) around the historic centre, drawn as an ellipse: orientation only.
const RING = { lat: 50.8800, lon: 4.7030, rLat: 0.0092, rLon: 0.0140 };

const KM_PER_DEG_LAT = 111.2;
function km(a, b) {
  const x = (b.lon - a.lon) * KM_PER_DEG_LAT * Math.cos(((a.lat + b.lat) / 2) * Math.PI / 180);
  return Math.hypot(x, (b.lat - a.lat) * KM_PER_DEG_LAT);
}

/** A district's outline: walking out from its centre in each direction, as far as the points are
 *  still nearest to it and within MAX_KM_FROM_CENTRE (a convex area, so one radius per direction). */
export function districtOutline(centre, centres, steps = 120) {
  const nearest = (p) => centres.reduce((best, c) => (km(p, c) < km(p, best) ? c : best));
  const cos = Math.cos(centre.lat * Math.PI / 180);
  const at = (angle, r) => ({ lat: centre.lat + (r * Math.sin(angle)) / KM_PER_DEG_LAT,
    lon: centre.lon + (r * Math.cos(angle)) / (KM_PER_DEG_LAT * cos) });
  const ring = [];
  for (let i = 0; i < steps; i += 1) {
    const angle = (2 * Math.PI * i) / steps;
    let lo = 0, hi = MAX_KM_FROM_CENTRE;
    if (nearest(at(angle, hi)) !== centre) {
      for (let k = 0; k < 24; k += 1) {
        const mid = (lo + hi) / 2;
        if (nearest(at(angle, mid)) === centre) lo = mid; else hi = mid;
      }
      hi = lo;
    }
    const p = at(angle, hi);
    ring.push([p.lat, p.lon]);
  }
  return ring;
}

const KIND_SHAPES = { air: 'circle', bin: 'square', energy: 'triangle', mobility: 'diamond' };

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

export function kindName(kind) { return t(`kind.${kind in KIND_SHAPES ? kind : 'unknown'}`); }

export class SensorMap {
  constructor(container, { onHover, onOpen } = {}) {
    this.onHover = onHover ?? (() => {});
    this.onOpen = onOpen ?? (() => {});
    this.markers = new Map(); // sensor id -> {marker, el, feature, latest {metric: {value, unit, time}}, band}
    this.health = new Map(); // sensor id -> api/v1/sensors/health entry
    this.fitted = false;
    this.colourBy = 'value'; // or 'health': what fills the markers (the outline is always the health)
    this.map = L.map(container, { minZoom: 10, maxZoom: 19, zoomSnap: 0.5 }).fitBounds(LEUVEN);
    this.map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    if (MAP_CONFIG.tiles) {
      L.tileLayer(MAP_CONFIG.tiles, { maxZoom: 19, attribution: MAP_CONFIG.attribution }).addTo(this.map);
    }
    this.#schematic();
    this.layer = L.layerGroup().addTo(this.map);
    L.control.scale({ imperial: false }).addTo(this.map);
  }

  #schematic() {
    const pane = this.map.createPane('schematic');
    pane.classList.add('schematic-pane');
    const group = L.layerGroup().addTo(this.map);
    for (const c of DISTRICT_CENTRES) {
      L.polygon(districtOutline(c, DISTRICT_CENTRES), {
        pane: 'schematic', className: 'district-area', interactive: false, weight: 1.5,
      }).addTo(group);
    }
    const ring = [];
    for (let i = 0; i < 72; i += 1) {
      const a = (2 * Math.PI * i) / 72;
      ring.push([RING.lat + RING.rLat * Math.sin(a), RING.lon + RING.rLon * Math.cos(a)]);
    }
    L.polygon(ring, { pane: 'schematic', className: 'ring', interactive: false, weight: 1.5, fill: false })
      .bindTooltip(t('map.ring'), { permanent: true, direction: 'top', className: 'ring-label' }).addTo(group);
    for (const d of DISTRICT_LABELS) {
      L.marker([d.lat, d.lon], {
        interactive: false, keyboard: false,
        icon: L.divIcon({ className: 'district-label', html: d.name, iconSize: null }),
      }).addTo(group);
    }
  }

  /** Draw the markers for a GeoJSON FeatureCollection of /api/v1/map; the first time, fit them in view. */
  render(collection) {
    const features = (collection.features ?? []).filter((f) => f.geometry?.coordinates?.length === 2);
    const previous = this.markers;
    this.markers = new Map();
    this.layer.clearLayers();
    // Draw bins and air last: their colours carry the state.
    const order = { energy: 0, mobility: 1, unknown: 1, bin: 2, air: 3 };
    const sorted = [...features].sort((a, b) => (order[a.properties.kind] ?? 1) - (order[b.properties.kind] ?? 1));
    for (const [i, f] of sorted.entries()) {
      const p = f.properties;
      const latest = {};
      for (const [metric, lv] of Object.entries(p.latest ?? {})) latest[metric] = { value: lv.value, unit: lv.unit, time: lv.time };
      // Keep what the live feed brought since, where it is newer.
      for (const [metric, lv] of Object.entries(previous.get(p.id)?.latest ?? {})) {
        if (!latest[metric] || new Date(lv.time) > new Date(latest[metric].time)) latest[metric] = lv;
      }
      const [lon, lat] = f.geometry.coordinates;
      const svg = s('svg', { class: 'marker-svg', viewBox: '-11 -11 22 22', width: 22, height: 22 }, shape(p.kind, '#fff'));
      const marker = L.marker([lat, lon], {
        title: p.id, alt: p.id, riseOnHover: true, zIndexOffset: i,
        icon: L.divIcon({ className: 'marker', html: svg, iconSize: [22, 22], iconAnchor: [11, 11] }),
      });
      marker.addTo(this.layer);
      const el = marker.getElement();
      el.dataset.sensor = p.id;
      el.dataset.kind = p.kind;
      el.dataset.district = p.district ?? '';
      const entry = { marker, el, feature: f, latest, band: null };
      this.markers.set(p.id, entry);
      this.#paint(entry);
      marker.on('mouseover', () => this.onHover(entry));
      marker.on('click', () => { this.onHover(entry); this.onOpen(p.id); });
      el.addEventListener('focus', () => this.onHover(entry));
    }
    if (!this.fitted && features.length) {
      this.fitted = true;
      this.map.fitBounds(L.latLngBounds(features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]])),
        { padding: [20, 20], maxZoom: 15 });
    }
    return features.length;
  }

  #paint(entry) {
    const values = Object.fromEntries(Object.entries(entry.latest).map(([m, lv]) => [m, lv.value]));
    const band = bandOf(entry.feature.properties.kind, values);
    const health = this.health.get(entry.feature.properties.id);
    entry.band = band;
    entry.el.dataset.band = band.key;
    entry.el.dataset.health = health?.status ?? 'unknown';
    const sh = entry.el.querySelector('.shape');
    sh.setAttribute('fill', this.colourBy === 'health' && health ? statusColour(health.status) : band.colour);
    sh.setAttribute('stroke', health ? statusColour(health.status) : '#1c2430');
    entry.el.title = health ? `${entry.feature.properties.id} · ${statusLabel(health.status)}` : entry.feature.properties.id;
  }

  /** Fill the markers by their latest reading ('value') or by their health ('health'). */
  setColourBy(mode) {
    this.colourBy = mode;
    this.map.getContainer().dataset.colourBy = mode;
    for (const entry of this.markers.values()) this.#paint(entry);
  }

  /** The fleet's health (sensor id -> entry): recolour the outlines. */
  setHealth(health) {
    this.health = health;
    for (const entry of this.markers.values()) this.#paint(entry);
  }

  /** A live reading: recolour the sensor's marker. Returns false when the sensor is not on the map. */
  update(reading) {
    const entry = this.markers.get(reading.sensor_id);
    if (!entry) return false;
    const old = entry.latest[reading.metric];
    if (!old || new Date(reading.time) >= new Date(old.time)) {
      entry.latest[reading.metric] = { value: reading.value, unit: reading.unit, time: reading.time };
      this.#paint(entry);
      entry.el.classList.remove('pulse');
      entry.el.getBoundingClientRect(); // restart the animation
      entry.el.classList.add('pulse');
    }
    return true;
  }

  /** Dim the markers that do not match; returns the ids that do (all for an empty filter). */
  filter(match) {
    const hits = [];
    for (const [id, entry] of this.markers) {
      const ok = match(id);
      entry.el.classList.toggle('dim', !ok);
      if (ok) hits.push(id);
    }
    return hits;
  }

  /** Zoom to these sensors: one at street level, several to fit. */
  show(ids) {
    const pts = ids.map((id) => this.markers.get(id)?.marker.getLatLng()).filter(Boolean);
    if (pts.length === 1) this.map.setView(pts[0], STREET_ZOOM);
    else if (pts.length > 1) this.map.fitBounds(L.latLngBounds(pts), { padding: [30, 30], maxZoom: STREET_ZOOM });
  }
}
