// The energy panel: kWh imported per district per day and the peak demand (api/v1/policy/energy).

import { getJSON, storedKey } from './api.js';
import { groupedBars } from './charts.js';
import { dayParts, fmtDayTime, fmtNum } from './format.js';
import { t } from './i18n.js';
import { $, fail, placeholder, state } from './page.js';
import { chartBlock, districtSeries, periodDays } from './policy.js';

export async function loadEnergy() {
  const el = $('#chart-energy');
  try {
    const rep = await getJSON('api/v1/policy/energy');
    const rows = rep.daily_by_district;
    if (!rows.length) {
      placeholder(el, t('energy.empty'));
      return;
    }
    const days = periodDays(rep, rows);
    const series = districtSeries(rows, 'group', days);
    const svg = groupedBars(days.map(dayParts), series, {
      unit: 'kWh', yLabel: t('energy.axis'), format: (v) => fmtNum(v), title: t('policy.energy.title'),
    });
    const peak = [...rep.districts].filter((d) => d.peak_demand_w != null).sort((a, b) => b.peak_demand_w - a.peak_demand_w)[0];
    const total = rep.districts.reduce((a, d) => a + d.kwh, 0);
    const notes = [t('energy.total', { kwh: fmtNum(total) })
      + (peak ? t('energy.peak', { kw: fmtNum(peak.peak_demand_w / 1000), district: peak.district ?? t('district.none'),
        hour: peak.peak_hour ? ` (${fmtDayTime(peak.peak_hour)})` : '' }) : '') + '.',
    state.authNeeded || storedKey() ? null : t('energy.private')];
    chartBlock(el, svg, series, notes);
  } catch (err) {
    fail(el, err);
  }
}
