// The air panel: days above the WHO and EU limits per district (api/v1/policy/air-quality).

import { getJSON } from './api.js';
import { groupedBars } from './charts.js';
import { districtColour, districtOrder, fmtNum, metricLabel } from './format.js';
import { $, fail, placeholder } from './page.js';
import { chartBlock } from './policy.js';

const STANDARD_NAMES = { who_2021: 'WHO', eu_limit: 'EU limit' };

export async function loadAir() {
  const el = $('#chart-air');
  try {
    const rep = await getJSON('api/v1/policy/air-quality');
    const ex = rep.exceedances.filter((e) => e.scope === 'district');
    if (!ex.length || ex.every((e) => !e.valid_days)) {
      placeholder(el, 'No data yet: no air sensor has a valid day (18 hours of data) in this period.');
      return;
    }
    const standards = rep.standards.filter((st) => ex.some((e) => e.metric === st.metric && e.standard === st.name));
    const districts = [...new Set(ex.map((e) => e.id ?? null))].sort(districtOrder);
    const find = (st, d) => ex.find((e) => e.metric === st.metric && e.standard === st.name && (e.id ?? null) === d);
    const series = districts.map((d) => ({
      name: d ?? 'no district',
      colour: districtColour(d),
      values: standards.map((st) => find(st, d)?.days ?? null),
      ghost: standards.map((st) => find(st, d)?.valid_days ?? null),
    }));
    const cats = standards.map((st) => [`${metricLabel(st.metric)} > ${fmtNum(st.limit)}`, STANDARD_NAMES[st.name] ?? st.name]);
    const svg = groupedBars(cats, series, {
      unit: 'days', ghostUnit: 'valid days', yLabel: 'days', title: 'days with a daily mean above the limit', integer: true,
      valueLabels: (v) => String(v),
    });
    const worst = ex.filter((e) => e.days > 0).sort((a, b) => b.days - a.days)[0];
    chartBlock(el, svg, series, [
      worst ? `Most: ${worst.id ?? 'no district'}, ${metricLabel(worst.metric)} above ${fmtNum(worst.limit)} µg/m³ on ${worst.days} of ${worst.valid_days} days.`
        : 'No day above any limit in this period.',
      'Bars: days whose district mean exceeded the limit; shaded: days with a valid mean (≥ 18 h of data). '
      + 'WHO 2021 24-hour guideline levels (3–4 such days a year at most); EU Directive 2008/50/EC PM10 daily limit (35 a year).',
    ]);
  } catch (err) {
    fail(el, err);
  }
}
