// admin-records.js — files, call recordings and disk use, offline messages and entry forms
// across agents, the audit log, and the effective settings.

import { api, node, link, table, when, bytes, pager, confirmButton, showError } from './admin-ui.js';
import { fileColumns } from './admin-rooms.js';

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

const loadFiles = pager($('files-more'), async (cursor, append) => {
  const res = await api('GET', `/api/admin/files${cursor ? `?cursor=${enc(cursor)}` : ''}`);
  $('files-disk').textContent = `Disk used: ${bytes(res.diskBytes)} in ${res.diskFiles} files ` +
    `(uploads ${bytes(res.uploadBytes)}, call recordings ${bytes(res.recordingBytes)}).`;
  table($('files-table'), fileColumns(() => loadFiles()), res.files, { append });
  return res.next;
});

function duration(ms) {
  if (!ms) return '';
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

async function loadRecordings() {
  const res = await api('GET', '/api/admin/recordings');
  const reload = () => Promise.all([loadRecordings(), loadFiles()]);
  table($('recordings-table'), [
    { title: 'Room', cell: (r) => r.room },
    { title: 'Recording', cell: (r) => r.id },
    { title: 'State', cell: (r) => (r.error ? `${r.state}: ${r.error}` : r.state) },
    { title: 'Size', cell: (r) => (r.size ? bytes(r.size) : '') },
    { title: 'Length', cell: (r) => duration(r.durationMs) },
    { title: 'Made', cell: (r) => when(r.createdAtMs) },
    { title: 'Recorded by', cell: (r) => r.by },
    {
      title: '', className: 'actions',
      cell: (r) => [
        ...(r.url ? [link(r.url, 'Download', true)] : []),
        ...(r.state === 'recording' ? [] : [confirmButton('Delete', r.id, async () => {
          try {
            await api('DELETE', `/api/admin/recordings/${enc(r.room)}/${enc(r.id)}?confirm=${enc(r.id)}`);
            await reload();
          } catch (e) { showError(e); }
        })]),
      ],
    },
  ], res.recordings, { rowId: (r) => r.id });
}

export async function showFiles() {
  await Promise.all([loadFiles(), loadRecordings().catch(showError)]);
}

export async function showRecords() {
  const [off, ent] = await Promise.all([api('GET', '/api/admin/offline'), api('GET', '/api/admin/entries')]);
  table($('offline-table'), [
    { title: 'Agent', cell: (m) => m.agentId },
    { title: 'When', cell: (m) => when(m.receivedAtMs) },
    { title: 'From', cell: (m) => `${m.name} <${m.email}>` },
    { title: 'Message', className: 'chat-text', cell: (m) => m.text },
    { title: 'Page', cell: (m) => m.pageUrl || '' },
    { title: 'Mailed', cell: (m) => (m.mailed ? 'yes' : m.mailError || 'no') },
  ], off.messages);
  table($('entries-table'), [
    { title: 'Room', cell: (e) => e.roomId },
    { title: 'When', cell: (e) => when(e.joinedAtMs) },
    { title: 'Name', cell: (e) => e.name },
    { title: 'Email', cell: (e) => e.email || '' },
    { title: 'Avatar', cell: (e) => e.avatarUrl || '' },
  ], ent.entries);
}

const loadAudit = pager($('audit-more'), async (cursor, append) => {
  const q = $('audit-q').value.trim();
  const res = await api('GET', `/api/admin/audit?q=${enc(q)}${cursor ? `&cursor=${enc(cursor)}` : ''}`);
  table($('audit-table'), [
    { title: 'When', cell: (a) => when(a.atMs) },
    { title: 'Who', cell: (a) => (a.role ? `${a.actor} (${a.role})` : a.actor) },
    { title: 'What', cell: (a) => a.action },
    { title: 'On', cell: (a) => a.target },
    { title: 'Detail', cell: (a) => a.detail },
    { title: 'From', cell: (a) => a.ip },
  ], res.records, { append });
  const ex = $('audit-exports');
  ex.replaceChildren(link(`/api/admin/audit/export?format=csv&q=${enc(q)}`, 'Export CSV', true),
    link(`/api/admin/audit/export?format=json&q=${enc(q)}`, 'Export JSON', true));
  return res.next;
});

$('audit-search').addEventListener('submit', (ev) => {
  ev.preventDefault();
  loadAudit();
});

export async function showAudit() {
  await loadAudit();
}

let totpSecret = '';

function drawTotp(on) {
  $('totp-state').textContent = on ? 'On: logging in needs a code from your authenticator app.' : 'Off: the password alone logs you in.';
  $('totp-start').textContent = on ? 'Turn off' : 'Set up';
  $('totp-start').dataset.on = on ? '1' : '';
  $('totp-setup').hidden = true;
  $('totp-code-field').hidden = true;
  $('totp-confirm').hidden = true;
  $('totp-code').value = '';
  totpSecret = '';
}

$('totp-start').addEventListener('click', async () => {
  $('totp-error').textContent = '';
  if ($('totp-start').dataset.on !== '1') {
    const res = await api('POST', '/api/admin/me/totp/new');
    totpSecret = res.secret;
    $('totp-secret').textContent = res.secret;
    $('totp-uri').href = res.uri;
    $('totp-setup').hidden = false;
  }
  $('totp-code-field').hidden = false;
  $('totp-confirm').hidden = false;
  $('totp-code').focus();
});

$('totp-confirm').addEventListener('click', async () => {
  $('totp-error').textContent = '';
  try {
    const res = await api('POST', '/api/admin/me/totp', { secret: totpSecret, code: $('totp-code').value.trim() });
    drawTotp(res.totp);
  } catch (e) {
    $('totp-error').textContent = e.message;
  }
});

export async function showSettings(me) {
  const fresh = await api('GET', '/api/admin/me');
  drawTotp(fresh.totp);
  const res = await api('GET', '/api/admin/settings');
  table($('settings-table'), [
    { title: 'Option', cell: (s) => node('code', '', s.key) },
    { title: 'Value', cell: (s) => s.value },
    { title: 'From', cell: (s) => s.source },
    { title: 'Default', cell: (s) => s.default },
    { title: 'What it does', cell: (s) => s.help },
  ], res.settings);
}
