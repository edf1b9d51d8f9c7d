// Incident: header, comments with highlights, apparatus with metrics and
// flags, unit status timeline, map, revision history.
import { api, incidentPath } from './api.js';
import { esc, fmtTime, fmtDur, problemHTML } from './util.js';
import { unitMetrics, ts, STATUS_ORDER } from './metrics.js';
import { timeline, STATUS_COLORS } from './charts.js';
import { makeMap, circle, fit, L } from './map.js';

// highlightTerms marks the query's words and phrases in the (escaped) text.
function highlightTerms(text, q) {
  const escaped = esc(text);
  if (!q) return escaped;
  const terms = [];
  q.replace(/"([^"]+)"|(\S+)/g, (_, phrase, word) => {
    if (phrase) terms.push(phrase);
    else if (word) {
      const w = word.replace(/^[+-]/, '');
      if (!w.includes(':') && w.length > 1) terms.push(w.replace(/\*/g, ''));
    }
    return '';
  });
  const usable = terms.map((t) => t.trim()).filter((t) => t.length > 1);
  if (!usable.length) return escaped;
  const re = new RegExp(`(${usable.map((t) => esc(t).replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+')).join('|')})`, 'gi');
  return escaped.replace(re, '<mark>$1</mark>');
}

// serverMetrics adapts GET …/metrics, whatever its exact shape, to
// {unit_id: {turnout, travel, response, flags}}; null when absent.
function serverMetrics(m) {
  if (!m || typeof m !== 'object') return null;
  const units = [m.apparatus, m.units, m.metrics && m.metrics.units].find(Array.isArray);
  if (!units) return null;
  const out = {};
  for (const u of units) {
    const id = u.unit_id || u.UnitID || u.unit;
    if (!id) continue;
    const get = (name) => {
      let v = u[name] ?? (u.values && (Array.isArray(u.values) ? u.values.find((x) => x.metric === name) : u.values[name])) ?? (u.metrics && u.metrics[name]);
      if (v == null) return null;
      if (typeof v === 'number') return { seconds: v, flags: [] };
      const seconds = v.seconds ?? v.value ?? null;
      return { seconds: v.present === false ? null : seconds, flags: (v.flags || []).map((f) => (typeof f === 'string' ? { reason: f, detail: f } : { reason: f.reason, detail: f.detail || f.reason })) };
    };
    const all = u.metrics && typeof u.metrics === 'object' ? Object.entries(u.metrics).flatMap(([name, v]) => ((v && v.flags) || []).map((f) => ({ reason: f.reason, detail: `${name}: ${f.detail || f.reason}` }))) : [];
    out[id] = { turnout: get('turnout'), travel: get('travel'), response: get('response'), flags: u.flags || all };
  }
  return Object.keys(out).length ? out : null;
}

export async function incidentPage(el, fd, n, params) {
  const base = incidentPath(fd, n);
  let doc;
  try {
    doc = await api(base);
  } catch (e) {
    el.innerHTML = `<h1>Incident ${esc(n)}</h1>${problemHTML(e)}`;
    return;
  }
  const [revs, metrics] = await Promise.all([
    api(`${base}/revisions`).catch(() => null),
    api(`${base}/metrics`).catch(() => null),
  ]);
  const d = doc.description || {}, a = doc.address || {}, dep = doc.fire_department || {};
  const tz = dep.timezone;
  const appar = doc.apparatus || [];
  const sm = serverMetrics(metrics);
  const addr = a.address_line1 || [a.number, a.prefix_direction, a.name, a.type, a.suffix_direction].filter(Boolean).join(' ');

  const unitRows = appar.map((u) => {
    const cm = unitMetrics(u);
    const s = sm && sm[u.unit_id];
    const pick = (k) => (s && s[k] ? s[k] : cm[k]);
    const flags = [];
    for (const k of ['turnout', 'travel', 'response']) for (const f of (pick(k) || {}).flags || []) if (f.reason !== 'ok') flags.push(f);
    if (!s) flags.push(...cm.extraFlags);
    else for (const f of s.flags || []) flags.push(typeof f === 'string' ? { reason: f, detail: f } : f);
    const uniq = [...new Map(flags.map((f) => [`${f.reason}|${f.detail}`, f])).values()];
    const st = (k) => (u.unit_status && u.unit_status[k] ? fmtTime(u.unit_status[k].timestamp, tz) : '—');
    return `<tr>
      <th scope="row">${esc(u.unit_id)}</th><td>${esc(u.unit_type || '')}</td><td>${esc(u.station || '')}</td>
      <td>${esc(st('dispatched'))}</td><td>${esc(st('enroute'))}</td><td>${esc(st('arrived'))}</td>
      <td class="num">${fmtDur((pick('turnout') || {}).seconds)}</td><td class="num">${fmtDur((pick('travel') || {}).seconds)}</td><td class="num">${fmtDur((pick('response') || {}).seconds)}</td>
      <td>${uniq.length ? uniq.map((f) => `<span class="flag" title="${esc(f.detail)}">${esc(f.reason)}</span>`).join(' ') : '<span class="hint">none</span>'}${uniq.length ? `<div class="hint">${uniq.map((f) => esc(f.detail)).join('; ')}</div>` : ''}</td>
    </tr>`;
  }).join('');

  const tl = appar.map((u) => ({
    unit: u.unit_id || '?',
    events: Object.entries(u.unit_status || {})
      .map(([status, v]) => ({ status, t: v && v.timestamp ? Math.floor(Date.parse(v.timestamp) / 1000) : NaN, label: v && v.timestamp ? fmtTime(v.timestamp, tz) : '' }))
      .filter((e) => !isNaN(e.t))
      .sort((x, y) => x.t - y.t || STATUS_ORDER.indexOf(x.status) - STATUS_ORDER.indexOf(y.status)),
  }));

  el.innerHTML = `
  <p><a href="/ui/incidents${params.get('q') ? `?q=${encodeURIComponent(params.get('q'))}` : ''}">← Back to incidents</a></p>
  <h1>Incident ${esc(d.incident_number || n)} <span class="hint">${esc(d.type || '')}${d.subtype ? ` / ${esc(d.subtype)}` : ''}</span></h1>
  <div class="layout2">
    <section aria-labelledby="hdr-h" class="panel"><h2 id="hdr-h" class="visually-hidden">Summary</h2>
      <dl class="meta">
        <dt>Department</dt><dd>${esc(dep.name || '')} (${esc(dep.fd_id || fd)})${tz ? ` · ${esc(tz)}` : ''}</dd>
        <dt>Type</dt><dd>${esc(d.type || '—')}${d.subtype ? ` / ${esc(d.subtype)}` : ''}${d.category ? ` · ${esc(d.category)}` : ''}${d.priority ? ` · priority ${esc(d.priority)}` : ''}</dd>
        <dt>Address</dt><dd>${esc(addr)}${a.city ? `, ${esc(a.city)}` : ''}${a.state ? `, ${esc(a.state)}` : ''}${a.common_place_name ? ` · ${esc(a.common_place_name)}` : ''}</dd>
        <dt>Cross streets</dt><dd>${esc([a.cross_street1, a.cross_street2].filter(Boolean).join(' / ') || '—')}</dd>
        <dt>Opened</dt><dd>${esc(fmtTime(d.event_opened, tz))}</dd>
        <dt>Closed</dt><dd>${esc(fmtTime(d.event_closed, tz) || 'open')}</dd>
        <dt>Units</dt><dd>${appar.length}</dd>
      </dl>
    </section>
    <section aria-labelledby="map-h"><h2 id="map-h" class="visually-hidden">Map</h2><div id="imap" class="map" style="height:300px" role="region" aria-label="Map of the incident and unit positions"></div>
      <p class="hint">Orange: the incident. Coloured dots: unit positions by status, joined in time order.</p></section>
  </div>
  <section aria-labelledby="cm-h"><h2 id="cm-h">Comments</h2>
    <div class="comments" id="comments">${d.comments ? highlightTerms(d.comments, params.get('q')) : '<span class="hint">No comments.</span>'}</div></section>
  <section aria-labelledby="ap-h"><h2 id="ap-h">Apparatus</h2>
    <p class="hint">Turnout = en route − dispatched; travel = arrived − en route; response = arrived − dispatched. ${sm ? 'Computed by the server.' : 'Computed in the browser from the unit status times.'}</p>
    <div class="scroll"><table id="apparatus"><thead><tr><th scope="col">Unit</th><th scope="col">Type</th><th scope="col">Station</th><th scope="col">Dispatched</th><th scope="col">En route</th><th scope="col">Arrived</th><th scope="col" class="num">Turnout</th><th scope="col" class="num">Travel</th><th scope="col" class="num">Response</th><th scope="col">Data quality</th></tr></thead><tbody>${unitRows || '<tr><td colspan="10">No apparatus.</td></tr>'}</tbody></table></div></section>
  ${incidentMetricsHTML(metrics)}
  <section aria-labelledby="tl-h"><h2 id="tl-h">Unit status timeline</h2><div class="chart scroll" id="timeline">${timeline(tl, tz)}</div></section>
  <section aria-labelledby="rv-h"><h2 id="rv-h">Revision history</h2><div id="revisions">${revisionsHTML(revs)}</div></section>
  <details><summary>Raw document (JSON)</summary><pre class="comments">${esc(JSON.stringify(doc, null, 2))}</pre></details>`;

  el.querySelectorAll('details[data-rev]').forEach((det) => det.addEventListener('toggle', async () => {
    if (!det.open || det.dataset.loaded) return;
    det.dataset.loaded = '1';
    const pre = det.querySelector('pre');
    try {
      const r = await api(`${base}/revisions/${det.dataset.rev}`);
      pre.textContent = JSON.stringify(r.incident ?? r, null, 2);
    } catch (e) { pre.textContent = e.message; }
  }));

  const map = await makeMap(el.querySelector('#imap'));
  const pts = [];
  if (a.latitude != null && a.longitude != null) {
    const ll = [a.latitude, a.longitude];
    pts.push(ll);
    circle(ll, { radius: 11, fillColor: '#e8590c' }, `Incident ${esc(n)}: ${esc(addr)}`).addTo(map).bringToFront();
  }
  for (const u of appar) {
    const track = Object.entries(u.unit_status || {})
      .filter(([, v]) => v && v.latitude != null && v.longitude != null && v.timestamp)
      .sort((x, y) => Date.parse(x[1].timestamp) - Date.parse(y[1].timestamp));
    const line = track.map(([, v]) => [v.latitude, v.longitude]);
    if (line.length > 1) L.polyline(line, { color: '#13294b', weight: 2, opacity: 0.6, dashArray: '4 4' }).addTo(map);
    for (const [status, v] of track) {
      pts.push([v.latitude, v.longitude]);
      circle([v.latitude, v.longitude], { radius: 5, fillColor: STATUS_COLORS[status] || '#495057' }, `${esc(u.unit_id)} ${esc(status)} ${esc(fmtTime(v.timestamp, tz))}`).addTo(map);
    }
  }
  map.eachLayer((l) => { if (l.options && l.options.radius === 11 && l.bringToFront) l.bringToFront(); });
  fit(map, pts);
}

function revisionsHTML(revs) {
  const list = revs && revs.revisions;
  if (!list || !list.length) return '<p class="hint">No revision history available.</p>';
  return `<table><thead><tr><th scope="col">Revision</th><th scope="col">Action</th><th scope="col">Received</th><th scope="col">Source</th><th scope="col">Document</th></tr></thead><tbody>${list.map((r) => `<tr><td class="num">${esc(r.revision)}</td><td>${esc(r.action)}</td><td>${esc(fmtTime(r.received_at))}</td><td>${esc(r.source || '')}</td><td><details data-rev="${esc(r.revision)}"><summary>View revision ${esc(r.revision)}</summary><pre class="comments">Loading…</pre></details></td></tr>`).join('')}</tbody></table>`;
}

export { ts };

// incidentMetricsHTML shows the server's incident metrics and NFPA 1710
// checks, when GET …/metrics answered.
function incidentMetricsHTML(m) {
  if (!m || !m.metrics || typeof m.metrics !== 'object') return '';
  const rows = Object.entries(m.metrics).map(([name, v]) => `<tr><th scope="row">${esc(name.replace(/_/g, ' '))}</th><td class="num">${fmtDur(v && v.seconds)}</td><td>${((v && v.flags) || []).map((f) => `<span class="flag" title="${esc(f.detail)}">${esc(f.reason)}</span> <span class="hint">${esc(f.detail)}</span>`).join(' ') || '<span class="hint">none</span>'}</td></tr>`).join('');
  const nfpa = Array.isArray(m.nfpa1710) ? m.nfpa1710.map((c) => `<tr><th scope="row">${esc(c.measure.replace(/_/g, ' '))}${c.unit_id ? ` (${esc(c.unit_id)})` : ''}</th><td class="num">${fmtDur(c.seconds)}</td><td class="num">${esc(c.threshold_seconds)} s</td><td>${c.compliant == null ? '<span class="hint">flagged, not counted</span>' : c.compliant ? 'meets' : '<strong class="error">exceeds</strong>'}</td></tr>`).join('') : '';
  return `<section aria-labelledby="im-h"><h2 id="im-h">Incident metrics</h2><div class="layout2">
    <div class="scroll"><table><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Duration</th><th scope="col">Data quality</th></tr></thead><tbody>${rows}</tbody></table></div>
    ${nfpa ? `<div class="scroll"><table><caption>NFPA 1710</caption><thead><tr><th scope="col">Measure</th><th scope="col" class="num">Value</th><th scope="col" class="num">Limit</th><th scope="col">Result</th></tr></thead><tbody>${nfpa}</tbody></table></div>` : ''}
  </div></section>`;
}
