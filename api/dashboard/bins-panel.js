// The bins panel: the collection list, most urgent first (api/v1/policy/cleanliness).

import { getJSON } from './api.js';
import { h } from './charts.js';
import { binBand, fmtDuration, fmtNum, shortId } from './format.js';
import { $, fail, placeholder } from './page.js';

export async function loadBins() {
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
