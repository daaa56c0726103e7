// room.js — the room page: join form, members, chat log, composer, uploads.
//
// Everything that came from another person (names, texts, file names) is put
// on the page with textContent or DOM properties only, never innerHTML.

import { Wire } from '/static/wire.js';
import { Call } from '/static/call.js';
import { startCallLayout } from '/static/call-layout.js';
import { Recording } from '/static/recording.js';
import { Whiteboard } from '/static/whiteboard.js';
import { gateSchedule, setupEntry, checkEntry, entryFields, decorateMember, takeCallHint } from '/static/entry.js';

const MAX_TEXT = 4000;
const MAX_NAME = 64;
const HISTORY_PAGE = 50;

const $ = (id) => document.getElementById(id);

const el = {
  roomError: $('room-error'),
  loading: $('room-loading'),
  joinPanel: $('join-panel'),
  joinForm: $('join-form'),
  joinRoomId: $('join-room-id'),
  joinRoleNote: $('join-role-note'),
  joinName: $('join-name'),
  joinPasswordField: $('join-password-field'),
  joinPassword: $('join-password'),
  joinError: $('join-error'),
  joinButton: $('join-button'),
  view: $('room-view'),
  titleId: $('room-title-id'),
  myRole: $('my-role'),
  myName: $('my-name'),
  conn: $('conn-status'),
  reconnect: $('reconnect-now'),
  members: $('members'),
  memberCount: $('member-count'),
  messages: $('messages'),
  loadOlder: $('load-older'),
  composer: $('composer'),
  input: $('chat-input'),
  send: $('chat-send'),
  counter: $('chat-counter'),
  chatError: $('chat-error'),
  fileInput: $('file-input'),
  uploadLabel: $('upload-label'),
  uploadProgress: $('upload-progress'),
  uploadError: $('upload-error'),
};

const room = {
  id: '',
  agentKey: '',
  info: null, // RoomInfo from GET /api/rooms/<id>, refreshed by joined
  name: '',
  password: '',
  memberId: '',
  myIds: new Set(), // every member id this tab was given, so older own messages stay "own"
  role: '',
  token: '',
  members: new Map(), // memberId -> Member
  bySeq: new Map(), // seq -> <li>
  minSeq: 0,
  maxSeq: 0,
  moreOlder: false,
  clientIdsSeen: new Set(),
  pendingChats: new Map(), // correlation id -> {text, tries, li}, until the server echoes it
  wire: null,
};

// ---------- small helpers ----------

function setState(s) {
  document.body.dataset.state = s;
}

function num(v) {
  // uint64/int64 arrive as JSON strings; absent means zero.
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

function roleLabel(role) {
  if (role === 'ROLE_AGENT') return 'agent';
  if (role === 'ROLE_VISITOR') return 'visitor';
  return 'member';
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

function humanSize(bytes) {
  const b = num(bytes);
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(b < 10 * 1024 ? 1 : 0)} KB`;
  if (b < 1024 ** 3) return `${(b / 1024 ** 2).toFixed(1)} MB`;
  return `${(b / 1024 ** 3).toFixed(1)} GB`;
}

function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined) n.textContent = text;
  return n;
}

function nameKey(roomId, isAgent) {
  return `liveroom:name:${roomId}:${isAgent ? 'agent' : 'visitor'}`;
}

function storageGet(key) {
  try {
    return localStorage.getItem(key) || '';
  } catch {
    return ''; // storage can be blocked (private mode, policies)
  }
}

function storageSet(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* not fatal */
  }
}

// Member ids this tab was given (one per connection), kept for the session
// so our own messages stay marked as ours after a reload.
function myIdsKey() {
  return `liveroom:me:${room.id}`;
}

function loadMyIds() {
  try {
    for (const id of JSON.parse(sessionStorage.getItem(myIdsKey()) || '[]')) room.myIds.add(id);
  } catch {
    /* ignore */
  }
}

function rememberMyId(id) {
  room.myIds.add(id);
  try {
    sessionStorage.setItem(myIdsKey(), JSON.stringify([...room.myIds].slice(-50)));
  } catch {
    /* ignore */
  }
}

function showRoomError(message) {
  el.roomError.textContent = message;
  el.roomError.hidden = false;
  setState('error');
}

async function apiError(res) {
  try {
    const body = await res.json();
    if (body && body.error) return { code: body.error.code, message: body.error.message || body.error.code };
  } catch {
    /* not JSON */
  }
  return { code: `http_${res.status}`, message: `The server answered ${res.status} ${res.statusText}.` };
}

// ---------- start-up ----------

function parseLocation() {
  const m = location.pathname.match(/^\/room\/([^/]+)\/?$/);
  let id = '';
  if (m) {
    try {
      id = decodeURIComponent(m[1]);
    } catch {
      id = '';
    }
  }
  // The agent key lives in the fragment so it never reaches server logs or
  // Referer headers; it is only ever sent inside the join frame.
  const agentKey = new URLSearchParams(location.hash.slice(1)).get('agent') || '';
  return { id, agentKey };
}

async function init() {
  const { id, agentKey } = parseLocation();
  room.id = id;
  room.agentKey = agentKey;
  if (!id) {
    el.loading.hidden = true;
    showRoomError('This is not a valid room link.');
    return;
  }
  document.title = `Room ${id} · Liveroom`;
  loadMyIds();

  let res;
  try {
    res = await fetch(`/api/rooms/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' } });
  } catch {
    el.loading.hidden = true;
    showRoomError('Could not reach the server. Check your connection and reload the page.');
    return;
  }
  el.loading.hidden = true;
  if (res.status === 404) {
    showRoomError('This room does not exist. Check the link you were given.');
    return;
  }
  if (!res.ok) {
    const err = await apiError(res);
    showRoomError(`Could not load this room: ${err.message}`);
    return;
  }
  try {
    room.info = await res.json();
  } catch {
    showRoomError('The server sent an unreadable answer. Reload the page to try again.');
    return;
  }
  if (gateSchedule(room.info, Boolean(room.agentKey), showJoinForm)) showJoinForm();
}

function showJoinForm() {
  const info = room.info || {};
  const isAgent = Boolean(room.agentKey);
  el.joinRoomId.textContent = room.id;
  el.joinRoleNote.hidden = !isAgent;
  el.joinPasswordField.hidden = !info.hasPassword;
  setupEntry(info, isAgent);
  el.joinName.value =
    storageGet(nameKey(room.id, isAgent)) ||
    (isAgent ? info.agentName : info.visitorName) ||
    storageGet('liveroom:name') ||
    '';
  // The agent's key admits without the room password.
  if (isAgent) el.joinPasswordField.hidden = true;
  el.joinPanel.hidden = false;
  setState('joining');
  (el.joinName.value ? (info.hasPassword && !isAgent ? el.joinPassword : el.joinButton) : el.joinName).focus();
  // Go straight in when nothing is missing and the person already chose to
  // come: a link from an accepted call request, or a reload of a room this
  // tab was in. Anything the server refuses shows on the form.
  if (el.joinName.value && (isAgent || !info.hasPassword) && !entryNeedsInput(info) && (hasCallHint() || wasHere())) {
    el.joinForm.requestSubmit();
  }
}

// An accepted request's links say call=video|audio, or go=1 for a chat.
function hasCallHint() {
  const params = new URLSearchParams(location.hash.slice(1));
  const go = params.get('go') === '1';
  if (go) {
    params.delete('go');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  }
  return go || /^(video|audio)$/.test(params.get('call') || '');
}

function hereKey() {
  return `liveroom:joined:${room.id}`;
}

function wasHere() {
  try {
    return sessionStorage.getItem(hereKey()) === '1';
  } catch {
    return false;
  }
}

// The entry form needs the visitor's own input when it shows a field that
// is still empty or wrong (a name alone is already filled in).
function entryNeedsInput(info) {
  if (room.agentKey) return false;
  const f = info.entryForm || {};
  if (!f.enabled) return false;
  const empty = (id) => !$(id).value.trim();
  return Boolean(f.private || checkEntry() || (f.showEmail && empty('join-email')) || (f.showAvatar && empty('join-avatar')));
}

// ---------- joining ----------

el.joinForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (el.joinButton.disabled) return;
  const name = el.joinName.value.trim();
  if (!name) {
    el.joinError.textContent = 'Please enter your name.';
    el.joinName.focus();
    return;
  }
  if (name.length > MAX_NAME) {
    el.joinError.textContent = `Your name can be at most ${MAX_NAME} characters.`;
    return;
  }
  const entryProblem = room.agentKey ? '' : checkEntry();
  if (entryProblem) {
    el.joinError.textContent = entryProblem;
    return;
  }
  room.name = name;
  room.password = el.joinPassword.value;
  el.joinError.textContent = '';
  el.joinButton.disabled = true;
  el.joinButton.textContent = 'Joining…';

  room.call ||= new Call({ wire: () => room.wire, memberId: () => room.memberId, roomId: room.id });
  room.recording ||= new Recording({ wire: () => room.wire, token: () => room.token });
  room.wire = new Wire({
    join: joinBody,
    onJoined: handleJoined,
    onFrame: handleFrame,
    onStatus: showStatus,
    onFatal: (err) => {
      showRoomError(err.message);
      setComposerEnabled(false);
    },
  });
  try {
    await room.wire.start(); // handleJoined has run by now
    storageSet(nameKey(room.id, Boolean(room.agentKey)), name);
    storageSet('liveroom:name', name);
    try {
      sessionStorage.setItem(hereKey(), '1');
    } catch {
      /* not fatal */
    }
  } catch (err) {
    el.joinError.textContent = err.message || 'Could not join the room.';
    if (err.code === 'wrong_password' || err.code === 'password_required') {
      el.joinPasswordField.hidden = false;
      el.joinPassword.select();
      el.joinPassword.focus();
    }
  } finally {
    el.joinButton.disabled = false;
    el.joinButton.textContent = 'Join';
  }
});

function joinBody() {
  // protojson accepts omitted fields as defaults, so leave out empty ones.
  const j = { roomId: room.id, name: room.name };
  if (room.password) j.password = room.password;
  if (room.agentKey) j.agentKey = room.agentKey;
  if (room.maxSeq) j.lastSeq = String(room.maxSeq);
  // After a dropped connection, continue as the same member (and call).
  if (room.resumeToken) j.resumeToken = room.resumeToken;
  if (!room.agentKey) Object.assign(j, entryFields());
  return j;
}

async function handleJoined(j, { resumed }) {
  const prevMax = room.maxSeq;
  const hadMessages = room.bySeq.size > 0;
  room.memberId = j.memberId || '';
  if (room.memberId) rememberMyId(room.memberId);
  room.role = j.role || '';
  room.token = j.accessToken || '';
  room.resumeToken = j.resumeToken || '';
  if (j.room) room.info = j.room;

  setMembers(j.members || [], resumed);
  room.call.onJoined(j);
  room.recording.onJoined(j);
  room.whiteboard ||= new Whiteboard({ wire: () => room.wire, room: () => room });
  room.whiteboard.onJoined(j);
  const hint = resumed ? '' : takeCallHint();
  if (hint) room.call.start(hint === 'video', 'ACTION_RING').catch((e) => room.call.showStatus(e.message || String(e)));

  const history = j.history || [];
  const stick = isAtBottom();
  for (const m of history) insertMessage(m);
  if (!hadMessages) setMoreOlder(Boolean(j.moreHistory));
  refreshFileLinks(); // a new access token may replace the old one

  if (!resumed) {
    el.joinPanel.hidden = true;
    el.roomError.hidden = true;
    el.view.hidden = false;
    el.titleId.textContent = room.id;
    el.myRole.textContent = roleLabel(room.role);
    el.myName.textContent = `(${room.name})`;
    setState('joined');
    setComposerEnabled(true);
    scrollToBottom();
    // On touch screens focusing would pop the keyboard over the history.
    if (matchMedia('(pointer: fine)').matches) el.input.focus();
  } else {
    setComposerEnabled(true);
    if (stick) scrollToBottom();
    // The resumed history may start after a gap if we were away long.
    const low = history.length ? Math.min(...history.map((m) => num(m.seq))) : 0;
    if (hadMessages && j.moreHistory && low > prevMax + 1) await fillGap(low, prevMax);
    resendPending();
  }
}

async function fillGap(before, prevMax) {
  try {
    while (before > prevMax + 1) {
      const f = await room.wire.request({ history: { beforeSeq: String(before), limit: 100 } });
      const h = f.history || {};
      const msgs = h.messages || [];
      const stick = isAtBottom();
      for (const m of msgs) insertMessage(m);
      if (stick) scrollToBottom();
      if (!msgs.length || !h.more) break;
      before = Math.min(...msgs.map((m) => num(m.seq)));
    }
  } catch (err) {
    if (err.code !== 'disconnected') showChatError(`Some messages could not be loaded: ${err.message}`);
  }
}

// Messages sent just before the link dropped: if the server never echoed
// them (not in the resumed history either), send them again with the same id.
// Only once: a message that itself breaks the link must not loop forever.
function resendPending() {
  for (const [id, p] of room.pendingChats) {
    if (room.clientIdsSeen.has(id)) {
      dropPending(id);
    } else if (p.tries >= 2) {
      dropPending(id);
      giveBack(p.text, 'A message could not be sent; it is back in the box.');
    } else {
      p.tries += 1;
      try {
        room.wire.send({ chat: { text: p.text } }, id);
      } catch {
        return;
      }
    }
  }
}

// A message shows at once, marked "sending", until the server's echo (its
// ack) replaces it; one written while the link is down waits for it.
function showPending(id, text) {
  const li = node('li', 'msg own pending');
  li.dataset.clientId = id;
  const meta = node('div', 'msg-meta');
  meta.append(node('span', 'msg-name', room.name || 'You'), node('span', 'msg-sending', 'sending…'));
  const body = node('div', 'msg-text');
  appendLinkified(body, text);
  li.append(meta, body);
  el.messages.append(li);
  scrollToBottom();
  return li;
}

function dropPending(id) {
  const p = room.pendingChats.get(id);
  if (p && p.li) p.li.remove();
  room.pendingChats.delete(id);
}

// Put an unsent message back in the composer, unless the user typed anew.
function giveBack(text, message) {
  if (!el.input.value) {
    el.input.value = text;
    updateCounter();
  }
  showChatError(message);
}

// ---------- frames ----------

// Fallback in case an echo of our message lacks its clientId: forget the
// oldest pending message with the same text so it is not sent again.
function forgetPendingText(text) {
  for (const [id, p] of room.pendingChats) {
    if (p.text === text) {
      dropPending(id);
      return;
    }
  }
}

// Count messages that arrive while the tab is in the background.
let unread = 0;

function noteUnread() {
  if (!document.hidden) return;
  unread += 1;
  document.title = `(${unread}) Room ${room.id} · Liveroom`;
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && unread) {
    unread = 0;
    document.title = `Room ${room.id} · Liveroom`;
  }
});

function handleFrame(f) {
  if (room.recording && room.recording.onFrame(f)) return;
  if (room.call && room.call.onFrame(f)) return;
  if (room.whiteboard && room.whiteboard.onFrame(f)) return;
  if (f.chat) {
    const c = f.chat;
    const mine = room.pendingChats.has(c.clientId) || room.myIds.has(c.memberId);
    if (mine && !c.clientId) forgetPendingText(c.text);
    const stick = mine || isAtBottom();
    const fresh = !room.bySeq.has(num(c.seq));
    insertMessage(c);
    if (stick) scrollToBottom();
    if (fresh && !mine) {
      noteUnread();
      room.layout.noteMessage();
    }
  } else if (f.member) {
    handleMemberEvent(f.member);
  } else if (f.error && f.error.code === 'not_joined') {
    // The server lost us (wire.js joins again): a refused message stays
    // pending and goes out after the join.
  } else if (f.error) {
    const id = f.replyTo;
    const message = f.error.message || f.error.code || 'Something went wrong.';
    const p = id && room.pendingChats.get(id);
    if (p) {
      // The server refused a chat message: give the text back.
      dropPending(id);
      giveBack(p.text, message);
    } else {
      showChatError(message);
    }
  }
}

// ---------- members ----------

function setMembers(list, resumed) {
  const before = room.members;
  room.members = new Map();
  for (const m of list) if (m && m.memberId) room.members.set(m.memberId, m);
  // The server may or may not list us; we always are in the room.
  if (room.memberId && !room.members.has(room.memberId)) {
    room.members.set(room.memberId, { memberId: room.memberId, name: room.name, role: room.role });
  }
  if (resumed) {
    // Tell what changed while we were away. Compare by role and name, not
    // id: someone who reconnected too may have a new member id.
    const key = (m) => `${m.role}\u0000${m.name}`;
    const others = (map) => [...map.values()].filter((m) => !room.myIds.has(m.memberId)).map(key);
    const was = others(before);
    const now = others(room.members);
    for (const k of now) {
      const i = was.indexOf(k);
      if (i >= 0) was.splice(i, 1);
      else systemLine(`${k.split('\u0000')[1] || 'Someone'} joined`);
    }
    for (const k of was) systemLine(`${k.split('\u0000')[1] || 'Someone'} left`);
  }
  renderMembers();
}

function handleMemberEvent(ev) {
  const m = ev.member || {};
  if (!m.memberId) return;
  const self = room.myIds.has(m.memberId);
  if (ev.kind === 'KIND_JOINED') {
    const known = room.members.has(m.memberId);
    room.members.set(m.memberId, m);
    if (!known && !self) systemLine(`${m.name || 'Someone'} joined`);
  } else if (ev.kind === 'KIND_LEFT') {
    if (room.members.delete(m.memberId) && !self) systemLine(`${m.name || 'Someone'} left`);
  }
  renderMembers();
}

function renderMembers() {
  const list = [...room.members.values()].sort((a, b) => {
    const rank = (m) => (m.memberId === room.memberId ? 0 : m.role === 'ROLE_AGENT' ? 1 : 2);
    return rank(a) - rank(b) || String(a.name || '').localeCompare(String(b.name || ''));
  });
  const items = list.map((m) => {
    const li = node('li', 'member');
    li.dataset.memberId = m.memberId;
    li.title = m.name || '';
    li.append(node('span', 'member-name', m.name || 'Unnamed'));
    if (m.memberId === room.memberId) li.append(' ', node('span', 'member-you', '(you)'));
    li.append(' ', node('span', `role-badge role-${roleLabel(m.role)}`, roleLabel(m.role)));
    decorateMember(li, m);
    return li;
  });
  el.members.replaceChildren(...items);
  el.memberCount.textContent = `(${items.length})`;
  markMembersOverflow();
}

// The phone's member strip scrolls sideways; fade its edge while more
// members are out of sight.
function markMembersOverflow() {
  const m = el.members;
  m.classList.toggle('more-right', m.scrollWidth - m.scrollLeft - m.clientWidth > 2);
}
el.members.addEventListener('scroll', markMembersOverflow, { passive: true });
window.addEventListener('resize', markMembersOverflow);

// ---------- chat log ----------

function isAtBottom() {
  const m = el.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 48;
}

function scrollToBottom() {
  el.messages.scrollTop = el.messages.scrollHeight;
}

function systemLine(text) {
  const stick = isAtBottom();
  const li = node('li', 'sys', text);
  el.messages.append(li);
  if (stick) scrollToBottom();
}

function fileHref(fileId) {
  const q = room.token ? `?t=${encodeURIComponent(room.token)}` : '';
  return `/files/${encodeURIComponent(room.id)}/${encodeURIComponent(fileId)}${q}`;
}

function refreshFileLinks() {
  for (const a of el.messages.querySelectorAll('a.file-link')) a.href = fileHref(a.dataset.fileId);
}

function renderMessage(m) {
  const seq = num(m.seq);
  const li = node('li', 'msg');
  li.dataset.seq = String(seq);
  if (room.myIds.has(m.memberId)) li.classList.add('own');
  if (m.role === 'ROLE_AGENT') li.classList.add('from-agent');

  const meta = node('div', 'msg-meta');
  meta.append(node('span', 'msg-name', m.name || 'Unnamed'));
  if (m.role) meta.append(node('span', `role-badge role-${roleLabel(m.role)}`, roleLabel(m.role)));
  const when = new Date(num(m.sentAtMs));
  if (!Number.isNaN(when.getTime())) {
    const time = node('time', 'msg-time', `${pad2(when.getHours())}:${pad2(when.getMinutes())}`);
    time.dateTime = when.toISOString();
    time.title = when.toLocaleString();
    meta.append(time);
  }
  li.append(meta);

  const text = node('div', 'msg-text');
  appendLinkified(text, m.text || '');
  li.append(text);

  if (m.file && m.file.id) {
    const f = m.file;
    const box = node('div', 'msg-file');
    const a = node('a', 'file-link', f.name || 'file');
    a.dataset.fileId = f.id;
    a.href = fileHref(f.id);
    a.download = f.name || '';
    box.append(a, ' ', node('span', 'file-size', humanSize(f.size)));
    li.append(box);
  }
  return li;
}

// Turn http(s) URLs in a message into links, built with DOM APIs; the text
// content stays exactly the message text.
const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}]/gi;

function appendLinkified(parent, text) {
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    if (match.index > last) parent.append(text.slice(last, match.index));
    const a = document.createElement('a');
    a.href = match[0];
    a.textContent = match[0];
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    parent.append(a);
    last = match.index + match[0].length;
  }
  if (last < text.length) parent.append(text.slice(last));
}

/** Insert a message in seq order; a seq already on the page is ignored. */
function insertMessage(m) {
  if (!m) return;
  const seq = num(m.seq);
  if (m.clientId) {
    room.clientIdsSeen.add(m.clientId);
    dropPending(m.clientId);
  }
  if (!seq || room.bySeq.has(seq)) return;
  const li = renderMessage(m);
  room.bySeq.set(seq, li);
  if (seq > room.maxSeq) {
    // The common case: newest message (still above any of ours being sent).
    el.messages.insertBefore(li, el.messages.querySelector('.msg.pending'));
  } else {
    let next = null;
    for (const other of el.messages.querySelectorAll('.msg')) {
      if (num(other.dataset.seq) > seq) {
        next = other;
        break;
      }
    }
    el.messages.insertBefore(li, next);
  }
  room.maxSeq = Math.max(room.maxSeq, seq);
  room.minSeq = room.minSeq ? Math.min(room.minSeq, seq) : seq;
}

function setMoreOlder(more) {
  room.moreOlder = more;
  el.loadOlder.hidden = !(more && room.minSeq > 1);
}

el.loadOlder.addEventListener('click', async () => {
  if (!room.wire || !room.minSeq) return;
  el.loadOlder.disabled = true;
  el.loadOlder.textContent = 'Loading…';
  try {
    const f = await room.wire.request({ history: { beforeSeq: String(room.minSeq), limit: HISTORY_PAGE } });
    const h = f.history || {};
    // Keep the view on the message the reader was looking at.
    const box = el.messages;
    const fromBottom = box.scrollHeight - box.scrollTop;
    for (const m of h.messages || []) insertMessage(m);
    box.scrollTop = box.scrollHeight - fromBottom;
    setMoreOlder(Boolean(h.more));
  } catch (err) {
    showChatError(`Could not load older messages: ${err.message}`);
  } finally {
    el.loadOlder.disabled = false;
    el.loadOlder.textContent = 'Load older messages';
  }
});

// ---------- composer ----------

// While the link is down messages can still be written and sent: they show
// as "sending" and go out when it is back. Only files wait for the link.
function setComposerEnabled(on) {
  el.input.placeholder = on ? 'Write a message…' : 'Write a message (sent when the connection is back)…';
  el.fileInput.disabled = !on;
}

function showChatError(message) {
  el.chatError.textContent = message;
  clearTimeout(showChatError.timer);
  showChatError.timer = setTimeout(() => {
    el.chatError.textContent = '';
  }, 8000);
}

function updateCounter() {
  const n = el.input.value.length;
  el.counter.textContent = n > MAX_TEXT - 500 ? `${n}/${MAX_TEXT}` : '';
  el.counter.classList.toggle('over', n > MAX_TEXT);
  // Say it instead of cutting a long paste: the person decides what goes.
  const over = n > MAX_TEXT;
  if (over) el.chatError.textContent = `This message is ${n.toLocaleString('en')} characters; the limit is ${MAX_TEXT.toLocaleString('en')}. Shorten it by ${(n - MAX_TEXT).toLocaleString('en')} to send it.`;
  else if (updateCounter.wasOver) el.chatError.textContent = '';
  updateCounter.wasOver = over;
  el.send.disabled = over;
  // Grow the textarea with its content, up to the CSS max-height.
  el.input.style.height = 'auto';
  el.input.style.height = `${el.input.scrollHeight}px`;
}

function sendChat() {
  // Drop blank lines around the message but keep the first line's indent.
  const text = el.input.value.replace(/^\s*\n/, '').replace(/\s+$/, '');
  if (!text.trim()) return;
  if (text.length > MAX_TEXT) {
    updateCounter();
    return;
  }
  if (!room.wire) return;
  const id = room.wire.nextId();
  let tries = 0;
  if (room.wire.connected) {
    try {
      room.wire.send({ chat: { text } }, id);
      tries = 1;
    } catch {
      /* sent when the link is back */
    }
  }
  room.pendingChats.set(id, { text, tries, li: showPending(id, text) });
  el.chatError.textContent = '';
  el.input.value = '';
  updateCounter();
  el.input.focus();
}

el.composer.addEventListener('submit', (ev) => {
  ev.preventDefault();
  sendChat();
});

// Set while an Enter that sent the message is held down: some synthetic
// input (automation, a few virtual keyboards) still inserts the line break
// after the keydown was cancelled, so that insertion is refused too.
let enterSent = false;

el.input.addEventListener('keydown', (ev) => {
  // isComposing: Enter that confirms an IME composition must not send.
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
    ev.preventDefault();
    enterSent = true;
    sendChat();
  }
});
el.input.addEventListener('beforeinput', (ev) => {
  if (enterSent && (ev.inputType === 'insertLineBreak' || ev.inputType === 'insertParagraph')) ev.preventDefault();
});
el.input.addEventListener('keyup', (ev) => {
  if (ev.key === 'Enter') enterSent = false;
});

el.input.addEventListener('input', updateCounter);

// ---------- uploads ----------

let uploading = Promise.resolve();

function queueUploads(files) {
  for (const file of files) uploading = uploading.then(() => upload(file));
}

function upload(file) {
  return new Promise((resolve) => {
    if (!room.token) {
      el.uploadError.textContent = 'Join the room before sending files.';
      resolve();
      return;
    }
    el.uploadError.textContent = '';
    el.uploadLabel.textContent = `Uploading ${file.name}…`;
    el.uploadProgress.value = 0;
    el.uploadProgress.removeAttribute('value'); // indeterminate until the first event
    el.uploadProgress.hidden = false;

    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/rooms/${encodeURIComponent(room.id)}/files?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader('Authorization', `Bearer ${room.token}`);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.upload.onprogress = (ev) => {
      if (!ev.lengthComputable) return;
      const pct = Math.round((ev.loaded / ev.total) * 100);
      el.uploadProgress.value = pct;
      el.uploadLabel.textContent = `Uploading ${file.name}… ${pct}%`;
    };
    const done = (error) => {
      el.uploadProgress.hidden = true;
      el.uploadLabel.textContent = '';
      if (error) el.uploadError.textContent = `${file.name}: ${error}`;
      resolve();
    };
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* handled below */
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        // The message also arrives over the socket; inserting it now is
        // harmless (same seq) and shows it even if the socket lags.
        if (body && body.seq) {
          insertMessage(body);
          scrollToBottom();
        }
        done('');
      } else {
        const e = body && body.error;
        done((e && (e.message || e.code)) || `upload failed (${xhr.status})`);
      }
    };
    xhr.onerror = () => done('upload failed: network error');
    xhr.onabort = () => done('upload cancelled');
    xhr.send(file);
  });
}

el.fileInput.addEventListener('change', () => {
  const files = [...el.fileInput.files];
  el.fileInput.value = ''; // so choosing the same file again fires change
  queueUploads(files);
});

// Dropping files anywhere on the room view uploads them too.
el.view.addEventListener('dragover', (ev) => {
  if (ev.dataTransfer && [...ev.dataTransfer.types].includes('Files')) {
    ev.preventDefault();
    el.view.classList.add('dragging');
  }
});
el.view.addEventListener('dragleave', (ev) => {
  if (ev.target === el.view || !el.view.contains(ev.relatedTarget)) el.view.classList.remove('dragging');
});
el.view.addEventListener('drop', (ev) => {
  el.view.classList.remove('dragging');
  if (!ev.dataTransfer || !ev.dataTransfer.files.length) return;
  ev.preventDefault();
  queueUploads([...ev.dataTransfer.files]);
});

// ---------- connection status ----------

let lastStatus = { state: 'connecting' };

function showStatus(s) {
  lastStatus = s;
  let text;
  let state = s.state;
  // The browser knows it has no network: never claim to be connected then.
  if (navigator.onLine === false && state === 'connected') state = 'offline';
  switch (state) {
    case 'connected':
      text = 'Connected';
      break;
    case 'connecting':
      text = 'Connecting…';
      break;
    case 'reconnecting':
      text = 'Reconnecting…';
      break;
    case 'waiting':
    case 'offline': {
      if (navigator.onLine === false) {
        text = 'Offline: waiting for the network…';
        break;
      }
      const secs = Math.max(1, Math.round((s.delayMs || 0) / 1000));
      text = `Reconnecting in ${secs}s… (${s.reason || 'disconnected'})`;
      break;
    }
    default:
      text = s.reason ? `Disconnected: ${s.reason}` : 'Disconnected';
  }
  el.conn.textContent = text;
  el.conn.dataset.status = state === 'waiting' || state === 'offline' ? 'reconnecting' : state;
  // Offer to skip the wait whenever we are not connected but still trying.
  el.reconnect.hidden = !(state === 'waiting' || state === 'offline' || state === 'reconnecting') || !room.wire;
  if (state !== 'connected' && el.view.hidden === false) setComposerEnabled(false);
}

el.reconnect.addEventListener('click', () => room.wire && room.wire.reconnectNow());

// Phones drop sockets when asleep or switching networks: when we are back,
// do not sit out the remaining backoff.
window.addEventListener('online', () => {
  showStatus(lastStatus);
  if (room.wire) room.wire.wake();
});
window.addEventListener('offline', () => {
  showStatus(lastStatus);
  // An open socket may not notice for a while; ask it now.
  if (room.wire) room.wire.wake();
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && room.wire) room.wire.wake();
});

// Leaving the page (or entering the back/forward cache) should close the
// socket at once so the others see us leave; coming back joins again.
window.addEventListener('pagehide', () => room.wire && room.wire.suspend());
window.addEventListener('pageshow', (ev) => ev.persisted && room.wire && room.wire.resume());

room.layout = startCallLayout({ panel: $('call-panel'), tiles: $('tiles'), select: $('call-layout') });

init();
