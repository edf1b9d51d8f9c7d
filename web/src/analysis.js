// Analysis: NFPA 1710 tiles, percentiles by unit/station, hour × weekday
// heat map, counts by type, unit-hour utilization. Computed in the browser
// from the matching incidents; the server's /api/v1/stats tables, when this
// server has them, are offered as CSV downloads too.
import { api, download, incidentPath } from './api.js';
import { esc, percentile, toRFC3339, toLocalInput, announce, problemHTML, fmtDur } from './util.js';
import { incidentMetrics } from './metrics.js';
import { block, wireCSV, hbars, heatmap } from './charts.js';

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const FILTERS = ['department', 'type', 'unit_id', 'station'];

async function gather(params, max, progress) {
  const ids = [];
  let cursor = '';
  let searchOK = true;
  while (ids.length < max) {
    const q = new URLSearchParams();
    for (const k of ['from', 'to', ...FILTERS]) if (params.get(k)) q.set(k, params.get(k));
    q.set('limit', String(Math.min(200, max - ids.length)));
    if (cursor) q.set('cursor', cursor);
    let r;
    if (searchOK) {
      q.set('sort', '-event_opened');
      try { r = await api(`/api/v1/search?${q}`); r.items = (r.hits || []).map((h) => h.incident); } catch (e) {
        if (e.status !== 503 && e.status !== 404) throw e;
        searchOK = false; continue;
      }
    } else {
      q.delete('sort');
      r = await api(`/api/v1/incidents?${q}`); r.items = r.incidents || [];
    }
    ids.push(...r.items.map((i) => i.id));
    progress(`Found ${ids.length} incidents…`);
    if (!r.next || !r.items.length) break;
    cursor = r.next;
  }
  const docs = [];
  let i = 0;
  const worker = async () => {
    while (i < ids.length) {
      const id = ids[i++];
      try { docs.push(await api(incidentPath(id.fd_id, id.incident_number))); } catch { /* deleted meanwhile */ }
      if (docs.length % 25 === 0) progress(`Loaded ${docs.length} of ${ids.length} incidents…`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return docs;
}

function localParts(iso, tz) {
  const d = new Date(iso);
  try {
    const f = new Intl.DateTimeFormat('en-US', { timeZone: tz || 'UTC', hour: 'numeric', hourCycle: 'h23', weekday: 'long' });
    const parts = Object.fromEntries(f.formatToParts(d).map((p) => [p.type, p.value]));
    return { hour: Number(parts.hour) % 24, weekday: parts.weekday };
  } catch {
    return { hour: d.getUTCHours(), weekday: WEEKDAYS[d.getUTCDay()] };
  }
}

const ok = (v) => v && v.seconds != null && !(v.flags || []).length;

function pctTile(title, values, limit, excluded) {
  const n = values.length;
  const within = values.filter((v) => v <= limit).length;
  const pct = n ? (100 * within) / n : null;
  const cls = pct == null ? '' : pct >= 90 ? 'good' : 'bad';
  return `<div class="tile ${cls}" data-tile><div>${esc(title)}</div><div class="big">${pct == null ? '—' : `${pct.toFixed(1)}%`}</div>
    <div class="hint">${within} of ${n} within ${limit} s (goal 90%)${excluded ? `; ${excluded} flagged value${excluded === 1 ? '' : 's'} excluded` : ''}</div></div>`;
}

function groupPercentiles(entries) {
  const g = new Map();
  for (const [k, v] of entries) { if (!k) continue; if (!g.has(k)) g.set(k, []); g.get(k).push(v); }
  return [...g.entries()].map(([k, vs]) => {
    vs.sort((a, b) => a - b);
    return { k, n: vs.length, p50: percentile(vs, 50), p90: percentile(vs, 90), mean: vs.reduce((a, b) => a + b, 0) / vs.length };
  }).sort((a, b) => (b.p90 - a.p90) || a.k.localeCompare(b.k));
}

// serverPercentiles asks GET /api/v1/stats/durations for exact p50/p90 over
// every matching incident; null when the server has no such table.
async function serverPercentiles(params, groupBy, metric) {
  const q = new URLSearchParams();
  for (const k of ['from', 'to', ...FILTERS]) if (params.get(k)) q.set(k, params.get(k));
  q.set('group_by', groupBy);
  q.set('metrics', metric);
  try {
    const r = await api(`/api/v1/stats/durations?${q}`);
    if (!r || !Array.isArray(r.rows)) return null;
    const pick = (p, k) => (p ? p[`p${k}`] ?? p[k] ?? p[`${k}.0`] ?? null : null);
    return r.rows.filter((x) => x.count > 0).map((x) => ({
      k: (x.group && (x.group[groupBy] ?? Object.values(x.group)[0])) || '(none)',
      n: x.count, mean: x.mean ?? 0, p50: pick(x.percentiles, 50), p90: pick(x.percentiles, 90),
    })).filter((x) => x.p50 != null && x.p90 != null).sort((a, b) => (b.p90 - a.p90) || String(a.k).localeCompare(String(b.k)));
  } catch {
    return null;
  }
}

function pctBlock(title, csvName, rows, what) {
  const top = rows.slice(0, 25);
  return block({
    title, csvName,
    note: `${rows.server ? 'Computed by the server over every matching incident. ' : ''}${rows.length > 25 ? `The 25 slowest of ${rows.length} by p90 are drawn; the table and CSV have all.` : `p50 and p90 of ${what}, flagged values excluded.`}`,
    svg: hbars({ labels: top.map((r) => r.k), series: [{ name: 'p50', color: '#74a9d8', values: top.map((r) => r.p50) }, { name: 'p90', color: '#0b57a4', values: top.map((r) => r.p90) }], format: fmtDur, label: `${title}: ${top.map((r) => `${r.k} p50 ${fmtDur(r.p50)}, p90 ${fmtDur(r.p90)}`).join('; ')}` }),
    headers: ['group', 'count', 'mean_seconds', 'p50_seconds', 'p90_seconds'],
    rows: rows.map((r) => [r.k, r.n, Math.round(r.mean * 10) / 10, Math.round(r.p50 * 10) / 10, Math.round(r.p90 * 10) / 10]),
  });
}

async function serverStats() {
  try {
    const spec = await api('/openapi.json');
    return Object.entries(spec.paths || {})
      .filter(([p, ops]) => p.startsWith('/api/v1/stats') && !p.includes('{') && ops.get)
      .map(([p, ops]) => ({ path: p, summary: ops.get.summary || p }));
  } catch { return []; }
}

export async function analysisPage(el, params, navigate) {
  const get = (k) => params.get(k) || '';
  const max = Math.min(5000, Math.max(1, Number(get('max')) || 1000));
  el.innerHTML = `<h1>Analysis</h1>
  <form id="afilters" class="panel" aria-label="Analysis filters"><div class="grid-filters">
    <div><label for="a-from">Opened from</label><input id="a-from" name="from" type="datetime-local" value="${esc(toLocalInput(get('from')))}"></div>
    <div><label for="a-to">Opened before</label><input id="a-to" name="to" type="datetime-local" value="${esc(toLocalInput(get('to')))}"></div>
    <div><label for="a-department">Department (fd_id)</label><input id="a-department" name="department" type="text" value="${esc(get('department'))}"></div>
    <div><label for="a-type">Type</label><input id="a-type" name="type" type="text" value="${esc(get('type'))}"></div>
    <div><label for="a-unit_id">Unit</label><input id="a-unit_id" name="unit_id" type="text" value="${esc(get('unit_id'))}"></div>
    <div><label for="a-station">Station</label><input id="a-station" name="station" type="text" value="${esc(get('station'))}"></div>
    <div><label for="a-max">Max incidents</label><input id="a-max" name="max" type="number" min="1" max="5000" value="${max}"></div>
    <div><button type="submit">Apply</button></div>
  </div></form>
  <p id="a-progress" role="status" aria-live="polite" class="hint">Loading…</p>
  <div id="a-body"></div>`;
  el.querySelector('#afilters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(ev.target).entries()) {
      let val = String(v).trim();
      if (k === 'from' || k === 'to') val = toRFC3339(val);
      if (val && !(k === 'max' && val === '1000')) p.set(k, val);
    }
    navigate(`/ui/analysis${p.toString() ? `?${p}` : ''}`);
  });
  const prog = el.querySelector('#a-progress');
  const body = el.querySelector('#a-body');
  let docs;
  const statsPromise = serverStats();
  try {
    docs = await gather(params, max, (m) => { prog.textContent = m; });
  } catch (e) {
    prog.textContent = '';
    body.innerHTML = problemHTML(e);
    return;
  }
  if (!docs.length) {
    prog.textContent = '';
    body.innerHTML = '<p class="notice">No incidents match these filters. Upload data on the <a href="/ui/upload">Upload</a> page.</p>';
    return;
  }
  prog.textContent = `Analysed ${docs.length} incident${docs.length === 1 ? '' : 's'}${docs.length >= max ? ` (capped at ${max})` : ''}.`;
  announce(prog.textContent);

  const ims = docs.map(incidentMetrics);
  // NFPA 1710
  const tEMS = [], tFire = []; let exEMS = 0, exFire = 0;
  const eng = []; let exEng = 0;
  const alarm = []; let exAlarm = 0;
  const respUnit = [], respStation = [], turnUnit = [];
  for (const im of ims) {
    for (const { a, m } of im.units) {
      if (ok(m.turnout)) { (im.ems ? tEMS : tFire).push(m.turnout.seconds); turnUnit.push([a.unit_id, m.turnout.seconds]); } else if (m.turnout.seconds != null) { if (im.ems) exEMS++; else exFire++; }
      if (ok(m.response)) { respUnit.push([a.unit_id, m.response.seconds]); respStation.push([a.station, m.response.seconds]); }
    }
    if (im.firstEngineTravel) { if (ok(im.firstEngineTravel)) eng.push(im.firstEngineTravel.seconds); else exEng++; }
    if (im.alarmProcessing != null) { if (im.alarmProcessing >= 0 && im.alarmProcessing < 3600) alarm.push(im.alarmProcessing); else exAlarm++; }
  }
  const tiles = `<section aria-labelledby="nfpa-h"><h2 id="nfpa-h">NFPA 1710 compliance</h2><div class="tiles">
    ${pctTile('Turnout, EMS (≤ 60 s)', tEMS, 60, exEMS)}
    ${pctTile('Turnout, fire & other (≤ 80 s)', tFire, 80, exFire)}
    ${pctTile('First-arriving engine travel (≤ 240 s)', eng, 240, exEng)}
    ${pctTile('Alarm processing (≤ 64 s)', alarm, 64, exAlarm)}
  </div>${block({
    title: 'NFPA 1710 compliance table', csvName: 'nfpa1710',
    svg: '', headers: ['measure', 'limit_seconds', 'count', 'within', 'percent_within', 'excluded_flagged'],
    rows: [['turnout_ems', 60, tEMS, exEMS], ['turnout_fire', 80, tFire, exFire], ['first_engine_travel', 240, eng, exEng], ['alarm_processing', 64, alarm, exAlarm]].map(([n, l, vs, ex]) => {
      const w = vs.filter((v) => v <= l).length;
      return [n, l, vs.length, w, vs.length ? Math.round((1000 * w) / vs.length) / 10 : '', ex];
    }),
  })}</section>`;

  // Counts by type
  const byType = new Map();
  for (const im of ims) { const t = (im.doc.description || {}).type || '(none)'; byType.set(t, (byType.get(t) || 0) + 1); }
  const types = [...byType.entries()].sort((a, b) => b[1] - a[1]);
  const typeBlock = block({
    title: 'Incidents by type', csvName: 'incidents_by_type',
    svg: hbars({ labels: types.slice(0, 25).map((t) => t[0]), series: [{ name: 'incidents', color: '#0b57a4', values: types.slice(0, 25).map((t) => t[1]) }], label: `Incidents by type: ${types.map((t) => `${t[0]} ${t[1]}`).join(', ')}` }),
    headers: ['type', 'incidents'], rows: types,
  });

  // Hour × weekday
  const matrix = WEEKDAYS.map(() => Array(24).fill(0));
  for (const im of ims) {
    const d = im.doc.description || {};
    if (!d.event_opened) continue;
    const lp = localParts(d.event_opened, (im.doc.fire_department || {}).timezone);
    const hour = Number.isInteger(d.hour_of_day) ? d.hour_of_day : lp.hour;
    const wd = WEEKDAYS.includes(d.day_of_week) ? d.day_of_week : lp.weekday;
    const wi = WEEKDAYS.indexOf(wd);
    if (wi >= 0 && hour >= 0 && hour < 24) matrix[wi][hour]++;
  }
  const hours = Array.from({ length: 24 }, (_, i) => String(i));
  const heatRows = [];
  WEEKDAYS.forEach((w, i) => hours.forEach((hr, j) => { if (matrix[i][j]) heatRows.push([w, j, matrix[i][j]]); }));
  const heatBlock = block({
    title: 'Incidents by hour of day × weekday', csvName: 'hour_weekday', note: "In each department's own time zone.",
    svg: `<div class="scroll">${heatmap({ rows: WEEKDAYS.map((w) => w.slice(0, 3)), cols: hours, values: matrix, label: `Heat map of incidents by weekday and hour: ${heatRows.map((r) => `${r[0]} ${r[1]}:00 ${r[2]}`).join(', ')}` })}</div>`,
    headers: ['weekday', 'hour', 'incidents'], rows: heatRows,
  });

  // Unit-hour utilization
  let t0 = get('from') ? Date.parse(get('from')) / 1000 : Infinity, t1 = get('to') ? Date.parse(get('to')) / 1000 : -Infinity;
  const fixedFrom = !!get('from'), fixedTo = !!get('to');
  const committed = new Map();
  for (const im of ims) {
    const d = im.doc.description || {};
    const o = Date.parse(d.event_opened) / 1000;
    const c = d.event_closed ? Date.parse(d.event_closed) / 1000 : o;
    if (!fixedFrom && o < t0) t0 = o;
    if (!fixedTo && c > t1) t1 = c;
    for (const { a, m } of im.units) {
      if (m.commitment == null || m.commitment < 0 || m.commitment > 86400) continue;
      const e = committed.get(a.unit_id) || { s: 0, n: 0 };
      e.s += m.commitment; e.n++;
      committed.set(a.unit_id, e);
    }
  }
  const period = Math.max(3600, t1 - t0);
  const util = [...committed.entries()].map(([u, e]) => [u, e.n, Math.round(e.s), Number(((100 * e.s) / period).toPrecision(3))]).sort((a, b) => b[3] - a[3]);
  const utilBlock = block({
    title: 'Unit-hour utilization', csvName: 'unit_utilization',
    note: `Committed time (dispatched to the earliest of cleared/available) ÷ the period (${period >= 172800 ? `${(period / 86400).toFixed(1)} days` : `${(period / 3600).toFixed(1)} hours`}).`,
    svg: hbars({ labels: util.slice(0, 25).map((r) => r[0]), series: [{ name: 'utilization %', color: '#2b8a3e', values: util.slice(0, 25).map((r) => r[3]) }], format: (v) => `${v}%`, label: `Unit-hour utilization: ${util.map((r) => `${r[0]} ${r[3]}%`).join(', ')}` }),
    headers: ['unit', 'responses', 'committed_seconds', 'utilization_percent'], rows: util,
  });

  const [sUnit, sStation, sTurn] = await Promise.all([
    serverPercentiles(params, 'unit', 'response'), serverPercentiles(params, 'station', 'response'), serverPercentiles(params, 'unit', 'turnout'),
  ]);
  const choose = (server, local) => { if (server && server.length) { server.server = true; return server; } return local; };
  body.innerHTML = `${tiles}
    ${pctBlock('Response time by unit (p50 / p90)', 'response_by_unit', choose(sUnit, groupPercentiles(respUnit)), 'response (arrived − dispatched)')}
    ${pctBlock('Response time by station (p50 / p90)', 'response_by_station', choose(sStation, groupPercentiles(respStation)), 'response (arrived − dispatched)')}
    ${pctBlock('Turnout time by unit (p50 / p90)', 'turnout_by_unit', choose(sTurn, groupPercentiles(turnUnit)), 'turnout (en route − dispatched)')}
    ${heatBlock}${typeBlock}${utilBlock}
    <section id="server-stats" aria-labelledby="ss-h"></section>
    <p class="hint">Percentiles interpolate linearly between closest ranks (numpy's default). Values with data-quality flags (missing, negative or implausible durations) are excluded and counted.</p>`;
  wireCSV(body);

  const stats = await statsPromise;
  if (stats.length) {
    const q = new URLSearchParams();
    for (const k of ['from', 'to', ...FILTERS]) if (get(k)) q.set(k, get(k));
    q.set('format', 'csv');
    const ss = body.querySelector('#server-stats');
    ss.innerHTML = `<h2 id="ss-h">Server statistics tables (CSV)</h2><p class="hint">Computed by the server over all matching incidents.</p><ul>${stats.map((s, i) => `<li><button type="button" class="secondary" data-stat="${i}">${esc(s.summary)}</button> <code>${esc(s.path)}</code></li>`).join('')}</ul><div id="ss-err" aria-live="polite"></div>`;
    ss.querySelectorAll('[data-stat]').forEach((b) => b.addEventListener('click', async () => {
      const s = stats[Number(b.dataset.stat)];
      try { await download(`${s.path}?${q}`, `${s.path.split('/').filter(Boolean).slice(3).join('_') || 'stats'}.csv`); ss.querySelector('#ss-err').innerHTML = ''; } catch (e) { ss.querySelector('#ss-err').innerHTML = problemHTML(e); }
    }));
  }
}
