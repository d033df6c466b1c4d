// The fleet health panel: sensors per status, the sensors with problems (worst first, why, since
// when) and the alerts firing now (api/v1/sensors/health, api/v1/alerts; docs/fleet-health.md).

import { getJSON } from './api.js';
import { h } from './charts.js';
import { fmtDayTime, shortId } from './format.js';
import { $, fail, placeholder } from './page.js';

// Worst first, as the API orders a sensor's problems.
export const STATUSES = ['silent', 'late', 'stuck', 'out_of_range', 'rejecting', 'low_battery', 'clock_skew', 'low_uptime', 'ok'];
const SHOWN = 12;

function label(status) { return status.replace('_', ' '); }

export async function loadHealth() {
  const el = $('#fleet-health');
  try {
    const [health, alerts] = await Promise.all([
      getJSON('api/v1/sensors/health'),
      getJSON('api/v1/alerts').catch(() => ({ data: [] })),
    ]);
    const sensors = health.data;
    if (!sensors.length) {
      placeholder(el, 'No sensors registered yet.');
      return;
    }
    const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    for (const s of sensors) counts[s.status] = (counts[s.status] ?? 0) + 1;
    const tally = h('ul', { class: 'health-counts' }, STATUSES.filter((s) => counts[s] > 0).map((s) =>
      h('li', { 'data-status': s, 'data-value': String(counts[s]) },
        h('strong', { text: String(counts[s]) }), ` ${label(s)}`)));
    const sick = sensors.filter((s) => s.status !== 'ok')
      .sort((a, b) => STATUSES.indexOf(a.status) - STATUSES.indexOf(b.status) || a.sensor_id.localeCompare(b.sensor_id));
    const rows = sick.slice(0, SHOWN).map((s) => {
      const worst = s.problems[0];
      return h('tr', { 'data-sensor': s.sensor_id, 'data-status': s.status },
        h('td', { class: 'sensor', title: s.sensor_id, text: shortId(s.sensor_id) }),
        h('td', { class: 'status', text: label(s.status) }),
        h('td', { class: 'why', text: worst.detail }),
        h('td', { class: 'since', text: worst.since ? fmtDayTime(worst.since) : '–' }));
    });
    const firing = alerts.data.map((a) => h('li', { 'data-rule': String(a.rule_id), 'data-sensor': a.sensor_id },
      h('strong', { text: a.rule }), ` · ${shortId(a.sensor_id)} · ${a.detail} · since ${fmtDayTime(a.since)}`));
    el.replaceChildren(...[
      tally,
      sick.length ? h('table', { class: 'health' },
        h('thead', {}, h('tr', {}, ['sensor', 'status', 'why', 'since'].map((t) => h('th', { text: t })))),
        h('tbody', {}, rows)) : h('p', { class: 'empty', text: 'Every sensor is healthy.' }),
      sick.length > SHOWN ? h('p', { class: 'note', text: `…and ${sick.length - SHOWN} more with problems.` }) : null,
      h('h3', { text: 'Alerts firing' }),
      firing.length ? h('ul', { class: 'alerts' }, firing) : h('p', { class: 'note', text: 'None.' }),
    ].filter(Boolean));
  } catch (err) {
    fail(el, err);
  }
}
