// The mobility panel: bikes counted per district per day (api/v1/policy/mobility).

import { getJSON } from './api.js';
import { groupedBars } from './charts.js';
import { dayParts, fmtNum, fmtPeriod } from './format.js';
import { $, fail, placeholder } from './page.js';
import { chartBlock, districtSeries, periodDays } from './policy.js';

export async function loadMobility() {
  const el = $('#chart-bikes');
  try {
    const rep = await getJSON('api/v1/policy/mobility');
    $('#policy-period').textContent = `${fmtPeriod(rep.from, rep.to)} · the last 7 whole days (Europe/Brussels); bins: now`;
    const rows = rep.daily.filter((r) => r.mode === 'bikes' && r.district !== 'all');
    if (!rows.length || rows.every((r) => !r.count)) {
      placeholder(el, 'No data yet: no bikes counted in this period.');
      return;
    }
    const days = periodDays(rep, rep.daily);
    const series = districtSeries(rows, 'district', days);
    const svg = groupedBars(days.map(dayParts), series, {
      unit: 'bikes', yLabel: 'bikes/day', format: (v) => fmtNum(v), title: 'bikes counted per district per day',
    });
    const total = rep.totals.find((t) => t.district === 'all' && t.mode === 'bikes');
    const notes = [];
    if (total) {
      const change = total.change_pct == null ? '' : `, ${total.change_pct >= 0 ? '+' : ''}${fmtNum(total.change_pct)} % on the 7 days before`;
      const share = total.share_pct == null ? '' : `; bikes are ${fmtNum(total.share_pct)} % of all counted movements`;
      notes.push(`${fmtNum(total.count)} bikes counted${change}${share}.`);
    }
    chartBlock(el, svg, series, notes);
  } catch (err) {
    fail(el, err);
  }
}
