// What the four policy panels share: a series per district over the report's days, and a chart with
// its legend and notes.

import { h, legend, paintSwatches } from './charts.js';
import { daysOf, districtColour, districtOrder } from './format.js';

export function districtSeries(rows, key, days) {
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
export function periodDays(rep, rows) {
  return [...new Set([...daysOf(rep.from, rep.to), ...rows.map((r) => r.day)])].sort();
}

export function chartBlock(el, svg, series, notes) {
  const leg = legend(series.map((se) => ({ name: se.name, colour: se.colour })));
  el.replaceChildren(svg, leg, ...notes.filter(Boolean).map((n) => h('p', { class: 'note', text: n })));
  paintSwatches(el);
}
