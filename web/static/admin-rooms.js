// admin-rooms.js — rooms (search, members now, close, delete with history
// and files) and chat (a room's full history, search across rooms, export).

import { api, node, button, confirmButton, link, table, when, bytes, pager, showError } from './admin-ui.js';

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

const roomColumns = [
  { title: 'Room', cell: (r) => r.id },
  { title: 'State', cell: (r) => r.state },
  { title: 'Visitor', cell: (r) => r.visitorName },
  { title: 'Agent', cell: (r) => (r.owner ? `${r.agentName} (${r.owner})` : r.agentName) },
  { title: 'Created', cell: (r) => when(r.createdAtMs) },
  { title: '', className: 'actions', cell: (r) => button('Open', '', () => openRoom(r.id)) },
];

function roomQuery(cursor) {
  const p = new URLSearchParams();
  for (const [k, id] of [['q', 'rooms-q'], ['agent', 'rooms-agent'], ['visitor', 'rooms-visitor'], ['from', 'rooms-from'],
    ['to', 'rooms-to'], ['state', 'rooms-state']]) {
    if ($(id).value.trim()) p.set(k, $(id).value.trim());
  }
  if (cursor) p.set('cursor', cursor);
  return p.toString();
}

const reloadRooms = pager($('rooms-more'), async (cursor, append) => {
  const res = await api('GET', `/api/admin/rooms?${roomQuery(cursor)}`);
  table($('rooms-table'), roomColumns, res.rooms, { append, rowId: (r) => r.id });
  return res.next;
});

$('rooms-search').addEventListener('submit', (ev) => {
  ev.preventDefault();
  reloadRooms();
});

export async function showRooms() {
  await reloadRooms();
}

const chatColumns = (withRoom) => [
  ...(withRoom ? [{ title: 'Room', cell: (m) => button(m.roomId, 'btn-quiet', () => { openRoomView(m.roomId); }) }] : []),
  { title: '#', cell: (m) => m.seq },
  { title: 'When', cell: (m) => when(m.sentAtMs) },
  { title: 'Who', cell: (m) => `${m.name} (${m.role})` },
  { title: 'Message', className: 'chat-text', cell: (m) => (m.fileId ? `📎 ${m.fileName} (${bytes(m.fileSize)})` : m.text) },
];

async function openRoomView(id) {
  document.querySelector('#admin-nav [data-view="rooms"]').click();
  await openRoom(id);
}

function exportLinks(base, extra = '') {
  const span = node('span', 'exports');
  span.append(link(`${base}?format=csv${extra}`, 'Export CSV', true), link(`${base}?format=json${extra}`, 'Export JSON', true));
  return span;
}

async function openRoom(id) {
  const d = $('room-detail');
  d.hidden = false;
  d.replaceChildren(node('p', 'muted', 'Loading…'));
  let res;
  try {
    res = await api('GET', `/api/admin/rooms/${enc(id)}`);
  } catch (e) {
    d.replaceChildren(node('p', 'form-error', e.message));
    return;
  }
  const r = res.room;
  d.dataset.room = r.id;
  const head = node('h2', 'panel-heading', `Room ${r.id} · ${r.state}`);
  const facts = node('p', 'small muted',
    `Visitor ${r.visitorName || '—'} · agent ${r.agentName || '—'}${r.owner ? ` (${r.owner})` : ''} · created ${when(r.createdAtMs)}`
    + (r.startsAtMs ? ` · opens ${when(r.startsAtMs)}` : '') + (r.endsAtMs ? ` · closes ${when(r.endsAtMs)}` : ''));
  const members = node('ul', 'dash-list room-members');
  for (const m of res.members) members.append(node('li', '', `${m.name} (${m.role})${m.email ? ` · ${m.email}` : ''}`));
  if (!res.members.length) members.append(node('li', 'muted', 'No one is in the room now.'));
  const actions = node('p', 'actions');
  actions.append(
    button('Close room', '', async () => {
      try { await api('POST', `/api/admin/rooms/${enc(id)}/close`); await openRoom(id); } catch (e) { showError(e); }
    }),
    confirmButton('Delete room', r.id, async () => {
      try {
        await api('DELETE', `/api/admin/rooms/${enc(id)}?confirm=${enc(id)}`);
        d.replaceChildren(node('p', 'muted', `Room ${id} was deleted with its history and files.`));
        await reloadRooms();
      } catch (e) { showError(e); }
    }),
    exportLinks(`/api/admin/rooms/${enc(id)}/export`),
  );
  const files = node('div', 'table-wrap room-files');
  const chat = node('div', 'table-wrap room-chat');
  const more = button('More', '', () => {});
  more.hidden = true;
  d.replaceChildren(head, facts, node('h3', '', `Members now (${res.members.length}, ${res.inCall} in call)`), members,
    actions, node('h3', '', 'Files'), files, node('h3', '', 'History'), chat, more);
  await roomFiles(id, files);
  const load = pager(more, async (cursor, append) => {
    const h = await api('GET', `/api/admin/rooms/${enc(id)}/chat?limit=100${cursor ? `&cursor=${enc(cursor)}` : ''}`);
    table(chat, chatColumns(false), h.messages, { append });
    return h.next;
  });
  await load();
}

async function roomFiles(id, box) {
  const res = await api('GET', `/api/admin/files?room=${enc(id)}`);
  table(box, fileColumns(() => roomFiles(id, box)), res.files);
}

export function fileColumns(reload) {
  return [
    { title: 'Room', cell: (f) => f.roomId },
    { title: 'Name', cell: (f) => f.name },
    { title: 'Size', cell: (f) => bytes(f.size) },
    { title: 'Type', cell: (f) => f.contentType },
    {
      title: '', className: 'actions',
      cell: (f) => [
        ...(f.onDisk ? [link(`/api/admin/files/${enc(f.roomId)}/${enc(f.id)}`, 'Download', true)] : [node('span', 'muted', 'missing on disk')]),
        confirmButton('Delete', f.id, async () => {
          try { await api('DELETE', `/api/admin/files/${enc(f.roomId)}/${enc(f.id)}?confirm=${enc(f.id)}`); await reload(); } catch (e) { showError(e); }
        }),
      ],
    },
  ];
}

// ---------- chat search ----------

const searchChat = pager($('chat-more'), async (cursor, append) => {
  const q = $('chat-q').value.trim();
  if (!q) return '';
  const res = await api('GET', `/api/admin/chat?q=${enc(q)}${cursor ? `&cursor=${enc(cursor)}` : ''}`);
  table($('chat-table'), chatColumns(true), res.messages, { append });
  $('chat-exports').replaceChildren(exportLinks('/api/admin/chat/export', `&q=${enc(q)}`));
  return res.next;
});

$('chat-search').addEventListener('submit', (ev) => {
  ev.preventDefault();
  searchChat();
});

export async function showChat() {
  $('chat-q').focus();
}
