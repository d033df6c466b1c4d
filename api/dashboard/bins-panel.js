// The bins panel: the collection list, most urgent first (api/v1/policy/cleanliness).

import { getJSON } from './api.js';
import { h } from './charts.js';
import { binBand, fmtDuration, fmtNum, shortId } from './format.js';
import { t } from './i18n.js';
import { $, fail, placeholder } from './page.js';

export async function loadBins() {
  const el = $('#chart-bins');
  try {
    const rep = await getJSON('api/v1/policy/cleanliness');
    const list = rep.collection_list;
    if (!list.length) {
      placeholder(el, t('bins.empty'));
      return;
    }
    const top = list.slice(0, 8);
    const rows = top.map((b, i) => {
      const band = binBand(b.fill_level);
      const bar = h('span', { class: 'fill' });
      bar.style.width = `${Math.max(0, Math.min(100, b.fill_level))}%`;
      bar.style.background = band.colour;
      let forecast = '–';
      if (b.hours_to_full != null) forecast = b.hours_to_full <= 0 ? t('bins.full') : t('bins.in', { time: fmtDuration(b.hours_to_full) });
      return h('tr', { 'data-sensor': b.sensor_id, 'data-band': band.key, class: b.above_threshold ? 'urgent' : null,
        'data-opens-detail': '', tabindex: 0 },
        h('td', { class: 'rank', text: String(i + 1) }),
        h('td', { class: 'sensor', title: b.sensor_id, text: shortId(b.sensor_id) }),
        h('td', { text: b.district ?? '–' }),
        h('td', { class: 'fillcell' }, h('span', { class: 'track' }, bar), h('span', { class: 'pct', text: `${fmtNum(b.fill_level)} %` })),
        h('td', { class: 'num', text: b.fill_rate_per_hour == null ? '–'
          : t('bins.rate', { rate: `${b.fill_rate_per_hour >= 0 ? '+' : ''}${fmtNum(b.fill_rate_per_hour)}` }) }),
        h('td', { class: 'num', text: forecast }));
    });
    const table = h('table', { class: 'bins' },
      h('thead', {}, h('tr', {}, ['rank', 'bin', 'district', 'fill', 'rate', 'full'].map((c) => h('th', { text: t(`bins.col.${c}`) })))),
      h('tbody', {}, rows));
    const overflow = rep.overflow_hours.filter((o) => o.hours > 0)
      .map((o) => `${o.district ?? t('district.none')} ${fmtDuration(o.hours)}`).join(', ');
    el.replaceChildren(...[
      h('p', { class: 'summary' }, h('strong', { text: t('bins.of', { above: rep.bins_above, n: list.length }) }),
        ' ', t('bins.summary', { threshold: fmtNum(rep.threshold) })),
      table,
      list.length > top.length ? h('p', { class: 'note', text: t('bins.more', { n: list.length - top.length }) }) : null,
      h('p', { class: 'note', text: t('bins.overflow', { list: overflow || t('bins.overflow-none') }) }),
    ].filter(Boolean));
  } catch (err) {
    fail(el, err);
  }
}
