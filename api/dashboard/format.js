// Formatting and colour scales. Pure functions, no DOM.

// The district list is not written out here: the server generates districts.js from
// models/districts.py (api/routes/dashboard.py).
import { DISTRICTS } from './districts.js';
import { has, locale, t } from './i18n.js';

export { DISTRICTS };

export const CITY_TZ = 'Europe/Brussels';

// Okabe-Ito, in the order of DISTRICTS: tells the five districts apart also for colour-blind readers.
const DISTRICT_PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9'];

export function districtColour(name) {
  const i = DISTRICTS.indexOf(name);
  return (i >= 0 ? DISTRICT_PALETTE[i] : undefined) ?? '#8a94a0';
}

// "a, b en c"
export function listOf(names) {
  return new Intl.ListFormat(locale(), { type: 'conjunction' }).format(names);
}

export function districtOrder(a, b) {
  const ia = DISTRICTS.indexOf(a), ib = DISTRICTS.indexOf(b);
  return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || String(a).localeCompare(String(b));
}

// Bins by fill level (%): green below 50, amber below 80, red from 80 (the cleanliness report's
// default threshold for "needs emptying").
// A band's label is its key's message (band.<key>).
function band(below, key, colour) {
  return { below, key, colour, get label() { return t(`band.${key}`); } };
}

export const BIN_BANDS = [
  band(50, 'bin-green', '#2f9e5b'),
  band(80, 'bin-amber', '#f0a30a'),
  band(Infinity, 'bin-red', '#d64545'),
];

// Air by PM2.5 (µg/m³): the bands and colours of the EEA European Air Quality Index in its six-level
// form (good < 10, fair < 20, moderate < 25, poor < 50, very poor < 75, extremely poor). The EEA
// computes its index from hourly values (24-hour running means for PM); applied here to a sensor's
// latest reading, it is an indication, not the official index. Swap this table to follow a later
// revision of the index.
export const PM25_BANDS = [
  band(10, 'air-good', '#50f0e6'),
  band(20, 'air-fair', '#50ccaa'),
  band(25, 'air-moderate', '#f0e641'),
  band(50, 'air-poor', '#ff5050'),
  band(75, 'air-very-poor', '#960032'),
  band(Infinity, 'air-extremely-poor', '#7d2181'),
];

export const NEUTRAL = band(null, 'neutral', '#7b8794');
export const NO_DATA = band(null, 'no-data', '#ffffff');

// Fleet health (api/v1/sensors/health), worst first as the API orders a sensor's problems; the
// marker outlines and the status badges. Label: the message status.<key>.
export const STATUSES = ['silent', 'late', 'stuck', 'out_of_range', 'rejecting', 'low_battery', 'clock_skew', 'low_uptime', 'ok'];
const STATUS_COLOURS = {
  silent: '#6e2c8c', late: '#c0392b', stuck: '#d35400', out_of_range: '#b7950b', rejecting: '#b7950b',
  low_battery: '#a04000', clock_skew: '#5d6d7e', low_uptime: '#5d6d7e', ok: '#1e7b45',
};
export function statusColour(status) { return STATUS_COLOURS[status] ?? '#5d6d7e'; }
export function statusLabel(status) { return has(`status.${status}`) ? t(`status.${status}`) : status; }

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

// A metric's short label: its message metric.<name>, or the name itself.
export function metricLabel(m) { return has(`metric.${m}`) ? t(`metric.${m}`) : m; }

const UNIT_LABELS = { 'ug/m3': 'µg/m³', degC: '°C', m3: 'm³', '1': '', count: '' };
export function unitLabel(u) { return u in UNIT_LABELS ? UNIT_LABELS[u] : (u ?? ''); }

const nf = [0, 1, 2].map((d) => new Intl.NumberFormat(locale(), { maximumFractionDigits: d }));

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

const timeFmt = new Intl.DateTimeFormat(locale(), {
  timeZone: CITY_TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const hourFmt = new Intl.DateTimeFormat(locale(), { timeZone: CITY_TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const dayTimeFmt = new Intl.DateTimeFormat(locale(), {
  timeZone: CITY_TZ, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
// en-CA writes days as 2026-11-23: a machine key, never shown.
const dayKeyFmt = new Intl.DateTimeFormat('en-CA', { timeZone: CITY_TZ, year: 'numeric', month: '2-digit', day: '2-digit' });

/** A time: hh:mm:ss when it is today in Brussels, else "23 nov, 14:05". */
export function fmtTime(t) {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return '–';
  return dayKeyFmt.format(d) === dayKeyFmt.format(new Date()) ? timeFmt.format(d) : dayTimeFmt.format(d);
}
export function fmtHour(t) { return hourFmt.format(t instanceof Date ? t : new Date(t)); }
export function fmtDayTime(t) { return dayTimeFmt.format(t instanceof Date ? t : new Date(t)); }

// Calendar days are formatted at noon UTC in UTC: no time zone can move them to another day.
const weekdayFmt = new Intl.DateTimeFormat(locale(), { timeZone: 'UTC', weekday: 'short' });
const dayMonthFmt = new Intl.DateTimeFormat(locale(), { timeZone: 'UTC', day: 'numeric', month: 'short' });

/** A calendar day "2026-11-23" as ["ma", "23 nov"] (nl) or ["Mon", "23 Nov"] (en). */
export function dayParts(day) {
  const [y, m, d] = day.split('-').map(Number);
  const noon = new Date(Date.UTC(y, m - 1, d, 12));
  return [weekdayFmt.format(noon), dayMonthFmt.format(noon)];
}

/** The local calendar days ("2026-11-23") of a period [from, to) of whole local days. */
export function daysOf(from, to) {
  const days = [];
  const end = new Date(to).getTime();
  // From noon to noon: 24-hour steps stay inside the right day across DST changes (23 or 25 h days).
  for (let t = new Date(from).getTime() + 12 * 3600_000; t < end; t += 24 * 3600_000) days.push(dayKeyFmt.format(new Date(t)));
  return days;
}

/** "19–25 nov 2026" for a period [from, to) of whole local days. */
export function fmtPeriod(from, to) {
  const a = new Date(from), b = new Date(new Date(to).getTime() - 1);
  return new Intl.DateTimeFormat(locale(), { timeZone: CITY_TZ, day: 'numeric', month: 'short', year: 'numeric' })
    .formatRange(a, b);
}

const unitFmt = (unit, digits) => new Intl.NumberFormat(locale(), {
  style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: digits,
});
const durations = { second: unitFmt('second', 0), minute: unitFmt('minute', 0), hour: unitFmt('hour', 1), day: unitFmt('day', 1) };

/** Hours as "5 uur", "1,5 dagen" (nl) or "5 hrs", "1.5 days" (en). */
export function fmtDuration(hours) {
  if (hours == null) return '–';
  if (hours < 1) return durations.minute.format(Math.max(1, Math.round(hours * 60)));
  if (hours < 48) return durations.hour.format(hours);
  return durations.day.format(hours / 24);
}

/** Seconds as "10 sec", "15 min", "1 uur". */
export function fmtSeconds(seconds) {
  if (seconds == null) return '–';
  if (seconds < 90) return durations.second.format(seconds);
  if (seconds < 3600) return durations.minute.format(seconds / 60);
  return fmtDuration(seconds / 3600);
}

export function shortId(id) {
  return id.length > 30 ? `${id.slice(0, 18)}…${id.slice(-10)}` : id;
}
