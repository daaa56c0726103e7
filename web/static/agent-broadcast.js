// agent-broadcast.js — the agent page's broadcast card: "New broadcast"
// creates a broadcast, opens the broadcaster link in a new tab and copies
// the viewer link to the clipboard; below it, the agent's broadcasts with
// their viewer links and a Delete button.

const $ = (id) => document.getElementById(id);

async function create(body) {
  let res;
  try {
    res = await fetch('/api/agent/broadcasts', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch {
    throw new Error('Could not reach the server. Check your connection.');
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error(data?.error?.message || `The server answered ${res.status}.`);
  return data;
}

async function call(url, opts = {}) {
  let res;
  try {
    res = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' }, ...opts });
  } catch {
    throw new Error('Could not reach the server. Check your connection.');
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error(data?.error?.message || `The server answered ${res.status}.`);
  return data;
}

function el(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined) n.textContent = text; // text only, never HTML
  return n;
}

async function loadBroadcasts() {
  const list = $('broadcasts');
  try {
    const data = await call('/api/agent/broadcasts');
    list.replaceChildren(
      ...(data.broadcasts || []).map((b) => {
        const li = el('li', 'broadcast-item');
        li.dataset.broadcastId = b.id;
        const head = el('div', 'item-head');
        head.append(el('span', 'item-name mono', b.id));
        if (b.title) head.append(el('span', 'small', b.title));
        if (b.phase) head.append(el('span', 'tag', b.phase));
        if (b.hasPassword) head.append(el('span', 'tag', 'password'));
        const actions = el('div', 'item-actions');
        const watch = el('a', 'btn btn-small viewer-link', 'Viewer link');
        watch.href = b.viewerUrl;
        watch.target = '_blank';
        watch.rel = 'noopener';
        const del = el('button', 'btn btn-small btn-quiet delete-broadcast', 'Delete');
        del.type = 'button';
        del.addEventListener('click', () => remove(b.id));
        actions.append(watch, del);
        li.append(head, actions);
        return li;
      }),
    );
    $('broadcasts-error').textContent = '';
  } catch (err) {
    $('broadcasts-error').textContent = err.message;
  }
}

async function remove(id) {
  if (!confirm(`Delete broadcast ${id} with its chat? It ends for everyone watching, and its links stop working.`)) return;
  try {
    await call(`/api/agent/broadcasts/${encodeURIComponent(id)}`, { method: 'DELETE' });
  } catch (err) {
    $('broadcasts-error').textContent = err.message;
  }
  await loadBroadcasts();
}

loadBroadcasts();

$('broadcast-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const button = $('broadcast-button');
  if (button.disabled) return;
  const body = {};
  if ($('broadcast-title').value.trim()) body.title = $('broadcast-title').value.trim();
  if ($('broadcast-password').value) body.password = $('broadcast-password').value;
  // Open the tab now, inside the click, so no pop-up blocker stops it; it
  // is pointed at the broadcaster link once the server answers.
  const tab = window.open('about:blank', '_blank');
  $('broadcast-error').textContent = '';
  button.disabled = true;
  try {
    const b = await create(body);
    const host = $('broadcast-host');
    host.href = b.broadcasterUrl;
    host.textContent = b.broadcasterUrl;
    const viewer = $('broadcast-viewer');
    viewer.href = b.viewerUrl;
    viewer.textContent = b.viewerUrl;
    $('broadcast-created').hidden = false;
    if (tab) {
      tab.opener = null;
      tab.location.href = b.broadcasterUrl;
    }
    try {
      await navigator.clipboard.writeText(b.viewerUrl);
      $('broadcast-copied').textContent = '(copied)';
    } catch {
      $('broadcast-copied').textContent = '(copy it from here)';
    }
    $('broadcast-title').value = '';
    $('broadcast-password').value = '';
    loadBroadcasts();
  } catch (err) {
    if (tab) tab.close();
    $('broadcast-error').textContent = err.message;
  } finally {
    button.disabled = false;
  }
});
