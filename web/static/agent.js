// agent.js — the agent page: login, live visitors and call requests (over
// /ws/agent), room generation, the room list and offline messages.
//
// Everything that came from visitors (names, page addresses, titles,
// messages) is put on the page with textContent or DOM properties only.

const $ = (id) => document.getElementById(id);

const el = {
  loading: $('agent-loading'),
  loginPanel: $('login-panel'),
  loginForm: $('login-form'),
  loginId: $('login-id'),
  loginPassword: $('login-password'),
  loginError: $('login-error'),
  loginButton: $('login-button'),
  dash: $('dashboard'),
  agentName: $('agent-name'),
  conn: $('agent-conn'),
  scope: $('scope'),
  presence: $('presence-toggle'),
  notify: $('notify-button'),
  logout: $('logout-button'),
  dashError: $('dash-error'),
  requests: $('requests'),
  requestsEmpty: $('requests-empty'),
  requestCount: $('request-count'),
  visitors: $('visitors'),
  visitorsEmpty: $('visitors-empty'),
  visitorCount: $('visitor-count'),
  createForm: $('create-form'),
  createError: $('create-error'),
  createButton: $('create-button'),
  created: $('created'),
  rooms: $('rooms'),
  roomsEmpty: $('rooms-empty'),
  roomCount: $('room-count'),
  offline: $('offline'),
  offlineEmpty: $('offline-empty'),
  offlineCount: $('offline-count'),
};

const state = {
  me: null,
  ws: null,
  attempt: 0,
  retryTimer: 0,
  counter: 0,
  pending: new Map(), // frame id -> {resolve, reject}
  clockOffset: 0, // server clock minus ours
  away: false,
  visitors: new Map(), // visitorId -> VisitorInfo
  requests: new Map(), // requestId -> CallRequest
  answered: new Map(), // requestId -> CallAnswered, shown until dismissed
  rooms: [],
  stopped: true,
};

// ---------- helpers ----------

function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined) n.textContent = text;
  return n;
}

function button(text, className, onClick) {
  const b = node('button', `btn btn-small ${className || ''}`.trim(), text);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

function link(href, text, className) {
  const a = node('a', className || '', text);
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener';
  return a;
}

function setState(s) {
  document.body.dataset.state = s;
}

function num(v) {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

function serverNow() {
  return Date.now() + state.clockOffset;
}

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function when(ms) {
  const d = new Date(num(ms));
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

const KIND = { CALL_KIND_CHAT: 'chat', CALL_KIND_VIDEO: 'video call', CALL_KIND_AUDIO: 'audio call' };

async function api(path, options = {}) {
  const init = { headers: { Accept: 'application/json' }, credentials: 'same-origin', ...options };
  if (options.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw Object.assign(new Error('Could not reach the server. Check your connection.'), { code: 'network' });
  }
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      /* not JSON */
    }
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    if (res.status === 401 && path !== '/api/agent/login') showLogin('Your login ended; please log in again.');
    throw Object.assign(new Error(e.message || `The server answered ${res.status}.`), { code: e.code || `http_${res.status}` });
  }
  return data;
}

function showDashError(message) {
  el.dashError.textContent = message;
  el.dashError.hidden = !message;
}

// ---------- login ----------

function showLogin(message) {
  stopSocket();
  el.loading.hidden = true;
  el.dash.hidden = true;
  el.loginPanel.hidden = false;
  el.loginError.textContent = message || '';
  setState('login');
  (el.loginId.value ? el.loginPassword : el.loginId).focus();
}

el.loginForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (el.loginButton.disabled) return;
  const agentId = el.loginId.value.trim();
  const password = el.loginPassword.value;
  if (!agentId || !password) {
    el.loginError.textContent = 'Enter your agent id and password.';
    return;
  }
  el.loginButton.disabled = true;
  el.loginButton.textContent = 'Logging in…';
  el.loginError.textContent = '';
  try {
    await api('/api/agent/login', { method: 'POST', body: { agentId, password } });
    el.loginPassword.value = '';
    const next = new URLSearchParams(location.search).get('next') || '';
    // Only our own short agent links: never an open redirect.
    if (/^\/a\/[A-Za-z0-9_-]{1,64}$/.test(next)) {
      location.assign(next);
      return;
    }
    await startDashboard();
  } catch (err) {
    el.loginError.textContent = err.message;
    el.loginPassword.select();
  } finally {
    el.loginButton.disabled = false;
    el.loginButton.textContent = 'Log in';
  }
});

el.logout.addEventListener('click', async () => {
  try {
    await api('/api/agent/logout', { method: 'POST', body: {} });
  } catch {
    /* the cookie is cleared either way */
  }
  showLogin('You are logged out.');
});

// ---------- dashboard ----------

async function init() {
  try {
    state.me = await api('/api/agent/me');
  } catch (err) {
    if (err.code !== 'unauthorized') {
      el.loading.textContent = err.message;
      return;
    }
    showLogin('');
    return;
  }
  await startDashboard();
}

async function startDashboard() {
  if (!state.me) state.me = await api('/api/agent/me');
  el.loading.hidden = true;
  el.loginPanel.hidden = true;
  el.dash.hidden = false;
  el.agentName.textContent = state.me.name || state.me.id;
  resetRecordingOptions();
  document.title = `${state.me.name || state.me.id} · Liveroom agent`;
  setupNotifications();
  await Promise.all([loadRooms(), loadOffline()]);
  // /agent?room=ID watches one room from the start.
  const room = new URLSearchParams(location.search).get('room');
  if (room && state.rooms.some((r) => r.id === room)) el.scope.value = room;
  startSocket();
}

// ---------- socket ----------

function startSocket() {
  state.stopped = false;
  connect();
}

function stopSocket() {
  state.stopped = true;
  clearTimeout(state.retryTimer);
  if (state.ws) {
    const ws = state.ws;
    state.ws = null;
    ws.onclose = null;
    ws.close(1000, 'bye');
  }
}

function setConn(status, text) {
  el.conn.dataset.status = status;
  el.conn.textContent = text;
}

function connect() {
  setConn('connecting', state.attempt ? 'Reconnecting…' : 'Connecting…');
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/ws/agent`);
  state.ws = ws;
  ws.onopen = () => watch();
  ws.onmessage = (ev) => {
    let f;
    try {
      f = JSON.parse(ev.data);
    } catch {
      return;
    }
    const p = f.replyTo && state.pending.get(f.replyTo);
    if (p) {
      state.pending.delete(f.replyTo);
      if (f.error) p.reject(Object.assign(new Error(f.error.message || f.error.code), { code: f.error.code }));
      else p.resolve(f);
    }
    handleFrame(f);
  };
  ws.onclose = (ev) => {
    if (ws !== state.ws) return;
    state.ws = null;
    for (const p of state.pending.values()) p.reject(Object.assign(new Error('Connection lost.'), { code: 'disconnected' }));
    state.pending.clear();
    if (state.stopped) return;
    if (ev.code === 4401) {
      showLogin('Your login ended; please log in again.');
      return;
    }
    const delay = Math.min(15000, 1000 * 2 ** state.attempt) * (0.8 + Math.random() * 0.2);
    state.attempt += 1;
    setConn('reconnecting', `Offline — reconnecting in ${Math.round(delay / 1000)}s…`);
    setState('reconnecting');
    state.retryTimer = setTimeout(connect, delay);
  };
}

function request(body) {
  return new Promise((resolve, reject) => {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      reject(Object.assign(new Error('Not connected.'), { code: 'disconnected' }));
      return;
    }
    state.counter += 1;
    const id = `a${state.counter}`;
    state.pending.set(id, { resolve, reject });
    state.ws.send(JSON.stringify({ id, ...body }));
  });
}

async function watch() {
  const roomId = el.scope.value;
  try {
    await request({ watch: roomId ? { roomId } : {} });
    state.attempt = 0;
    if (state.away) await request({ away: { away: true } });
    showDashError('');
  } catch (err) {
    if (err.code === 'room_not_found') {
      el.scope.value = '';
      return watch();
    }
    if (err.code !== 'disconnected') showDashError(err.message);
  }
}

function handleFrame(f) {
  if (f.snapshot) {
    const s = f.snapshot;
    state.clockOffset = num(s.nowMs) - Date.now();
    state.visitors = new Map((s.visitors || []).map((v) => [v.visitorId, v]));
    state.requests = new Map((s.requests || []).map((r) => [r.requestId, r]));
    applyStatus(s.status || {});
    setConn('connected', 'Online — visitors can reach you');
    setState('dashboard');
    renderVisitors();
    renderRequests();
  } else if (f.visitor) {
    state.visitors.set(f.visitor.visitorId, f.visitor);
    renderVisitors();
  } else if (f.visitorLeft) {
    state.visitors.delete(f.visitorLeft.visitorId);
    renderVisitors();
  } else if (f.request) {
    state.requests.set(f.request.requestId, f.request);
    renderRequests();
    notify(f.request);
  } else if (f.requestDone) {
    state.requests.delete(f.requestDone.requestId);
    renderRequests();
  } else if (f.answered) {
    state.answered.set(f.answered.requestId, f.answered);
    renderRequests();
  } else if (f.status) {
    applyStatus(f.status);
  } else if (f.error && !f.replyTo) {
    showDashError(f.error.message || f.error.code);
  }
}

function applyStatus(s) {
  state.away = s.presence === 'PRESENCE_AWAY';
  // A switch: on means visitors can reach you; the word says what they see.
  el.presence.dataset.presence = state.away ? 'away' : 'online';
  el.presence.setAttribute('aria-checked', String(!state.away));
  $('presence-state').textContent = state.away ? 'away' : 'online';
  el.presence.title = state.away ? 'Visitors see you as away; switch on to take requests' : 'Visitors can reach you; switch off to be away';
  if (state.ws) setConn(state.away ? 'reconnecting' : 'connected', state.away ? 'Away — visitors see you as away' : 'Online — visitors can reach you');
}

el.presence.addEventListener('click', async () => {
  try {
    await request({ away: { away: !state.away } });
  } catch (err) {
    showDashError(err.message);
  }
});

el.scope.addEventListener('change', () => watch());

// ---------- visitors and requests ----------

function renderVisitors() {
  // One browser's tabs share a visitor session: they show as one visitor.
  const groups = new Map();
  for (const v of [...state.visitors.values()].sort((a, b) => num(a.sinceMs) - num(b.sinceMs))) {
    const key = v.sessionRef || v.visitorId;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(v);
  }
  el.visitors.replaceChildren(...[...groups.values()].map(visitorItem));
  el.visitorsEmpty.hidden = groups.size > 0;
  el.visitorCount.textContent = groups.size ? `(${groups.size})` : '';
}

// visitorItem shows one visitor: the page of each tab it has open (oldest
// first), then its session as the newest tab last heard it.
function visitorItem(tabs) {
  const newest = tabs[tabs.length - 1];
  const li = node('li', 'visitor');
  li.dataset.visitorId = tabs[0].visitorId;
  const head = node('div', 'item-head');
  const name = tabs.map((v) => v.name).filter(Boolean).pop();
  head.append(node('span', 'item-name', name || 'Anonymous visitor'));
  for (const roomId of new Set(tabs.map((v) => v.roomId).filter(Boolean))) head.append(node('span', 'tag', roomId));
  if (tabs.length > 1) head.append(node('span', 'tag visitor-tabs', `${tabs.length} tabs`));
  const t = node('span', 'visitor-time muted small', duration(serverNow() - num(tabs[0].sinceMs)));
  t.dataset.since = String(num(tabs[0].sinceMs));
  t.title = 'Time on page';
  head.append(t);
  li.append(head);
  for (const v of tabs) {
    if (v.pageTitle) li.append(node('span', 'visitor-title small', v.pageTitle));
    if (v.pageUrl) li.append(link(v.pageUrl, v.pageUrl, 'visitor-page item-url'));
    else if (v.origin) li.append(node('span', 'visitor-page item-url', v.origin));
  }
  if (newest.session) li.append(sessionView(newest.session));
  return li;
}

// sessionView shows what the visitor did on the site before and besides
// this page (its visitor session: other page loads and tabs, earlier
// requests), newest page first.
function sessionView(s) {
  const box = node('div', 'visitor-session small');
  const loads = num(s.pageLoads);
  const facts = [`${loads} page ${loads === 1 ? 'load' : 'loads'}`, `${duration(num(s.timeOnSiteMs))} on site`];
  const asked = (s.requests || []).length;
  if (asked) facts.push(`${asked} ${asked === 1 ? 'request' : 'requests'}`);
  box.append(node('span', 'muted', facts.join(' · ')));
  const list = node('ol', 'visitor-pages');
  for (const p of (s.pages || []).slice().reverse()) {
    const item = node('li', 'visitor-session-page');
    const text = p.pageTitle || p.pageUrl || 'a page';
    item.append(p.pageUrl ? link(p.pageUrl, text, 'item-url') : node('span', '', text));
    const closed = num(p.closedMs);
    item.append(node('span', 'muted', closed ? ` ${duration(closed - num(p.openedMs))}` : ' open'));
    list.append(item);
  }
  box.append(list);
  return box;
}

function renderRequests() {
  const items = [];
  for (const [id, a] of state.answered) {
    const li = node('li', 'answered');
    li.dataset.requestId = id;
    li.append(node('div', 'item-head', 'Accepted — the visitor is on the way to the room.'));
    const actions = node('div', 'item-actions');
    const open = link(a.agentPath, 'Open the room', 'btn btn-small btn-primary open-room');
    actions.append(open, button('Dismiss', '', () => {
      state.answered.delete(id);
      renderRequests();
    }));
    li.append(actions);
    items.push(li);
  }
  const list = [...state.requests.values()].sort((a, b) => num(a.atMs) - num(b.atMs));
  for (const r of list) {
    const li = node('li', 'request');
    li.dataset.requestId = r.requestId;
    const head = node('div', 'item-head');
    head.append(node('span', 'item-name', r.name || 'Anonymous visitor'));
    head.append(node('span', 'tag', KIND[r.kind] || 'chat'));
    if (r.roomId) head.append(node('span', 'tag', r.roomId));
    const t = node('span', 'request-time muted small', duration(serverNow() - num(r.atMs)));
    t.dataset.since = String(num(r.atMs));
    head.append(t);
    li.append(head);
    if (r.pageUrl) li.append(node('span', 'item-url', r.pageUrl));
    const err = node('p', 'form-error small');
    const actions = node('div', 'item-actions');
    const accept = button('Accept', 'btn-primary accept', () => {
      // Opened during the click, which popup blockers allow; it is pointed
      // at the room once the server answers (or closed if it refuses).
      const win = window.open('', '_blank');
      answer(r.requestId, true, accept, err, win);
    });
    actions.append(accept, button('Decline', 'decline', (ev) => answer(r.requestId, false, ev.currentTarget, err)));
    li.append(actions, err);
    items.push(li);
  }
  el.requests.replaceChildren(...items);
  el.requestsEmpty.hidden = items.length > 0;
  el.requestCount.textContent = list.length ? `(${list.length})` : '';
  document.title = `${list.length ? `(${list.length}) ` : ''}${state.me ? state.me.name || state.me.id : 'Agent'} · Liveroom agent`;
}

async function answer(requestId, accept, btn, err, win) {
  btn.disabled = true;
  try {
    const f = await request({ answer: { requestId, accept } });
    if (win && f.answered && f.answered.agentPath) win.location.href = f.answered.agentPath;
  } catch (e) {
    if (win) win.close();
    err.textContent = e.message;
    btn.disabled = false;
  }
}

// Time on page and waiting time tick without re-rendering the lists.
setInterval(() => {
  for (const t of document.querySelectorAll('.visitor-time, .request-time')) {
    t.textContent = duration(serverNow() - num(t.dataset.since));
  }
}, 1000);

// ---------- notifications ----------

function setupNotifications() {
  if (!('Notification' in window)) return;
  const ask = () =>
    Notification.requestPermission().then(() => {
      el.notify.hidden = Notification.permission !== 'default';
    });
  el.notify.hidden = Notification.permission !== 'default';
  el.notify.onclick = ask;
  // Asked once, on the first visit; afterwards the button stays for those
  // who dismissed the prompt.
  let asked = '';
  try {
    asked = localStorage.getItem('liveroom:notify-asked') || '';
    localStorage.setItem('liveroom:notify-asked', '1');
  } catch {
    /* storage blocked */
  }
  if (!asked && Notification.permission === 'default') ask().catch(() => {});
}

function notify(r) {
  if (!document.hidden || !('Notification' in window) || Notification.permission !== 'granted') return;
  try {
    const n = new Notification('Liveroom: someone wants to talk', {
      body: `${r.name || 'A visitor'} asks for a ${KIND[r.kind] || 'chat'}${r.pageUrl ? ` on ${r.pageUrl}` : ''}.`,
      tag: r.requestId,
    });
    n.onclick = () => {
      window.focus();
      n.close();
    };
  } catch {
    /* some browsers only allow notifications from a service worker */
  }
}

// ---------- rooms ----------

async function loadRooms() {
  try {
    const data = await api('/api/agent/rooms');
    state.rooms = data.rooms || [];
    renderRooms();
  } catch (err) {
    showDashError(`Could not load your rooms: ${err.message}`);
  }
}

function windowText(r) {
  const s = num(r.startsAtMs);
  const e = num(r.endsAtMs);
  if (!s && !e) return '';
  const now = Date.now();
  const span = e ? `${when(s)} – ${when(e)}` : `from ${when(s)}`;
  if (e && now >= e) return `${span} (closed)`;
  if (s && now < s) return `${span} (not open yet)`;
  return `${span} (open)`;
}

function renderRooms() {
  const scope = el.scope.value;
  el.scope.replaceChildren(node('option', '', 'all my rooms'));
  el.scope.firstChild.value = '';
  for (const r of state.rooms) {
    const o = node('option', '', r.id);
    o.value = r.id;
    el.scope.append(o);
  }
  el.scope.value = state.rooms.some((r) => r.id === scope) ? scope : '';

  el.rooms.replaceChildren(
    ...state.rooms.map((r) => {
      const li = node('li', 'room-item');
      li.dataset.roomId = r.id;
      const head = node('div', 'item-head');
      head.append(node('span', 'item-name mono', r.id));
      if (r.visitorName) head.append(node('span', 'small', `for ${r.visitorName}`));
      if (r.hasPassword) head.append(node('span', 'tag', 'password'));
      if (r.entryForm) head.append(node('span', 'tag', 'entry form'));
      if (r.recording?.enabled) head.append(node('span', 'tag', r.recording.autoStart ? 'records calls' : 'recording'));
      li.append(head);
      const w = windowText(r);
      if (w) li.append(node('span', 'small muted room-window', w));
      const links = node('div', 'item-actions');
      links.append(link(r.visitorUrl, 'Visitor link', 'btn btn-small visitor-link'));
      links.append(link(r.agentUrl, 'Open as agent', 'btn btn-small btn-primary agent-link'));
      if (r.shortVisitorUrl) links.append(link(r.shortVisitorUrl, r.shortVisitorUrl.replace(/^https?:\/\//, ''), 'btn btn-small btn-quiet short-link'));
      const entries = node('ul', 'entries');
      links.append(button('Entries', 'entries-btn', () => loadEntries(r.id, entries)));
      links.append(button('Delete', 'btn-quiet delete-room', () => deleteRoom(r.id)));
      li.append(links, entries);
      return li;
    }),
  );
  el.roomsEmpty.hidden = state.rooms.length > 0;
  el.roomCount.textContent = state.rooms.length ? `(${state.rooms.length})` : '';
}

async function loadEntries(roomId, list) {
  try {
    const data = await api(`/api/agent/rooms/${encodeURIComponent(roomId)}/entries`);
    const entries = data.entries || [];
    list.replaceChildren(
      ...(entries.length ? entries : [null]).map((e) => {
        if (!e) return node('li', 'muted', 'No one has filled in the entry form yet.');
        const li = node('li', 'entry');
        if (e.avatarUrl) {
          const img = node('img', 'avatar');
          img.src = e.avatarUrl;
          img.alt = '';
          img.referrerPolicy = 'no-referrer';
          li.append(img, ' ');
        }
        li.append(node('strong', '', e.name));
        if (e.email) li.append(' ', link(`mailto:${e.email}`, e.email));
        li.append(' ', node('span', 'muted', when(e.joinedAtMs)));
        return li;
      }),
    );
  } catch (err) {
    showDashError(err.message);
  }
}

async function deleteRoom(id) {
  if (!confirm(`Delete room ${id} with its chat and files? Links to it stop working.`)) return;
  try {
    await api(`/api/agent/rooms/${encodeURIComponent(id)}`, { method: 'DELETE' });
    await loadRooms();
  } catch (err) {
    showDashError(err.message);
  }
}

el.createForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (el.createButton.disabled) return;
  const v = (id) => $(id).value.trim();
  const body = {};
  if (v('new-room-id')) body.id = v('new-room-id');
  if (v('new-visitor-name')) body.visitorName = v('new-visitor-name');
  if (v('new-agent-name')) body.agentName = v('new-agent-name');
  if (v('new-short-name')) body.shortName = v('new-short-name');
  if ($('new-password').value) body.password = $('new-password').value;
  const start = v('new-start');
  if (start) {
    // datetime-local is the agent's local time; the server wants an instant.
    const t = new Date(start);
    if (Number.isNaN(t.getTime())) {
      el.createError.textContent = 'The start time is not valid.';
      return;
    }
    body.startsAt = t.toISOString();
  }
  const dur = v('new-duration');
  if (dur) {
    const n = Number(dur);
    if (!Number.isInteger(n) || n < 1 || n > 44640) {
      el.createError.textContent = 'Duration must be 1 to 44640 minutes (31 days).';
      return;
    }
    body.durationMinutes = n;
  }
  if ($('new-entry-enabled').checked) {
    body.entryForm = {
      enabled: true,
      required: $('new-entry-required').checked,
      private: $('new-entry-private').checked,
      showEmail: $('new-entry-email').checked,
      showAvatar: $('new-entry-avatar').checked,
    };
  }
  body.recording = Object.fromEntries(Object.entries(recordingBoxes).map(([k, id]) => [k, $(id).checked]));
  el.createError.textContent = '';
  el.createButton.disabled = true;
  try {
    const r = await api('/api/agent/rooms', { method: 'POST', body });
    $('created-id').textContent = r.id;
    const vis = $('created-visitor');
    vis.href = r.shortVisitorUrl || r.visitorUrl;
    vis.textContent = vis.href;
    const ag = $('created-agent');
    ag.href = r.agentUrl;
    ag.textContent = r.shortAgentUrl || r.agentUrl;
    el.created.hidden = false;
    for (const id of ['new-room-id', 'new-visitor-name', 'new-short-name', 'new-password', 'new-start', 'new-duration']) $(id).value = '';
    resetRecordingOptions();
    await loadRooms();
  } catch (err) {
    el.createError.textContent = err.message;
  } finally {
    el.createButton.disabled = false;
  }
});

// The room form's recording boxes, by the API's option names; they start
// from the server's defaults for new rooms.
const recordingBoxes = {
  enabled: 'new-rec-enabled', autoStart: 'new-rec-autostart', saveServer: 'new-rec-save',
  download: 'new-rec-download', visitors: 'new-rec-visitors',
};

function resetRecordingOptions() {
  const defaults = state.me?.recordingDefaults || {};
  for (const [k, id] of Object.entries(recordingBoxes)) $(id).checked = !!defaults[k];
}

// ---------- offline messages ----------

async function loadOffline() {
  try {
    const data = await api('/api/agent/offline');
    renderOffline(data.messages || []);
  } catch (err) {
    showDashError(`Could not load offline messages: ${err.message}`);
  }
}

function renderOffline(messages) {
  el.offline.replaceChildren(
    ...messages.map((m) => {
      const li = node('li', 'offline-msg');
      li.dataset.id = m.id;
      const head = node('div', 'item-head');
      head.append(node('span', 'item-name', m.name));
      head.append(link(`mailto:${m.email}`, m.email, 'small'));
      head.append(node('span', 'muted small', when(m.receivedAtMs)));
      head.append(node('span', 'tag', m.mailed ? 'emailed' : 'not emailed'));
      li.append(head, node('p', 'offline-text', m.text));
      if (m.pageUrl) li.append(node('span', 'item-url', m.pageUrl));
      const actions = node('div', 'item-actions');
      actions.append(button('Delete', 'btn-quiet', async () => {
        try {
          await api(`/api/agent/offline/${encodeURIComponent(m.id)}`, { method: 'DELETE' });
          await loadOffline();
        } catch (err) {
          showDashError(err.message);
        }
      }));
      li.append(actions);
      return li;
    }),
  );
  el.offlineEmpty.hidden = messages.length > 0;
  el.offlineCount.textContent = messages.length ? `(${messages.length})` : '';
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && !el.dash.hidden) loadOffline();
});

init();
