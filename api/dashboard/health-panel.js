// The fleet health panel: sensors per status, the sensors with problems (worst first, why, since
// when) and the alerts firing now (api/v1/sensors/health, api/v1/alerts; docs/fleet-health.md). The
// health it loads also outlines the map's markers and badges the live table's rows.

import { getJSON } from './api.js';
import { h } from './charts.js';
import { statusBadge } from './detail-panel.js';
import { STATUSES, fmtDayTime, fmtNum, metricLabel, shortId, statusLabel } from './format.js';
import { t } from './i18n.js';
import { renderLive } from './live-panel.js';
import { sensorMap } from './map-panel.js';
import { $, fail, placeholder, state } from './page.js';

const SHOWN = 12;

function firingAlerts(alerts) {
  const pill = $('#alert-count');
  pill.hidden = !alerts.length;
  pill.textContent = t('alerts.count', { n: alerts.length });
  const items = alerts.map((a) => h('li', { 'data-rule': String(a.rule_id), 'data-sensor': a.sensor_id, 'data-opens-detail': '', tabindex: 0 },
    h('strong', { text: a.rule }), ` · ${shortId(a.sensor_id)}`,
    a.value == null ? '' : ` · ${t('alerts.value', { value: fmtNum(a.value) })}`,
    ` · ${t('alerts.since', { time: fmtDayTime(a.since) })}`,
    h('span', { class: 'muted small server-detail', text: ` (${a.detail})` })));
  return [
    h('h3', { id: 'alerts-title', text: t('alerts.title') }),
    items.length ? h('ul', { class: 'alerts', 'aria-labelledby': 'alerts-title' }, items)
      : h('p', { class: 'note', text: t('alerts.none') }),
  ];
}

export async function loadHealth() {
  const el = $('#fleet-health');
  try {
    const [health, alerts] = await Promise.all([
      getJSON('api/v1/sensors/health'),
      getJSON('api/v1/alerts').catch(() => ({ data: null })),
    ]);
    const sensors = health.data;
    state.health = new Map(sensors.map((s) => [s.sensor_id, s]));
    sensorMap.setHealth(state.health);
    renderLive();
    if (!sensors.length) {
      placeholder(el, t('health.empty'));
      return;
    }
    const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    for (const s of sensors) counts[s.status] = (counts[s.status] ?? 0) + 1;
    const tally = h('ul', { class: 'health-counts' }, STATUSES.filter((s) => counts[s] > 0).map((s) =>
      h('li', { 'data-status': s, 'data-value': String(counts[s]) },
        h('strong', { text: fmtNum(counts[s]) }), ' ', statusBadge(s))));
    const sick = sensors.filter((s) => s.status !== 'ok')
      .sort((a, b) => STATUSES.indexOf(a.status) - STATUSES.indexOf(b.status) || a.sensor_id.localeCompare(b.sensor_id));
    const rows = sick.slice(0, SHOWN).map((s) => {
      const worst = s.problems[0];
      return h('tr', { 'data-sensor': s.sensor_id, 'data-status': s.status, 'data-opens-detail': '', tabindex: 0 },
        h('td', { class: 'sensor', title: s.sensor_id, text: shortId(s.sensor_id) }),
        h('td', { class: 'status' }, statusBadge(s.status)),
        h('td', { class: 'why', title: worst.detail,
          text: [statusLabel(worst.kind), worst.metric ? metricLabel(worst.metric) : null].filter(Boolean).join(' · ')
            + (s.problems.length > 1 ? ` ${t('health.more-problems', { n: s.problems.length - 1 })}` : '') }),
        h('td', { class: 'since', text: worst.since ? fmtDayTime(worst.since) : '–' }));
    });
    el.replaceChildren(...[
      tally,
      sick.length ? h('table', { class: 'health' },
        h('thead', {}, h('tr', {}, ['sensor', 'status', 'why', 'since'].map((c) => h('th', { text: t(`health.col.${c}`) })))),
        h('tbody', {}, rows)) : h('p', { class: 'empty', text: t('health.all-ok') }),
      sick.length > SHOWN ? h('p', { class: 'note', text: t('health.more', { n: sick.length - SHOWN }) }) : null,
      ...(alerts.data ? firingAlerts(alerts.data) : [h('p', { class: 'note', text: t('alerts.unavailable') })]),
    ].filter(Boolean));
  } catch (err) {
    fail(el, err);
  }
}
