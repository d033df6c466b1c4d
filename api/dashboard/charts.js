// SVG charts without a library: a sparkline and a grouped bar chart (with optional "ghost" bars
// behind, e.g. valid days behind exceedance days). Every data point is an element with
// data-value, so tests and screen readers (via <title>) can find it.

const NS = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes and children (elements or strings). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v != null && v !== false) el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

/** An HTML element, same shape. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

const r1 = (v) => Math.round(v * 10) / 10;

/** About `n` round tick values from 0 to at least `max`. */
export function niceTicks(max, n = 4, integer = false) {
  if (!(max > 0)) return [0, 1];
  const raw = integer ? Math.max(max / n, 1) : max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw && (!integer || Number.isInteger(st))) ?? 10 * mag;
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Math.round(v / step) * step);
  if (ticks.length < 2) ticks.push(step);
  return ticks;
}

function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return `${r1(v / 1e6)}M`;
  if (a >= 1e4) return `${Math.round(v / 1e3)}k`;
  if (a >= 1e3) return `${r1(v / 1e3)}k`;
  return String(r1(v));
}

/**
 * A sparkline of points [{t: Date, v: number|null}] (nulls are gaps).
 * Returns an <svg class="sparkline"> with one <circle class="pt"> per point with a value.
 */
export function sparkline(points, { colour = '#1f6feb', width = 280, height = 64, title = '' } = {}) {
  const pad = 4;
  const vals = points.filter((p) => p.v != null).map((p) => p.v);
  const lo = Math.min(...vals), hi = Math.max(...vals);
  const span = hi - lo || Math.abs(hi) || 1;
  const y0 = lo - span * 0.08, y1 = hi + span * 0.08;
  const n = Math.max(points.length - 1, 1);
  const x = (i) => r1(pad + (i * (width - 2 * pad)) / n);
  const y = (v) => r1(height - pad - ((v - y0) / (y1 - y0)) * (height - 2 * pad));
  const svg = s('svg', {
    class: 'sparkline', viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': title,
  });
  // Runs of consecutive values, each a line and a shaded area.
  const runs = [];
  let run = [];
  points.forEach((p, i) => {
    if (p.v == null) { if (run.length) runs.push(run); run = []; } else run.push([x(i), y(p.v)]);
  });
  if (run.length) runs.push(run);
  for (const r of runs) {
    const line = r.map(([a, b]) => `${a},${b}`).join(' ');
    if (r.length > 1) {
      svg.append(s('polygon', {
        class: 'area', fill: colour, points: `${r[0][0]},${height - pad} ${line} ${r[r.length - 1][0]},${height - pad}`,
      }));
    }
    svg.append(s('polyline', { class: 'line', stroke: colour, points: line }));
  }
  points.forEach((p, i) => {
    if (p.v == null) return;
    const last = i === points.length - 1 || points.slice(i + 1).every((q) => q.v == null);
    svg.append(s('circle', {
      class: last ? 'pt last' : 'pt', cx: x(i), cy: y(p.v), r: last ? 3.2 : 1.2, fill: colour, 'data-value': p.v,
    }));
  });
  return svg;
}

/**
 * Grouped bars: `categories` along x (labels: a string or [line1, line2]), one bar per series in
 * each. series: [{name, colour, values: [number|null], ghost?: [number|null]}].
 * Options: unit (for titles), yLabel, valueLabels (print values above bars), yMax.
 */
export function groupedBars(categories, series, opts = {}) {
  const W = opts.width ?? 560, H = opts.height ?? 230;
  const m = { l: 46, r: 8, t: 24, b: 38 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  const all = series.flatMap((se) => [...se.values, ...(se.ghost ?? [])]).filter((v) => v != null);
  const ticks = niceTicks(Math.max(opts.yMax ?? 0, ...all, 0), 4, opts.integer);
  const top = ticks[ticks.length - 1];
  const y = (v) => m.t + ph - (v / top) * ph;
  const svg = s('svg', { class: 'bars', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.title ?? '' });
  const grid = s('g', { class: 'grid' });
  for (const t of ticks) {
    grid.append(s('line', { x1: m.l, x2: W - m.r, y1: r1(y(t)), y2: r1(y(t)) }));
    grid.append(s('text', { x: m.l - 6, y: r1(y(t)) + 4, 'text-anchor': 'end' }, compact(t)));
  }
  if (opts.yLabel) {
    grid.append(s('text', { class: 'axis-label', x: 4, y: 10 }, opts.yLabel));
  }
  svg.append(grid);
  const slot = pw / Math.max(categories.length, 1);
  const groupW = slot * 0.8;
  const barW = groupW / Math.max(series.length, 1);
  const bars = s('g', { class: 'series' });
  categories.forEach((cat, ci) => {
    const gx = m.l + ci * slot + (slot - groupW) / 2;
    const label = Array.isArray(cat) ? cat : [cat];
    const lx = r1(m.l + ci * slot + slot / 2);
    svg.append(s('text', { class: 'xlabel', x: lx, y: H - m.b + 16, 'text-anchor': 'middle' },
      s('tspan', { x: lx }, label[0]), label[1] ? s('tspan', { x: lx, dy: 13, class: 'muted' }, label[1]) : null));
    series.forEach((se, si) => {
      const bx = r1(gx + si * barW + barW * 0.06), bw = r1(Math.max(barW * 0.88, 1));
      const name = Array.isArray(cat) ? cat.join(' ') : cat;
      const ghost = se.ghost?.[ci];
      if (ghost != null) {
        bars.append(s('rect', {
          class: 'ghost', x: bx, width: bw, y: r1(y(ghost)), height: r1(y(0) - y(ghost)), fill: se.colour,
          'data-value': ghost,
        }, s('title', {}, `${se.name}, ${name}: ${ghost} ${opts.ghostUnit ?? ''}`)));
      }
      const v = se.values[ci];
      if (v == null) return;
      const hgt = Math.max(r1(y(0) - y(v)), v > 0 ? 1 : 0);
      bars.append(s('rect', {
        class: 'bar', x: bx, width: bw, y: r1(y(0) - hgt), height: hgt, fill: se.colour,
        'data-series': se.name, 'data-value': v,
      }, s('title', {}, `${se.name}, ${name}: ${opts.format ? opts.format(v) : v} ${opts.unit ?? ''}`.trim())));
      if (opts.valueLabels) {
        const text = opts.valueLabels(v, ghost);
        bars.append(s('text', { class: 'vlabel', x: r1(bx + bw / 2), y: r1(y(Math.max(v, ghost ?? 0)) - 4),
          'text-anchor': 'middle' }, text));
      }
    });
  });
  svg.append(bars);
  svg.append(s('line', { class: 'axis', x1: m.l, x2: W - m.r, y1: r1(y(0)), y2: r1(y(0)) }));
  return svg;
}

/** A legend: [{name, colour, shape?}] as HTML. */
export function legend(items, cls = 'legend') {
  return h('div', { class: cls }, items.map((it) => h('span', { class: 'key' },
    h('span', { class: `swatch ${it.shape ?? ''}`, 'data-colour': it.colour }), it.name)));
}

/** Colour the swatches of a legend (CSSOM: allowed by the page's CSP, unlike style attributes). */
export function paintSwatches(root) {
  for (const el of root.querySelectorAll('.swatch[data-colour]')) el.style.background = el.dataset.colour;
}
