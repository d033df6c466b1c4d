// What the four policy panels share: a series per district over the report's days, a chart with
// its legend and notes, and the download of what a panel shows (format=csv / csv-nl).

import { getFile } from './api.js';
import { h, legend, paintSwatches } from './charts.js';
import { daysOf, districtColour, districtOrder } from './format.js';
import { t } from './i18n.js';
import { fail } from './page.js';

export function districtSeries(rows, key, days) {
  const districts = [...new Set(rows.map((r) => r[key] ?? null))].sort(districtOrder);
  return districts.map((d) => ({
    name: d ?? t('district.none'),
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

// The report behind each panel (article[data-report]) as CSV, and as CSV for Excel in nl-BE.
const FORMATS = [{ format: 'csv', label: 'download.csv', title: 'download.csv.title' },
  { format: 'csv-nl', label: 'download.excel', title: 'download.excel.title' }];

async function download(report, format, button) {
  button.disabled = true;
  try {
    const { blob, filename } = await getFile(`api/v1/policy/${report}`, { format });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    const card = button.closest('.chart-card');
    const p = h('p', { class: 'note' });
    card.append(p);
    fail(p, err);
  } finally {
    button.disabled = false;
  }
}

export function setupDownloads() {
  for (const card of document.querySelectorAll('.chart-card[data-report]')) {
    const report = card.dataset.report;
    card.querySelector('.downloads').replaceChildren(...FORMATS.map((f) => {
      const b = h('button', { type: 'button', class: 'ghost small', 'data-format': f.format, title: t(f.title), text: t(f.label) });
      b.addEventListener('click', () => download(report, f.format, b));
      return b;
    }));
  }
}
