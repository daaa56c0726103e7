// admin.js — the admin panel's shell: login (the agent login, shared), the
// section menu, and who is logged in. Each section lives in its own module.

import { api, showError } from './admin-ui.js';
import { showOverview } from './admin-overview.js';
import { showAgents } from './admin-agents.js';
import { showRooms, showChat } from './admin-rooms.js';
import { showFiles, showRecords, showAudit, showSettings } from './admin-records.js';
import { showWebhooks } from './admin-webhooks.js';

const $ = (id) => document.getElementById(id);

const views = {
  overview: showOverview,
  agents: showAgents,
  rooms: showRooms,
  chat: showChat,
  files: showFiles,
  records: showRecords,
  audit: showAudit,
  settings: showSettings,
  webhooks: showWebhooks,
};

let me = null;

function setState(s) {
  document.body.dataset.state = s;
  $('admin-loading').hidden = s !== 'loading';
  $('login-panel').hidden = s !== 'login';
  $('panel').hidden = s !== 'panel';
}

async function open(name) {
  if (!views[name]) name = 'overview';
  for (const b of document.querySelectorAll('#admin-nav button')) {
    if (b.dataset.view === name) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  for (const v of document.querySelectorAll('.admin-view')) v.hidden = v.id !== `view-${name}`;
  document.body.dataset.view = name;
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  try {
    await views[name](me);
  } catch (e) {
    showError(e);
  }
}

async function start() {
  try {
    me = await api('GET', '/api/admin/me');
  } catch (e) {
    if (e.status === 403) {
      $('login-error').textContent = 'This account is not an administrator.';
    }
    setState('login');
    return;
  }
  $('me-name').textContent = me.name || me.id;
  $('me-role').textContent = me.role;
  document.body.dataset.role = me.role;
  for (const n of document.querySelectorAll('[data-admin-only]')) n.hidden = me.role !== 'admin';
  setState('panel');
  await open(location.hash.slice(1));
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('login-error').textContent = '';
  $('login-button').disabled = true;
  try {
    const r = await fetch('/api/agent/login', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ agentId: $('login-id').value.trim(), password: $('login-password').value, code: $('login-code').value.trim() }),
    });
    if (!r.ok) {
      const data = await r.json().catch(() => ({}));
      if (data.error && data.error.code === 'totp_required') {
        $('login-code-field').hidden = false;
        $('login-code').focus();
      }
      $('login-error').textContent = (data.error && data.error.message) || 'Login failed.';
      return;
    }
    $('login-password').value = '';
    $('login-code').value = '';
    await start();
  } catch {
    $('login-error').textContent = 'The server could not be reached.';
  } finally {
    $('login-button').disabled = false;
  }
});

$('logout-button').addEventListener('click', async () => {
  await fetch('/api/agent/logout', { method: 'POST', credentials: 'same-origin' }).catch(() => {});
  me = null;
  setState('login');
});

for (const b of document.querySelectorAll('#admin-nav button')) {
  b.addEventListener('click', () => open(b.dataset.view));
}

start();
