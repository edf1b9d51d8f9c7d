// Hand-drawn SVG charts. Every chart has a text alternative (its data table)
// and a CSV download.
import { esc, toCSV, fmtDur } from './util.js';
import { saveBlob } from './api.js';

let uid = 0;

// block renders a chart section: heading, SVG, the data as a table inside
// <details>, and a CSV download button (wired by wireCSV).
export function block({ title, svg, headers, rows, csvName, note }) {
  const id = `chart-${++uid}`;
  const table = `<table><caption class="visually-hidden">${esc(title)} data</caption><thead><tr>${headers.map((x) => `<th scope="col">${esc(x)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td${typeof c === 'number' ? ' class="num"' : ''}>${esc(c ?? '')}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
  const html = `<section class="chart" aria-labelledby="${id}-h" data-chart="${esc(csvName)}">
    <h2 id="${id}-h">${esc(title)}</h2>
    ${note ? `<p class="hint">${esc(note)}</p>` : ''}
    ${rows.length ? svg : '<p class="notice">No data for these filters.</p>'}
    <div class="chart-actions">
      <button type="button" class="secondary" data-csv="${id}">Download CSV</button>
      <details><summary>Show data table</summary><div class="scroll">${table}</div></details>
    </div>
  </section>`;
  csvs.set(id, { name: csvName, csv: toCSV(headers, rows) });
  return html;
}

const csvs = new Map();
export function wireCSV(root) {
  root.querySelectorAll('button[data-csv]').forEach((b) => {
    b.addEventListener('click', () => {
      const c = csvs.get(b.dataset.csv);
      if (c) saveBlob(new Blob([c.csv], { type: 'text/csv' }), `${c.name}.csv`);
    });
  });
}

// hbars: horizontal bars, one or more series per label.
export function hbars({ labels, series, format = (v) => String(v), label }) {
  const rowH = 16 * series.length + 8, left = 150, width = 640, right = 70;
  const max = Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v != null))) || 1;
  const height = labels.length * rowH + 30;
  const scale = (v) => ((width - left - right) * v) / max;
  let g = '';
  labels.forEach((l, i) => {
    const y = 20 + i * rowH;
    g += `<text x="${left - 6}" y="${y + rowH / 2}" text-anchor="end" dominant-baseline="middle" font-size="12">${esc(l)}</text>`;
    series.forEach((s, j) => {
      const v = s.values[i];
      if (v == null) return;
      const yy = y + 4 + j * 16;
      g += `<rect x="${left}" y="${yy}" width="${Math.max(1, scale(v))}" height="13" fill="${s.color}"><title>${esc(l)} ${esc(s.name)}: ${esc(format(v))}</title></rect>`;
      g += `<text x="${left + scale(v) + 4}" y="${yy + 10}" font-size="11">${esc(format(v))}</text>`;
    });
  });
  const legend = series.length > 1 ? series.map((s, j) => `<rect x="${left + j * 90}" y="2" width="10" height="10" fill="${s.color}"/><text x="${left + j * 90 + 14}" y="11" font-size="11">${esc(s.name)}</text>`).join('') : '';
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(label)}">${legend}${g}</svg>`;
}

// heatmap: hour (columns) × weekday (rows).
export function heatmap({ rows, cols, values, label }) {
  const cw = 26, ch = 24, left = 90, top = 22;
  const max = Math.max(1, ...values.flat());
  let g = '';
  cols.forEach((c, j) => { g += `<text x="${left + j * cw + cw / 2}" y="${top - 6}" text-anchor="middle" font-size="10">${esc(c)}</text>`; });
  rows.forEach((r, i) => {
    g += `<text x="${left - 6}" y="${top + i * ch + ch / 2}" text-anchor="end" dominant-baseline="middle" font-size="12">${esc(r)}</text>`;
    cols.forEach((c, j) => {
      const v = values[i][j];
      const t = v / max;
      const light = Math.round(97 - t * 62);
      g += `<rect x="${left + j * cw}" y="${top + i * ch}" width="${cw - 2}" height="${ch - 2}" fill="hsl(212, 70%, ${light}%)" stroke="#c9ccd1"><title>${esc(r)} ${esc(c)}:00 — ${v}</title></rect>`;
      if (v) g += `<text x="${left + j * cw + cw / 2 - 1}" y="${top + i * ch + ch / 2}" text-anchor="middle" dominant-baseline="middle" font-size="10" fill="${light < 60 ? '#fff' : '#000'}">${v}</text>`;
    });
  });
  const w = left + cols.length * cw + 10, hgt = top + rows.length * ch + 10;
  return `<svg viewBox="0 0 ${w} ${hgt}" width="${w}" height="${hgt}" role="img" aria-label="${esc(label)}">${g}</svg>`;
}

export const STATUS_COLORS = {
  dispatched: '#6c757d', acknowledged: '#adb5bd', enroute: '#e8590c', arrived: '#c92a2a', '~': '#862e9c',
  transport_started: '#5f3dc4', transport_arrived: '#364fc7', cleared: '#2b8a3e', available: '#1864ab', in_quarters: '#0b7285',
};
const colorOf = (k) => STATUS_COLORS[k] || '#495057';

// timeline: one row per unit, each status from its time to the unit's next
// status; every status time is a tick.
export function timeline(units, tz) {
  const all = units.flatMap((u) => u.events.map((e) => e.t));
  if (!all.length) return '<p class="notice">No unit status times.</p>';
  const t0 = Math.min(...all), t1 = Math.max(...all);
  const span = Math.max(60, t1 - t0);
  const left = 80, width = 900, right = 20, rowH = 34, top = 30;
  const x = (t) => left + ((width - left - right) * (t - t0)) / span;
  let g = '';
  // axis ticks every "nice" step
  const steps = [60, 120, 300, 600, 900, 1800, 3600, 7200];
  const step = steps.find((s) => span / s <= 10) || 14400;
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const label = new Date(t * 1000).toLocaleTimeString('en-US', { timeZone: tz || undefined, hour: '2-digit', minute: '2-digit', hour12: false });
    g += `<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${top + units.length * rowH}" stroke="#dee2e6"/><text x="${x(t)}" y="${top - 10}" text-anchor="middle" font-size="11">${esc(label)}</text>`;
  }
  units.forEach((u, i) => {
    const y = top + i * rowH;
    g += `<text x="${left - 8}" y="${y + rowH / 2}" text-anchor="end" dominant-baseline="middle" font-size="13" font-weight="600">${esc(u.unit)}</text>`;
    const ev = u.events;
    ev.forEach((e, j) => {
      const xe = j + 1 < ev.length ? x(ev[j + 1].t) : x(e.t) + 4;
      g += `<rect x="${x(e.t)}" y="${y + 6}" width="${Math.max(2, xe - x(e.t))}" height="${rowH - 14}" fill="${colorOf(e.status)}" opacity="0.85"><title>${esc(u.unit)} ${esc(e.status)} at ${esc(e.label)}</title></rect>`;
      g += `<line x1="${x(e.t)}" y1="${y + 2}" x2="${x(e.t)}" y2="${y + rowH - 4}" stroke="#000" stroke-width="1"/>`;
    });
  });
  const h = top + units.length * rowH + 8;
  const present = [...new Set(units.flatMap((u) => u.events.map((e) => e.status)))];
  const legend = `<div class="legend" aria-hidden="true">${present.map((s) => `<span style="--c:${colorOf(s)}">${esc(s === '~' ? '~ (other)' : s)}</span>`).join('')}</div>`;
  const desc = units.map((u) => `${u.unit}: ${u.events.map((e) => `${e.status} ${e.label}`).join(', ')}`).join('; ');
  return `${legend}<svg class="timeline" viewBox="0 0 ${width} ${h}" width="${width}" height="${h}" role="img" aria-label="Unit status timeline. ${esc(desc)}">${g}</svg>`;
}

export { fmtDur };
