// The air panel: days above the WHO and EU limits per district (api/v1/policy/air-quality).

import { getJSON } from './api.js';
import { groupedBars } from './charts.js';
import { districtColour, districtOrder, fmtNum, metricLabel } from './format.js';
import { t } from './i18n.js';
import { $, fail, placeholder } from './page.js';
import { chartBlock } from './policy.js';


export async function loadAir() {
  const el = $('#chart-air');
  try {
    const rep = await getJSON('api/v1/policy/air-quality');
    const ex = rep.exceedances.filter((e) => e.scope === 'district');
    if (!ex.length || ex.every((e) => !e.valid_days)) {
      placeholder(el, t('air.empty'));
      return;
    }
    const standards = rep.standards.filter((st) => ex.some((e) => e.metric === st.metric && e.standard === st.name));
    const districts = [...new Set(ex.map((e) => e.id ?? null))].sort(districtOrder);
    const find = (st, d) => ex.find((e) => e.metric === st.metric && e.standard === st.name && (e.id ?? null) === d);
    const series = districts.map((d) => ({
      name: d ?? t('district.none'),
      colour: districtColour(d),
      values: standards.map((st) => find(st, d)?.days ?? null),
      ghost: standards.map((st) => find(st, d)?.valid_days ?? null),
    }));
    const cats = standards.map((st) => [`${metricLabel(st.metric)} > ${fmtNum(st.limit)}`, t(`air.standard.${st.name}`)]);
    const svg = groupedBars(cats, series, {
      unit: t('air.unit'), ghostUnit: t('air.ghost-unit'), yLabel: t('air.unit'), title: t('air.chart-title'), integer: true,
      valueLabels: (v) => String(v),
    });
    const worst = ex.filter((e) => e.days > 0).sort((a, b) => b.days - a.days)[0];
    chartBlock(el, svg, series, [
      worst ? t('air.worst', { district: worst.id ?? t('district.none'), metric: metricLabel(worst.metric),
        limit: fmtNum(worst.limit), days: worst.days, valid: worst.valid_days })
        : t('air.none-above'),
      t('air.explain'),
    ]);
  } catch (err) {
    fail(el, err);
  }
}
