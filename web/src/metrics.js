// Client-side unit metrics from apparatus.unit_status, used when the server
// has no metrics endpoint (same definitions as the analysis engine).
export const STATUS_ORDER = ['dispatched', 'acknowledged', 'enroute', 'arrived', 'transport_started', 'transport_arrived', 'cleared', 'available', 'in_quarters'];

export function ts(a, key) {
  const s = a && a.unit_status && a.unit_status[key];
  if (!s || !s.timestamp) return null;
  const t = Date.parse(s.timestamp);
  return isNaN(t) ? null : Math.floor(t / 1000);
}

function between(a, from, to, label) {
  const f = ts(a, from), t = ts(a, to);
  const v = { seconds: null, flags: [] };
  if (f == null || t == null) {
    v.flags.push({ reason: 'missing', detail: `${label}: no ${f == null ? from : to} time` });
    return v;
  }
  v.seconds = t - f;
  if (v.seconds < 0) v.flags.push({ reason: 'negative', detail: `${label}: ${to} precedes ${from}` });
  else if (v.seconds > 3600) v.flags.push({ reason: 'implausible', detail: `${label} over 1 hour` });
  return v;
}

export function unitMetrics(a) {
  const m = {
    turnout: between(a, 'dispatched', 'enroute', 'turnout'),
    travel: between(a, 'enroute', 'arrived', 'travel'),
    response: between(a, 'dispatched', 'arrived', 'response'),
  };
  const arr = ts(a, 'arrived'), cl = ts(a, 'cleared');
  m.extraFlags = [];
  if (arr != null && cl != null && cl < arr) m.extraFlags.push({ reason: 'out_of_order', detail: 'cleared before arrived' });
  const disp = ts(a, 'dispatched');
  const ends = [ts(a, 'cleared'), ts(a, 'available')].filter((x) => x != null);
  m.commitment = disp != null && ends.length ? Math.min(...ends) - disp : null;
  return m;
}

export function isEMS(type) { return /\b(EMS|MEDICAL|MED)\b/i.test(type || ''); }
export function isEngine(a) {
  const t = (a.unit_type || '').toLowerCase();
  if (t) return t.includes('engine');
  return /^E\d/i.test(a.unit_id || '');
}

// incidentMetrics computes per-incident values used by the analysis page.
export function incidentMetrics(doc) {
  const d = doc.description || {};
  const units = (doc.apparatus || []).map((a) => ({ a, m: unitMetrics(a) }));
  const opened = d.event_opened ? Math.floor(Date.parse(d.event_opened) / 1000) : null;
  const disp = units.map((u) => ts(u.a, 'dispatched')).filter((x) => x != null);
  const firstDisp = disp.length ? Math.min(...disp) : null;
  let firstArr = null, firstEngine = null;
  for (const u of units) {
    const t = ts(u.a, 'arrived');
    if (t == null) continue;
    if (!firstArr || t < firstArr.t) firstArr = { t, u };
    if (isEngine(u.a) && (!firstEngine || t < firstEngine.t)) firstEngine = { t, u };
  }
  return {
    doc, units, ems: isEMS(d.type),
    alarmProcessing: opened != null && firstDisp != null ? firstDisp - opened : null,
    firstArriving: firstArr ? firstArr.u : null,
    firstEngineTravel: firstEngine ? firstEngine.u.m.travel : null,
  };
}
