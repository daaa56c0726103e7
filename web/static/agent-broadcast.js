// agent-broadcast.js — "New broadcast" on the agent page: creates a
// broadcast, opens the broadcaster link in a new tab and copies the viewer
// link to the clipboard.

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
  } catch (err) {
    if (tab) tab.close();
    $('broadcast-error').textContent = err.message;
  } finally {
    button.disabled = false;
  }
});
