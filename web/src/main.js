// cadbox UI: a small client-side router over the pages.
import { api, getKey, setKey, setUnauthorizedHandler } from './api.js';
import { esc, announce } from './util.js';
import { incidentsPage } from './incidents.js';
import { incidentPage } from './incident.js';
import { analysisPage } from './analysis.js';
import { uploadPage } from './upload.js';

const main = () => document.getElementById('main');
let self = null; // GET /api/v1/keys/self, when the server has it
let selfReady = Promise.resolve(null);

export function navigate(url, replace = false) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

setUnauthorizedHandler(() => {
  if (location.pathname.startsWith('/ui/signin')) return;
  const next = location.pathname + location.search;
  navigate(`/ui/signin?next=${encodeURIComponent(next)}&expired=1`);
});

function loadSelf() {
  selfReady = fetchSelf();
  return selfReady;
}

async function fetchSelf() {
  self = null;
  if (!getKey()) { updateWho(); return null; }
  try {
    self = await api('/api/v1/keys/self', { quiet401: true });
  } catch (e) {
    self = e.status === 401 ? { invalid: true } : null;
  }
  updateWho();
  return self;
}

function updateWho() {
  const who = document.getElementById('whoami');
  const link = document.getElementById('signin-link');
  if (!getKey()) { who.textContent = 'Not signed in'; link.textContent = 'Sign in'; return; }
  link.textContent = 'Key';
  if (self && self.role) who.textContent = `Signed in${self.name ? ` as ${self.name}` : ''} · role: ${self.role}`;
  else if (self && self.invalid) who.textContent = 'Key rejected';
  else who.textContent = 'Signed in (key set)';
}

const ROLE_ALLOWS = {
  reader: 'read incidents, search and analysis',
  viewer: 'read incidents, search and analysis',
  writer: 'read, and upload or change incidents',
  ingest: 'upload incidents',
  admin: 'everything, including keys and backups',
};

function signinPage(el, params) {
  const expired = params.get('expired');
  el.innerHTML = `<div class="signin">
    <h1>Sign in</h1>
    ${expired ? '<p class="notice" role="alert">The server asked for a valid API key (HTTP 401). Paste a key to continue.</p>' : ''}
    <form id="signin" class="panel">
      <label for="apikey">API key</label>
      <input id="apikey" name="apikey" type="password" autocomplete="off" spellcheck="false" required aria-describedby="apikey-hint" value="">
      <p id="apikey-hint" class="hint">Paste the key an administrator gave you. It is kept in this tab's session storage only and sent as <code>Authorization: Bearer …</code> on every API call.</p>
      <p><button type="submit">Sign in</button> <button type="button" class="secondary" id="signout">Sign out</button></p>
    </form>
    <div id="signin-result" aria-live="polite"></div>
  </div>`;
  const result = el.querySelector('#signin-result');
  const showSelf = () => {
    if (!getKey()) { result.innerHTML = '<p>No key is set.</p>'; return; }
    if (self && self.invalid) { result.innerHTML = '<p class="error">The server rejected this key.</p>'; return; }
    if (self && self.role) {
      const r = String(self.role);
      result.innerHTML = `<h2>Your key</h2><dl class="meta"><dt>Role</dt><dd id="role">${esc(r)}</dd>
        ${self.name ? `<dt>Name</dt><dd>${esc(self.name)}</dd>` : ''}
        ${self.departments ? `<dt>Departments</dt><dd>${esc([].concat(self.departments).join(', ') || 'all')}</dd>` : ''}
        <dt>Allows</dt><dd>${esc(ROLE_ALLOWS[r.toLowerCase()] || 'see the API documentation for this role')}</dd></dl>`;
    } else {
      result.innerHTML = '<p id="role">A key is set. This server does not report key roles (no <code>/api/v1/keys/self</code>), so every page is shown; the server decides what the key may do.</p>';
    }
  };
  showSelf();
  el.querySelector('#signin').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const k = el.querySelector('#apikey').value.trim();
    if (!k) return;
    setKey(k);
    await loadSelf();
    showSelf();
    if (self && self.invalid) return;
    announce('Signed in');
    const next = params.get('next');
    if (next && next.startsWith('/ui/')) navigate(next, true);
  });
  el.querySelector('#signout').addEventListener('click', () => { setKey(''); self = null; updateWho(); showSelf(); announce('Signed out'); });
  el.querySelector('#apikey').focus();
}

function notFound(el) { el.innerHTML = '<h1>Not found</h1><p><a href="/ui/incidents">Go to incidents</a></p>'; }

let renderSeq = 0;
async function render() {
  const seq = ++renderSeq;
  const el = main();
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const params = new URLSearchParams(location.search);
  let nav = '';
  let title = 'cadbox';
  el.innerHTML = '<p>Loading…</p>';
  try {
    let m;
    if (path === '/' || path === '/ui' || path === '/ui/incidents') {
      if (!getKey()) { navigate(`/ui/signin?next=${encodeURIComponent('/ui/incidents')}`, true); return; }
      nav = 'incidents'; title = 'Incidents · cadbox';
      setNav(nav, title);
      await incidentsPage(el, params, navigate);
    } else if ((m = path.match(/^\/ui\/incidents\/([^/]+)\/([^/]+)$/))) {
      nav = 'incidents'; title = `Incident ${decodeURIComponent(m[2])} · cadbox`;
      setNav(nav, title);
      await incidentPage(el, decodeURIComponent(m[1]), decodeURIComponent(m[2]), params);
    } else if (path === '/ui/analysis') {
      nav = 'analysis'; title = 'Analysis · cadbox';
      setNav(nav, title);
      await analysisPage(el, params, navigate);
    } else if (path === '/ui/upload') {
      nav = 'upload'; title = 'Upload · cadbox';
      setNav(nav, title);
      uploadPage(el);
    } else if (path === '/ui/signin') {
      nav = 'signin'; title = 'Sign in · cadbox';
      setNav(nav, title);
      await selfReady;
      signinPage(el, params);
    } else {
      setNav('', 'Not found · cadbox');
      notFound(el);
    }
  } catch (e) {
    if (seq === renderSeq && e.status !== 401) el.innerHTML = `<p class="error">${esc(e.message || e)}</p>`;
  }
}

function setNav(nav, title) {
  document.title = title;
  document.querySelectorAll('[data-nav]').forEach((a) => {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

// Same-origin /ui/ links are handled client-side.
document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a');
  if (!a || a.target || a.hasAttribute('download') || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/ui/')) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
  main().focus();
});
window.addEventListener('popstate', render);

loadSelf();
render();
