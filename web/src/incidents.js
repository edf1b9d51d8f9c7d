// Incidents: search, filters, results table with paging, map, facets.
import { api, incidentPage } from './api.js';
import { esc, safeHighlight, fmtTime, toRFC3339, toLocalInput, announce, problemHTML } from './util.js';
import { makeMap, circle, fit } from './map.js';

const FILTERS = ['department', 'type', 'subtype', 'unit_id', 'station'];
const FACETS = ['type', 'subtype', 'unit_id', 'station', 'hour', 'weekday'];
const EXAMPLES = [
  ['"OLD BOX OF CHEMICALS"', 'a phrase in any text field'],
  ['unit_id:E22', 'incidents unit E22 responded to'],
  ['+type:EMS +response_seconds:>480', 'EMS, first-unit response over 8 minutes'],
  ['CHEM*', 'wildcard'],
  ['place:CANDLEWOOD -type:FIRE', 'field match, excluding a type'],
  ['units:>=4', 'four or more units'],
];
const cursorStack = [];
let lastKey = '';

export async function incidentsPage(el, params, navigate) {
  const get = (k) => params.get(k) || '';
  el.innerHTML = `
  <h1>Incidents</h1>
  <form id="search" class="panel" role="search" aria-label="Search incidents">
    <div class="searchrow">
      <div><label for="q">Search</label>
      <input id="q" name="q" type="search" value="${esc(get('q'))}" aria-describedby="q-help" placeholder='e.g. "OLD BOX OF CHEMICALS"'></div>
      <button type="submit">Search</button>
      <button type="button" class="secondary" id="clear">Clear</button>
    </div>
    <div id="q-help" class="examples">Query syntax — phrases in quotes, <code>field:value</code>, <code>+must</code> / <code>-must_not</code>, wildcards, ranges. Examples:
      ${EXAMPLES.map(([q, d]) => `<button type="button" data-example="${esc(q)}" title="${esc(d)}" aria-label="Use example ${esc(q)}: ${esc(d)}">${esc(q)}</button>`).join('')}
    </div>
    <fieldset style="border:0;padding:0;margin:0"><legend class="visually-hidden">Filters</legend>
    <div class="grid-filters">
      <div><label for="f-from">Opened from</label><input id="f-from" name="from" type="datetime-local" value="${esc(toLocalInput(get('from')))}"></div>
      <div><label for="f-to">Opened before</label><input id="f-to" name="to" type="datetime-local" value="${esc(toLocalInput(get('to')))}"></div>
      <div><label for="f-department">Department (fd_id)</label><input id="f-department" name="department" type="text" value="${esc(get('department'))}"></div>
      <div><label for="f-type">Type</label><input id="f-type" name="type" type="text" value="${esc(get('type'))}"></div>
      <div><label for="f-subtype">Subtype</label><input id="f-subtype" name="subtype" type="text" value="${esc(get('subtype'))}"></div>
      <div><label for="f-unit_id">Unit</label><input id="f-unit_id" name="unit_id" type="text" value="${esc(get('unit_id'))}"></div>
      <div><label for="f-station">Station</label><input id="f-station" name="station" type="text" value="${esc(get('station'))}"></div>
      <div><label for="f-sort">Sort</label><select id="f-sort" name="sort">
        ${[['', 'Relevance'], ['-event_opened', 'Newest first'], ['event_opened', 'Oldest first']].map(([v, l]) => `<option value="${v}"${get('sort') === v ? ' selected' : ''}>${l}</option>`).join('')}
      </select></div>
      <div><label for="f-limit">Per page</label><select id="f-limit" name="limit">
        ${['20', '50', '100', '200'].map((v) => `<option${(get('limit') || '20') === v ? ' selected' : ''}>${v}</option>`).join('')}
      </select></div>
    </div></fieldset>
  </form>
  <div class="layout">
    <aside class="facets" aria-labelledby="facets-h"><h2 id="facets-h">Refine</h2><div id="facets"><p class="hint">…</p></div></aside>
    <div>
      <div class="layout2">
        <section aria-labelledby="results-h"><h2 id="results-h">Results</h2><div id="summary" aria-live="polite"></div><div id="results" class="scroll"></div><div class="pager" id="pager"></div></section>
        <section aria-labelledby="map-h"><h2 id="map-h">Map</h2><div id="map" class="map" role="region" aria-label="Map of the incidents on this page"></div><p class="hint">Markers show incidents with coordinates; the map works without tiles.</p></section>
      </div>
    </div>
  </div>`;

  const form = el.querySelector('#search');
  const submit = (extra = {}) => {
    const fd = new FormData(form);
    const p = new URLSearchParams();
    for (const [k, v] of fd.entries()) {
      let val = String(v).trim();
      if (k === 'from' || k === 'to') val = toRFC3339(val);
      if (val && !(k === 'limit' && val === '20')) p.set(k, val);
    }
    for (const [k, v] of Object.entries(extra)) { if (v) p.set(k, v); else p.delete(k); }
    cursorStack.length = 0;
    navigate(`/ui/incidents${p.toString() ? `?${p}` : ''}`);
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
  el.querySelector('#clear').addEventListener('click', () => { cursorStack.length = 0; navigate('/ui/incidents'); });
  el.querySelectorAll('[data-example]').forEach((b) => b.addEventListener('click', () => {
    el.querySelector('#q').value = b.dataset.example;
    submit();
  }));

  // The query without the cursor identifies the result set for paging.
  const key = (() => { const p = new URLSearchParams(params); p.delete('cursor'); return p.toString(); })();
  if (key !== lastKey) { cursorStack.length = 0; lastKey = key; }

  const mapReady = makeMap(el.querySelector('#map'));
  const q = new URLSearchParams();
  for (const k of ['q', 'from', 'to', 'sort', 'cursor', ...FILTERS]) if (get(k)) q.set(k, get(k));
  q.set('limit', get('limit') || '20');
  q.set('facets', FACETS.join(','));
  let hits = [], total = null, facets = {}, next = '', took = null, searchOff = false;
  try {
    const r = await api(`/api/v1/search?${q}`);
    hits = r.hits || []; total = r.total; facets = r.facets || {}; next = r.next || ''; took = r.took_ms;
  } catch (e) {
    if (e.status !== 503 && e.status !== 404) {
      el.querySelector('#results').innerHTML = problemHTML(e);
      el.querySelector('#facets').innerHTML = '';
      return;
    }
    // Search disabled: fall back to the plain listing.
    searchOff = true;
    const l = new URLSearchParams();
    for (const k of ['from', 'to', 'cursor', ...FILTERS]) if (get(k)) l.set(k, get(k));
    l.set('limit', get('limit') || '20');
    const r = await api(`/api/v1/incidents?${l}`);
    hits = (r.incidents || []).map((i) => ({ incident: i }));
    next = r.next || '';
  }

  const qs = get('q');
  el.querySelector('#summary').innerHTML = searchOff
    ? '<p class="notice">Search is not available on this server; showing the newest incidents (filters apply, the query does not).</p>'
    : `<p>${total ?? hits.length} incident${total === 1 ? '' : 's'} found${took != null ? ` in ${Math.round(took)} ms` : ''}.</p>`;
  announce(`${total ?? hits.length} incidents found`);

  const rows = hits.map((hit) => {
    const i = hit.incident || {};
    const id = i.id || {};
    const href = incidentPage(id.fd_id, id.incident_number) + (qs ? `?q=${encodeURIComponent(qs)}` : '');
    return `<tr>
      <td><a href="${esc(href)}">${esc(id.incident_number)}</a><div class="hint">${esc(id.fd_id)}</div></td>
      <td>${esc(fmtTime(i.event_opened))}</td>
      <td>${esc(i.type || '')}<div class="hint">${esc(i.subtype || '')}</div></td>
      <td>${esc(i.address || '')}${i.city ? `, ${esc(i.city)}` : ''}${(hit.highlights || []).map((x) => `<div class="hl">${safeHighlight(x)}</div>`).join('')}</td>
      <td>${esc((i.units || []).join(', '))}</td>
    </tr>`;
  });
  el.querySelector('#results').innerHTML = hits.length
    ? `<table id="results-table"><caption class="visually-hidden">Incidents matching the search</caption><thead><tr><th scope="col">Incident</th><th scope="col">Opened</th><th scope="col">Type</th><th scope="col">Address / matches</th><th scope="col">Units</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
    : '<p>No incidents match. Try fewer filters, or upload data on the <a href="/ui/upload">Upload</a> page.</p>';

  const pager = el.querySelector('#pager');
  const cur = get('cursor');
  const page = cursorStack.length + 1;
  pager.innerHTML = `<button type="button" class="secondary" id="prev"${cur ? '' : ' disabled'}>← Previous</button><span>Page ${page}</span><button type="button" class="secondary" id="next"${next ? '' : ' disabled'}>Next →</button>`;
  pager.querySelector('#next').addEventListener('click', () => {
    cursorStack.push(cur);
    const p = new URLSearchParams(params); p.set('cursor', next);
    navigate(`/ui/incidents?${p}`);
  });
  pager.querySelector('#prev').addEventListener('click', () => {
    const p = new URLSearchParams(params);
    const prev = cursorStack.pop();
    if (prev) p.set('cursor', prev); else p.delete('cursor');
    navigate(`/ui/incidents?${p}`);
  });

  // Facets: clicking a value narrows the search.
  const fel = el.querySelector('#facets');
  const names = { type: 'Type', subtype: 'Subtype', unit_id: 'Unit', station: 'Station', hour: 'Hour of day', weekday: 'Weekday' };
  const fhtml = FACETS.filter((f) => facets[f] && facets[f].length).map((f) => `<h3 id="facet-${f}">${names[f]}</h3><ul aria-labelledby="facet-${f}">${facets[f].slice(0, 12).map((v) => `<li><button type="button" data-facet="${f}" data-value="${esc(v.value)}" aria-label="${esc(names[f])} ${esc(v.value)}: ${v.count} incidents"><span>${esc(v.value)}</span><span class="count">${v.count}</span></button></li>`).join('')}</ul>`).join('');
  fel.innerHTML = fhtml || '<p class="hint">No facets.</p>';
  fel.querySelectorAll('[data-facet]').forEach((b) => b.addEventListener('click', () => {
    const f = b.dataset.facet, v = b.dataset.value;
    if (FILTERS.includes(f)) submit({ [f]: v });
    else {
      const qv = `${f}:${/\s/.test(v) ? `"${v}"` : v}`;
      const cur = el.querySelector('#q').value.trim();
      el.querySelector('#q').value = cur ? `${cur} +${qv}` : `+${qv}`;
      submit();
    }
  }));

  const map = await mapReady;
  const pts = [];
  for (const hit of hits) {
    const i = hit.incident || {};
    if (i.latitude == null || i.longitude == null) continue;
    const ll = [i.latitude, i.longitude];
    pts.push(ll);
    const id = i.id || {};
    circle(ll, {}, `${esc(id.incident_number)} · ${esc(i.type || '')} · ${esc(i.address || '')}`)
      .on('click', () => navigate(incidentPage(id.fd_id, id.incident_number)))
      .addTo(map);
  }
  fit(map, pts);
}
