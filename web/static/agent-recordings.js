// agent-recordings.js — the agent page's list of call recordings: download
// and delete. Standalone: it shows itself once the dashboard is visible.

const $ = (id) => document.getElementById(id);

function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text != null) n.textContent = text;
  return n;
}

function size(bytes) {
  const b = Number(bytes) || 0;
  return b < 1024 * 1024 ? `${Math.max(1, Math.round(b / 1024))} KB` : `${(b / 1024 / 1024).toFixed(1)} MB`;
}

function length(ms) {
  const s = Math.round((Number(ms) || 0) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

const STATE = { recording: 'recording now', done: '', failed: 'failed', interrupted: 'interrupted' };

const list = $('recordings');
const empty = $('recordings-empty');
const count = $('recording-count');
const error = $('recordings-error');
let loading = false;

async function load() {
  if (loading || $('dashboard').hidden) return;
  loading = true;
  try {
    const res = await fetch('/api/agent/recordings', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (!res.ok) return; // not logged in (yet): the dashboard says so
    render((await res.json()).recordings || []);
    error.textContent = '';
  } catch {
    error.textContent = 'Could not load the recordings.';
  } finally {
    loading = false;
  }
}

function render(recs) {
  recs.sort((a, b) => Number(b.createdAtMs) - Number(a.createdAtMs));
  list.replaceChildren(...recs.map((r) => {
    const li = node('li', 'recording-item');
    li.dataset.id = r.id;
    const head = node('div', 'item-head');
    head.append(node('span', 'item-name', `Room ${r.room}`));
    head.append(node('span', 'muted small', new Date(Number(r.createdAtMs)).toLocaleString()));
    if (STATE[r.state]) head.append(node('span', 'tag', STATE[r.state]));
    li.append(head);
    const facts = [];
    if (r.by) facts.push(`by ${r.by}`);
    if (r.durationMs) facts.push(length(r.durationMs));
    if (r.size) facts.push(size(r.size));
    if (r.state === 'done') facts.push(r.mixed ? 'mixed video and separate tracks' : 'separate tracks');
    if (!r.saved && r.state !== 'recording') facts.push('removed an hour after it ended');
    li.append(node('p', 'small', facts.join(' · ')));
    if (r.error || r.note) li.append(node('p', 'muted small', r.error || r.note));
    const actions = node('div', 'item-actions');
    if (r.url) {
      const a = node('a', 'btn btn-small', 'Download');
      a.href = r.url;
      a.setAttribute('download', '');
      actions.append(a);
    }
    if (r.state !== 'recording') {
      const del = node('button', 'btn btn-small btn-quiet', 'Delete');
      del.type = 'button';
      del.addEventListener('click', async () => {
        del.disabled = true;
        const res = await fetch(`/api/agent/recordings/${encodeURIComponent(r.room)}/${encodeURIComponent(r.id)}`,
          { method: 'DELETE', credentials: 'same-origin' }).catch(() => null);
        if (!res || !res.ok) error.textContent = 'Could not delete the recording.';
        await load();
      });
      actions.append(del);
    }
    li.append(actions);
    return li;
  }));
  empty.hidden = recs.length > 0;
  count.textContent = recs.length ? `(${recs.length})` : '';
}

// Recordings finish while the page is open; a slow refresh is enough.
setInterval(load, 15000);
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') load(); });
new MutationObserver(load).observe($('dashboard'), { attributes: true, attributeFilter: ['hidden'] });
load();
