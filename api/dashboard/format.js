// Formatting and colour scales. Pure functions, no DOM.

// The district list is not written out here: the server generates districts.js from
// models/districts.py (api/routes/dashboard.py).
import { DISTRICTS } from './districts.js';

export { DISTRICTS };

export const CITY_TZ = 'Europe/Brussels';

// Okabe-Ito, in the order of DISTRICTS: tells the five districts apart also for colour-blind readers.
const DISTRICT_PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9'];

export function districtColour(name) {
  const i = DISTRICTS.indexOf(name);
  return (i >= 0 ? DISTRICT_PALETTE[i] : undefined) ?? '#8a94a0';
}

// "a, b and c"
export function listOf(names) {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

export function districtOrder(a, b) {
  const ia = DISTRICTS.indexOf(a), ib = DISTRICTS.indexOf(b);
  return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || String(a).localeCompare(String(b));
}

// Bins by fill level (%): green below 50, amber below 80, red from 80 (the cleanliness report's
// default threshold for "needs emptying").
export const BIN_BANDS = [
  { below: 50, key: 'bin-green', label: 'below 50 %', colour: '#2f9e5b' },
  { below: 80, key: 'bin-amber', label: '50–80 %', colour: '#f0a30a' },
  { below: Infinity, key: 'bin-red', label: '80 % and more', colour: '#d64545' },
];

// Air by PM2.5 (µg/m³): the bands and colours of the EEA European Air Quality Index in its six-level
// form (good < 10, fair < 20, moderate < 25, poor < 50, very poor < 75, extremely poor). The EEA
// computes its index from hourly values (24-hour running means for PM); applied here to a sensor's
// latest reading, it is an indication, not the official index. Swap this table to follow a later
// revision of the index.
export const PM25_BANDS = [
  { below: 10, key: 'air-good', label: 'good < 10', colour: '#50f0e6' },
  { below: 20, key: 'air-fair', label: 'fair 10–20', colour: '#50ccaa' },
  { below: 25, key: 'air-moderate', label: 'moderate 20–25', colour: '#f0e641' },
  { below: 50, key: 'air-poor', label: 'poor 25–50', colour: '#ff5050' },
  { below: 75, key: 'air-very-poor', label: 'very poor 50–75', colour: '#960032' },
  { below: Infinity, key: 'air-extremely-poor', label: 'extremely poor ≥ 75', colour: '#7d2181' },
];

export const NEUTRAL = { key: 'neutral', label: 'other sensors', colour: '#7b8794' };
export const NO_DATA = { key: 'no-data', label: 'no recent reading', colour: '#ffffff' };

function inBands(bands, value) {
  return bands.find((b) => value < b.below) ?? bands[bands.length - 1];
}

/** The colour band of a sensor from its kind and latest values ({metric: value}). */
export function bandOf(kind, latest) {
  if (kind === 'bin') {
    const v = latest.fill_level;
    return v == null ? NO_DATA : inBands(BIN_BANDS, v);
  }
  if (kind === 'air') {
    const v = latest.pm25;
    return v == null ? NO_DATA : inBands(PM25_BANDS, v);
  }
  return Object.keys(latest).length ? NEUTRAL : NO_DATA;
}

export function binBand(v) { return inBands(BIN_BANDS, v); }
export function pm25Band(v) { return inBands(PM25_BANDS, v); }

/** The kind a metric belongs to, for sensors the registry does not know yet. */
export function kindOfMetric(metric) {
  if (['power', 'energy_import', 'energy_export', 'voltage', 'current', 'apparent_power', 'reactive_power',
    'power_factor', 'frequency', 'gas_volume'].includes(metric)) return 'energy';
  if (['pm1', 'pm25', 'pm10', 'no2', 'o3', 'co2'].includes(metric)) return 'air';
  if (['bikes', 'cars', 'pedestrians', 'heavy_vehicles', 'speed_v85'].includes(metric)) return 'mobility';
  if (['fill_level', 'distance', 'tilted'].includes(metric)) return 'bin';
  return 'unknown';
}

// The metric shown first for each kind.
export const PRIMARY = { energy: 'power', air: 'pm25', mobility: 'bikes', bin: 'fill_level' };

// Sorts a sensor's metrics with its kind's primary metric first, then by name.
export function byPrimary(kind) {
  const first = PRIMARY[kind];
  return (a, b) => (b === first) - (a === first) || a.localeCompare(b);
}

const METRIC_LABELS = {
  pm25: 'PM2.5', pm10: 'PM10', pm1: 'PM1', no2: 'NO₂', o3: 'O₃', co2: 'CO₂', fill_level: 'fill',
  energy_import: 'import', energy_export: 'export', heavy_vehicles: 'heavy', speed_v85: 'v85',
  power_factor: 'pf', apparent_power: 'VA', reactive_power: 'var', gas_volume: 'gas', temperature: 'temp',
  humidity: 'RH', pedestrians: 'walkers',
};
export function metricLabel(m) { return METRIC_LABELS[m] ?? m; }

const UNIT_LABELS = { 'ug/m3': 'µg/m³', degC: '°C', m3: 'm³', '1': '', count: '' };
export function unitLabel(u) { return u in UNIT_LABELS ? UNIT_LABELS[u] : (u ?? ''); }

const nf = [0, 1, 2].map((d) => new Intl.NumberFormat('en-GB', { maximumFractionDigits: d }));

export function fmtNum(v) {
  if (v == null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return (a >= 100 ? nf[0] : a >= 10 ? nf[1] : nf[2]).format(v);
}

export function fmtValue(v, unit) {
  const u = unitLabel(unit);
  if (!u) return fmtNum(v);
  return u === '%' ? `${fmtNum(v)} %` : `${fmtNum(v)} ${u}`;
}

const timeFmt = new Intl.DateTimeFormat('en-GB', {
  timeZone: CITY_TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const hourFmt = new Intl.DateTimeFormat('en-GB', { timeZone: CITY_TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const dayTimeFmt = new Intl.DateTimeFormat('en-GB', {
  timeZone: CITY_TZ, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
const dayKeyFmt = new Intl.DateTimeFormat('en-CA', { timeZone: CITY_TZ, year: 'numeric', month: '2-digit', day: '2-digit' });

/** A time: hh:mm:ss when it is today in Brussels, else "23 Nov, 14:05". */
export function fmtTime(t) {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return '–';
  return dayKeyFmt.format(d) === dayKeyFmt.format(new Date()) ? timeFmt.format(d) : dayTimeFmt.format(d);
}
export function fmtHour(t) { return hourFmt.format(t instanceof Date ? t : new Date(t)); }
export function fmtDayTime(t) { return dayTimeFmt.format(t instanceof Date ? t : new Date(t)); }

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A calendar day "2026-11-23" as ["Mon", "23 Nov"] (no time zone involved). */
export function dayParts(day) {
  const [y, m, d] = day.split('-').map(Number);
  const wd = new Date(Date.UTC(y, m - 1, d)).getUTCDay();
  return [WEEKDAYS[wd], `${d} ${MONTHS[m - 1]}`];
}

/** The local calendar days ("2026-11-23") of a period [from, to) of whole local days. */
export function daysOf(from, to) {
  const days = [];
  const end = new Date(to).getTime();
  // From noon to noon: 24-hour steps stay inside the right day across DST changes (23 or 25 h days).
  for (let t = new Date(from).getTime() + 12 * 3600_000; t < end; t += 24 * 3600_000) days.push(dayKeyFmt.format(new Date(t)));
  return days;
}

/** "19 Nov – 25 Nov 2026" for a period [from, to) of whole local days. */
export function fmtPeriod(from, to) {
  const a = new Date(from), b = new Date(new Date(to).getTime() - 1);
  const f = new Intl.DateTimeFormat('en-GB', { timeZone: CITY_TZ, day: 'numeric', month: 'short' });
  const y = new Intl.DateTimeFormat('en-GB', { timeZone: CITY_TZ, year: 'numeric' });
  return `${f.format(a)} – ${f.format(b)} ${y.format(b)}`;
}

/** Hours as "5 h", "1.5 d". */
export function fmtDuration(hours) {
  if (hours == null) return '–';
  if (hours < 1) return `${Math.max(1, Math.round(hours * 60))} min`;
  if (hours < 48) return `${fmtNum(hours)} h`;
  return `${fmtNum(hours / 24)} d`;
}

export function shortId(id) {
  return id.length > 30 ? `${id.slice(0, 18)}…${id.slice(-10)}` : id;
}
