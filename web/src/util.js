// Small DOM and formatting helpers.
export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// safeHighlight keeps only <mark> and </mark> of a server highlight and
// escapes everything else.
export function safeHighlight(s) {
  const parts = String(s ?? '').split(/(<\/?mark>)/g);
  return parts.map((p) => (p === '<mark>' || p === '</mark>' ? p : esc(decodeEntities(p)))).join('');
}

function decodeEntities(s) {
  const t = document.createElement('textarea');
  t.innerHTML = s;
  return t.value;
}

export function h(html) {
  const t = document.createElement('template');
  t.innerHTML = html.trim();
  return t.content;
}

export function fmtTime(s, tz) {
  if (!s) return '';
  // Without a time zone, show the time as recorded, with its UTC offset.
  const m = !tz && String(s).match(/^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  if (m) return `${m[1]} ${m[2]}${m[3] === 'Z' ? ' UTC' : ` ${m[3]}`}`;
  const d = new Date(s);
  if (isNaN(d)) return String(s);
  try {
    return d.toLocaleString('en-US', { timeZone: tz || undefined, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  } catch {
    return d.toISOString();
  }
}

export function fmtDur(sec) {
  if (sec == null || !isFinite(sec)) return '—';
  const neg = sec < 0;
  let s = Math.round(Math.abs(sec));
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const mm = Math.floor(s / 60); s -= mm * 60;
  const out = (hh ? `${hh}:${String(mm).padStart(2, '0')}` : `${mm}`) + `:${String(s).padStart(2, '0')}`;
  return (neg ? '−' : '') + out;
}

export function announce(msg) {
  const el = document.getElementById('status');
  if (el) { el.textContent = ''; setTimeout(() => { el.textContent = msg; }, 50); }
}

// percentile with linear interpolation between closest ranks (numpy's default).
export function percentile(sorted, p) {
  if (!sorted.length) return null;
  const r = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(r), hi = Math.ceil(r);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (r - lo);
}

export function toCSV(headers, rows) {
  const cell = (v) => {
    const s = v == null ? '' : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [headers, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

// localInput turns an RFC 3339 time into a datetime-local value and back.
export function toRFC3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return isNaN(d) ? '' : d.toISOString();
}
export function toLocalInput(rfc) {
  if (!rfc) return '';
  const d = new Date(rfc);
  if (isNaN(d)) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function problemHTML(err) {
  const p = err && err.problem ? err.problem : {};
  let html = `<p class="error">${esc(p.title || err.message || 'Request failed')}${err.status ? ` (HTTP ${err.status})` : ''}</p>`;
  if (p.detail && p.detail !== p.title) html += `<p>${esc(p.detail)}</p>`;
  if (Array.isArray(p.errors) && p.errors.length) {
    html += '<ul>' + p.errors.map((e) => `<li><code>${esc(e.pointer || '')}</code> ${esc(e.message || '')}</li>`).join('') + '</ul>';
  }
  return html;
}
