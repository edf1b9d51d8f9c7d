// Upload: drag-and-drop (or choose) .json/.ndjson/.gz files, send them as
// one multipart request with a progress bar, then show the outcome.
import { authHeaders } from './api.js';
import { esc, announce, problemHTML } from './util.js';

const ACCEPT = /\.(json|ndjson|jsonl)(\.gz)?$|\.gz$/i;

export function uploadPage(el) {
  el.innerHTML = `<h1>Upload incidents</h1>
  <form id="upload" class="panel" aria-describedby="up-hint">
    <div class="drop" id="drop">
      <p><strong>Drag and drop</strong> .json, .ndjson or .gz files here, or</p>
      <label for="files">Choose files</label>
      <input id="files" name="files" type="file" multiple accept=".json,.ndjson,.jsonl,.gz,application/json,application/x-ndjson,application/gzip">
    </div>
    <p id="up-hint" class="hint">Each file may hold one incident, a JSON array or NDJSON (one incident per line), optionally gzip-compressed. Incidents are created or merged by department and incident number.</p>
    <ul id="chosen" aria-label="Files to upload"></ul>
    <p><label><input type="checkbox" id="atomic" name="atomic"> All or nothing (reject the whole upload if any record fails)</label></p>
    <p><button type="submit" id="send" disabled>Upload</button></p>
    <div id="prog" hidden><label for="bar">Upload progress</label><progress id="bar" max="100" value="0"></progress> <span id="pct">0%</span></div>
  </form>
  <section id="outcome" aria-live="polite"></section>`;
  let files = [];
  const chosen = el.querySelector('#chosen'), send = el.querySelector('#send'), input = el.querySelector('#files'), drop = el.querySelector('#drop');
  const setFiles = (list) => {
    const all = [...list];
    files = all.filter((f) => ACCEPT.test(f.name));
    const skipped = all.filter((f) => !ACCEPT.test(f.name));
    chosen.innerHTML = files.map((f) => `<li>${esc(f.name)} <span class="hint">(${(f.size / 1024).toFixed(1)} KiB)</span></li>`).join('') +
      skipped.map((f) => `<li class="error">${esc(f.name)}: not a .json, .ndjson or .gz file; skipped</li>`).join('');
    send.disabled = !files.length;
    announce(`${files.length} file${files.length === 1 ? '' : 's'} ready to upload`);
  };
  input.addEventListener('change', () => setFiles(input.files));
  ['dragenter', 'dragover'].forEach((t) => drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.add('over'); }));
  ['dragleave', 'drop'].forEach((t) => drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.remove('over'); }));
  drop.addEventListener('drop', (ev) => setFiles(ev.dataTransfer.files));

  el.querySelector('#upload').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!files.length) return;
    const fd = new FormData();
    for (const f of files) fd.append('files', f, f.name);
    const xhr = new XMLHttpRequest();
    const atomic = el.querySelector('#atomic').checked;
    xhr.open('POST', `/api/v1/incidents${atomic ? '?atomic=true' : ''}`);
    for (const [k, v] of Object.entries(authHeaders({ Accept: 'application/json' }))) xhr.setRequestHeader(k, v);
    const prog = el.querySelector('#prog'), bar = el.querySelector('#bar'), pct = el.querySelector('#pct');
    prog.hidden = false; bar.value = 0; pct.textContent = '0%'; send.disabled = true;
    const out = el.querySelector('#outcome');
    out.innerHTML = '';
    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable) return;
      const p = Math.round((100 * e.loaded) / e.total);
      bar.value = p; pct.textContent = `${p}%`;
    });
    xhr.upload.addEventListener('load', () => { pct.textContent = '100% — processing…'; });
    xhr.addEventListener('error', () => { out.innerHTML = '<p class="error">The upload failed (network error).</p>'; send.disabled = false; });
    xhr.addEventListener('load', () => {
      send.disabled = false;
      bar.value = 100; pct.textContent = 'Done';
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 401) { location.href = `/ui/signin?expired=1&next=${encodeURIComponent('/ui/upload')}`; return; }
      if (xhr.status < 200 || xhr.status >= 300) {
        out.innerHTML = `<h2>Upload rejected</h2>${problemHTML({ status: xhr.status, problem: body || {}, message: xhr.statusText })}${failuresHTML(body && body.failures)}`;
        announce('Upload rejected');
        return;
      }
      let r = body || {};
      if (r.status && r.created == null) r = { created: +(r.status === 'created'), updated: +(r.status === 'updated'), unchanged: +(r.status === 'unchanged'), failed: 0 };
      out.innerHTML = `<h2>Result</h2><div class="counts" id="counts">
        <div><strong id="n-created">${r.created ?? 0}</strong>created</div>
        <div><strong id="n-updated">${r.updated ?? 0}</strong>updated</div>
        <div><strong id="n-unchanged">${r.unchanged ?? 0}</strong>unchanged</div>
        <div><strong id="n-failed"${r.failed ? ' class="error"' : ''}>${r.failed ?? 0}</strong>failed</div></div>
        ${failuresHTML(r.failures)}
        <p><a href="/ui/incidents?sort=-event_opened">See the incidents</a></p>`;
      announce(`Upload done: ${r.created ?? 0} created, ${r.updated ?? 0} updated, ${r.unchanged ?? 0} unchanged, ${r.failed ?? 0} failed`);
    });
    xhr.send(fd);
  });
}

function failuresHTML(failures) {
  if (!failures || !failures.length) return '';
  return `<h3>Failures</h3><div class="scroll"><table id="failures"><thead><tr><th scope="col">File</th><th scope="col">Record</th><th scope="col">Incident</th><th scope="col">Problem</th></tr></thead><tbody>${failures.map((f) => `<tr>
    <td>${esc(f.file || '')}</td><td>#${esc(f.index)}${f.line ? ` (line ${esc(f.line)})` : ''}</td>
    <td>${esc(f.incident_number || '')}${f.fd_id ? ` <span class="hint">${esc(f.fd_id)}</span>` : ''}</td>
    <td>${problemHTML({ status: f.problem && f.problem.status, problem: f.problem || {} })}</td></tr>`).join('')}</tbody></table></div>`;
}
