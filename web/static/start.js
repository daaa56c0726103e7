// start.js — the start page: create a room and hand out its two links.

const MAX_NAME = 64;
const $ = (id) => document.getElementById(id);

const form = $('create-form');
const fields = {
  id: $('room-id'),
  visitorName: $('visitor-name'),
  agentName: $('agent-name'),
  password: $('room-password'),
};
const errorBox = $('create-error');
const submit = $('create-room');
const result = $('create-result');

// Pre-fill the agent's own name from the last room created here.
try {
  fields.agentName.value = localStorage.getItem('liveroom:agent-name') || '';
} catch {
  /* storage blocked */
}

function showError(message, field) {
  errorBox.textContent = message;
  for (const input of Object.values(fields)) input.removeAttribute('aria-invalid');
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
}

// The server's "invalid" message names the field; point at it if we can.
function fieldFromMessage(message) {
  const m = String(message).toLowerCase();
  if (/visitor/.test(m)) return fields.visitorName;
  if (/agent/.test(m)) return fields.agentName;
  if (/password/.test(m)) return fields.password;
  if (/\bid\b/.test(m)) return fields.id;
  return null;
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (submit.disabled) return;
  const body = {};
  const visitorName = fields.visitorName.value.trim();
  const agentName = fields.agentName.value.trim();
  if (visitorName) body.visitorName = visitorName;
  if (agentName) body.agentName = agentName;
  const id = fields.id.value.trim();
  if (id) body.id = id;
  if (fields.password.value) body.password = fields.password.value;

  // Both names are optional: an empty one is simply typed in when joining.
  if (visitorName.length > MAX_NAME || agentName.length > MAX_NAME) {
    return showError(`Names can be at most ${MAX_NAME} characters.`);
  }

  showError('');
  submit.disabled = true;
  submit.textContent = 'Creating…';
  try {
    const res = await fetch('/api/rooms', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await res.json();
    } catch {
      /* handled below */
    }
    if (!res.ok) {
      const e = data && data.error;
      if (e && e.code === 'room_exists') {
        return showError(e.message || 'A room with this id already exists. Choose another id.', fields.id);
      }
      const message = (e && (e.message || e.code)) || `The server answered ${res.status}.`;
      return showError(message, e && e.code === 'invalid' ? fieldFromMessage(message) : null);
    }
    if (!data || !data.visitorUrl || !data.agentUrl) return showError('The server sent an unexpected answer.');
    try {
      if (agentName) localStorage.setItem('liveroom:agent-name', agentName);
    } catch {
      /* not fatal */
    }
    showResult(data);
  } catch {
    showError('Could not reach the server. Check your connection and try again.');
  } finally {
    submit.disabled = false;
    submit.textContent = 'Create room';
  }
});

function showResult(data) {
  const room = data.room || {};
  $('result-room-id').textContent = room.id || '';
  $('result-visitor-name').textContent = room.visitorName || 'your visitor';
  setLink($('visitor-link'), data.visitorUrl);
  setLink($('agent-link'), data.agentUrl);
  $('copy-status').textContent = '';
  form.hidden = true;
  result.hidden = false;
  result.focus();
}

function setLink(a, url) {
  a.href = url;
  a.textContent = url;
}

$('create-another').addEventListener('click', () => {
  fields.id.value = '';
  fields.visitorName.value = '';
  fields.password.value = '';
  result.hidden = true;
  form.hidden = false;
  fields.visitorName.focus();
});

for (const btn of document.querySelectorAll('.copy-btn')) {
  btn.addEventListener('click', async () => {
    const url = $(btn.dataset.copy).href;
    const ok = await copyText(url);
    $('copy-status').textContent = ok ? 'Link copied.' : 'Could not copy; select the link and copy it by hand.';
    if (ok) {
      btn.textContent = 'Copied';
      setTimeout(() => (btn.textContent = 'Copy'), 1500);
    }
  });
}

async function copyText(text) {
  // The Clipboard API only exists on secure origins; a self-hosted server is
  // often reached over plain http on a LAN, hence the fallback.
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      /* fall through */
    }
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.className = 'offscreen';
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}
