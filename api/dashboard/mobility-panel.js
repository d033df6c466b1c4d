// The mobility panel: bikes counted per district per day (api/v1/policy/mobility).

import { getJSON } from './api.js';
import { groupedBars } from './charts.js';
import { dayParts, fmtNum, fmtPeriod } from './format.js';
import { t } from './i18n.js';
import { $, fail, placeholder } from './page.js';
import { chartBlock, districtSeries, periodDays } from './policy.js';

export async function loadMobility() {
  const el = $('#chart-bikes');
  try {
    const rep = await getJSON('api/v1/policy/mobility');
    $('#policy-period').textContent = t('policy.period.full', { period: fmtPeriod(rep.from, rep.to) });
    const rows = rep.daily.filter((r) => r.mode === 'bikes' && r.district !== 'all');
    if (!rows.length || rows.every((r) => !r.count)) {
      placeholder(el, t('mobility.empty'));
      return;
    }
    const days = periodDays(rep, rep.daily);
    const series = districtSeries(rows, 'district', days);
    const svg = groupedBars(days.map(dayParts), series, {
      unit: t('mobility.unit'), yLabel: t('mobility.axis'), format: (v) => fmtNum(v), title: t('policy.bikes.title'),
    });
    const total = rep.totals.find((t) => t.district === 'all' && t.mode === 'bikes');
    const notes = [];
    if (total) {
      const change = total.change_pct == null ? ''
        : t('mobility.change', { change: `${total.change_pct >= 0 ? '+' : ''}${fmtNum(total.change_pct)}` });
      const share = total.share_pct == null ? '' : t('mobility.share', { share: fmtNum(total.share_pct) });
      notes.push(t('mobility.total', { n: total.count, count: fmtNum(total.count), change, share }));
    }
    chartBlock(el, svg, series, notes);
  } catch (err) {
    fail(el, err);
  }
}
