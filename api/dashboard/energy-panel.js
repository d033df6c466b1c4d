// The energy panel: kWh imported per district per day and the peak demand (api/v1/policy/energy).

import { getJSON, storedKey } from './api.js';
import { groupedBars } from './charts.js';
import { dayParts, fmtDayTime, fmtNum } from './format.js';
import { $, fail, placeholder, state } from './page.js';
import { chartBlock, districtSeries, periodDays } from './policy.js';

export async function loadEnergy() {
  const el = $('#chart-energy');
  try {
    const rep = await getJSON('api/v1/policy/energy');
    const rows = rep.daily_by_district;
    if (!rows.length) {
      placeholder(el, 'No data yet: no energy meter counted any kWh in this period.');
      return;
    }
    const days = periodDays(rep, rows);
    const series = districtSeries(rows, 'group', days);
    const svg = groupedBars(days.map(dayParts), series, {
      unit: 'kWh', yLabel: 'kWh/day', format: (v) => fmtNum(v), title: 'kWh imported per district per day',
    });
    const peak = [...rep.districts].filter((d) => d.peak_demand_w != null).sort((a, b) => b.peak_demand_w - a.peak_demand_w)[0];
    const total = rep.districts.reduce((a, d) => a + d.kwh, 0);
    const notes = [`${fmtNum(total)} kWh imported in the period`
      + (peak ? `; highest peak demand ${fmtNum(peak.peak_demand_w / 1000)} kW in ${peak.district ?? 'no district'}`
        + (peak.peak_hour ? ` (${fmtDayTime(peak.peak_hour)})` : '') : '') + '.',
    state.authNeeded || storedKey() ? null : 'Without an API key, private meters (households) are left out.'];
    chartBlock(el, svg, series, notes);
  } catch (err) {
    fail(el, err);
  }
}
