// API access: every call carries the signed-in key; a 401 sends the user to
// the sign-in page.
const KEY = 'cadbox.apiKey';

export const getKey = () => sessionStorage.getItem(KEY) || '';
export const setKey = (k) => (k ? sessionStorage.setItem(KEY, k) : sessionStorage.removeItem(KEY));

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export function authHeaders(extra = {}) {
  const h = { ...extra };
  const k = getKey();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

async function parseError(res) {
  let problem = null;
  try {
    const t = await res.text();
    problem = t ? JSON.parse(t) : null;
  } catch { /* not JSON */ }
  return new ApiError(res.status, problem);
}

// api fetches path and returns the parsed JSON body (or text when not JSON).
// opts.quiet401: do not redirect on 401 (the sign-in page checks keys).
export async function api(path, opts = {}) {
  const res = await fetch(path, {
    method: opts.method || 'GET',
    headers: authHeaders(opts.headers || {}),
    body: opts.body,
    signal: opts.signal,
  });
  if (res.status === 401 && !opts.quiet401) {
    onUnauthorized();
    throw await parseError(res);
  }
  if (!res.ok) throw await parseError(res);
  const ct = res.headers.get('Content-Type') || '';
  if (ct.includes('json')) return res.json();
  return res.text();
}

// download fetches path with the key and saves it as filename (links cannot
// carry an Authorization header).
export async function download(path, filename) {
  const res = await fetch(path, { headers: authHeaders() });
  if (res.status === 401) { onUnauthorized(); throw await parseError(res); }
  if (!res.ok) throw await parseError(res);
  saveBlob(await res.blob(), filename);
}

export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export const incidentPath = (fd, n) => `/api/v1/departments/${encodeURIComponent(fd)}/incidents/${encodeURIComponent(n)}`;
export const incidentPage = (fd, n) => `/ui/incidents/${encodeURIComponent(fd)}/${encodeURIComponent(n)}`;
