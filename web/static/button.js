// button.js — Liveroom's contact button, embedded on any website:
//
//   <script src="https://liveroom.example/static/button.js" data-agent-id="alice"
//           data-room-id="sales" data-text="Talk to us"
//           data-offline_email="alice@example.com" async></script>
//
// It shows the agent's presence live, lets a visitor ask for a chat or a call
// and sends them into the room once the agent accepts; when no one is there
// it offers the offline form (data-offline_email) or goes to a contact page
// (data-offline_page). It lives in a shadow root so the host page's CSS and
// ours never meet, and it only ever speaks the visitor protocol: nothing it
// sends can act as an agent.
//
// A classic script, not a module: it must run from a plain <script async>.
(function () {
  'use strict';

  const script = document.currentScript;
  if (!script || !script.src) return;

  // data-offline_email and data-offline-email both work.
  function attr(name) {
    return (script.getAttribute(`data-${name}`) || script.getAttribute(`data-${name.replace(/_/g, '-')}`) || '').trim();
  }

  const server = new URL(script.src, location.href).origin;
  const cfg = {
    agentId: attr('agent-id'),
    roomId: attr('room-id'),
    text: attr('text') || 'Talk to us',
    offlineText: attr('offline-text'),
    offlineEmail: attr('offline_email'),
    offlinePage: httpURL(attr('offline_page')),
    open: attr('open') === 'same' ? 'same' : 'tab',
    side: attr('position') === 'left' ? 'left' : 'right',
  };
  const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
  if (!ID_RE.test(cfg.agentId) || (cfg.roomId && !ID_RE.test(cfg.roomId))) {
    console.warn('liveroom button: data-agent-id (and data-room-id, if given) must be 1-64 letters, digits, - or _');
    return;
  }

  function httpURL(s) {
    if (!s) return '';
    try {
      const u = new URL(s, location.href);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : '';
    } catch {
      return '';
    }
  }

  function storageGet(k) {
    try {
      return localStorage.getItem(k) || '';
    } catch {
      return '';
    }
  }

  function storageSet(k, v) {
    try {
      localStorage.setItem(k, v);
    } catch {
      /* storage blocked: the name is simply not remembered */
    }
  }

  // The visitor's session id: a first-party cookie on this site (a year),
  // so the agent sees the same visitor across page loads and tabs. It is a
  // random id and nothing else; the server keeps what the visitor did under it.
  const SESSION_COOKIE = 'liveroom_vid';
  const SESSION_RE = /^[A-Za-z0-9_-]{16,64}$/;
  function sessionKey() {
    try {
      for (const part of document.cookie.split(';')) {
        const [k, v] = part.trim().split('=');
        if (k === SESSION_COOKIE && SESSION_RE.test(v || '')) return v;
      }
      const bytes = crypto.getRandomValues(new Uint8Array(16));
      const id = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      const secure = location.protocol === 'https:' ? '; Secure' : '';
      document.cookie = `${SESSION_COOKIE}=${id}; Path=/; Max-Age=31536000; SameSite=Lax${secure}`;
      // Cookies switched off: no session (each page counts as a new visitor).
      return document.cookie.includes(`${SESSION_COOKIE}=${id}`) ? id : '';
    } catch {
      return '';
    }
  }

  // ---------- DOM ----------

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
.root { position: fixed; bottom: max(16px, env(safe-area-inset-bottom)); ${cfg.side}: 16px; z-index: 2147483000;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1c2430; }
.fab { display: inline-flex; align-items: center; gap: 8px; min-height: 48px; padding: 0 18px; border: 0;
  border-radius: 999px; background: #2f6fde; color: #fff; font: inherit; font-weight: 600; cursor: pointer;
  box-shadow: 0 4px 16px rgb(0 0 0 / 22%); max-width: calc(100vw - 32px); }
.fab:focus-visible, button:focus-visible, a:focus-visible, input:focus-visible, textarea:focus-visible {
  outline: 3px solid #f5b400; outline-offset: 2px; }
.fab[data-presence="offline"], .fab[data-presence="away"], .fab[data-presence="connecting"] { background: #4a5566; }
.dot { width: 10px; height: 10px; border-radius: 50%; background: #b8c0cc; flex: none; }
.fab[data-presence="online"] .dot { background: #4ade80; box-shadow: 0 0 0 3px rgb(74 222 128 / 30%); }
.fab[data-presence="away"] .dot { background: #f5b400; }
.label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.panel { position: absolute; bottom: 60px; ${cfg.side}: 0; width: min(340px, calc(100vw - 32px));
  max-height: min(560px, calc(100vh - 100px)); overflow: auto; background: #fff; border: 1px solid #d6dbe2;
  border-radius: 14px; box-shadow: 0 8px 30px rgb(0 0 0 / 20%); padding: 16px; }
.panel[hidden], [hidden] { display: none !important; }
.head { display: flex; align-items: center; justify-content: space-between; gap: 8px; margin-bottom: 8px; }
.title { font-weight: 700; font-size: 16px; margin: 0; }
.close { border: 0; background: transparent; font: inherit; font-size: 22px; line-height: 1; width: 36px; height: 36px;
  border-radius: 8px; cursor: pointer; color: #5d6878; }
p { margin: 6px 0; }
.muted { color: #5d6878; font-size: 14px; }
label { display: block; font-weight: 600; font-size: 14px; margin: 10px 0 4px; }
input, textarea { width: 100%; font: inherit; font-size: 16px; padding: 9px 11px; border: 1px solid #c5ccd6;
  border-radius: 8px; background: #fff; color: #1c2430; }
textarea { min-height: 96px; resize: vertical; }
input[aria-invalid="true"], textarea[aria-invalid="true"] { border-color: #b42318; }
.row { display: flex; gap: 8px; flex-wrap: wrap; margin-top: 12px; }
.btn { flex: 1; min-height: 44px; padding: 0 14px; border-radius: 8px; border: 1px solid #c5ccd6; background: #eef0f3;
  color: #1c2430; font: inherit; font-weight: 600; cursor: pointer; text-align: center; text-decoration: none;
  display: inline-flex; align-items: center; justify-content: center; }
.btn.primary { background: #2f6fde; border-color: #2f6fde; color: #fff; }
.btn:disabled { opacity: .6; cursor: default; }
.error { color: #b42318; font-size: 14px; }
.error:empty { display: none; }
@media (prefers-color-scheme: dark) {
  .panel { background: #1b2129; border-color: #323c48; color: #e6eaf0; }
  .muted, .close { color: #9aa5b4; }
  input, textarea { background: #12161c; color: #e6eaf0; border-color: #323c48; }
  .btn { background: #242c36; color: #e6eaf0; border-color: #323c48; }
  .btn.primary { background: #5b8ff0; border-color: #5b8ff0; color: #0b1220; }
  .error { color: #f08a80; }
}`;

  function h(tag, props, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') n.className = v;
      else if (k === 'text') n.textContent = v;
      else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else if (v !== false && v !== undefined) n.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) if (c) n.append(c);
    return n;
  }

  const hostEl = h('div', { class: 'liveroom-button', 'data-presence': 'connecting', 'data-view': 'closed' });
  const shadow = hostEl.attachShadow({ mode: 'open' });
  try {
    // Constructed sheets are not inline styles, so a host page's strict
    // style-src does not block them.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } catch {
    shadow.append(h('style', { text: CSS }));
  }

  const label = h('span', { class: 'label' });
  const fab = h('button', { class: 'fab', type: 'button', 'aria-haspopup': 'dialog', 'aria-expanded': 'false' },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), label);
  const titleEl = h('p', { class: 'title', id: 'lr-title' });
  const body = h('div', { class: 'body', 'aria-live': 'polite' });
  const panel = h('div', { class: 'panel', role: 'dialog', 'aria-labelledby': 'lr-title', hidden: true },
    h('div', { class: 'head' }, titleEl,
      h('button', { class: 'close', type: 'button', 'aria-label': 'Close', text: '\u00d7', onclick: () => close() })),
    body);
  shadow.append(h('div', { class: 'root' }, panel, fab));

  function mount() {
    if (!hostEl.isConnected) document.body.append(hostEl);
  }
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);

  // ---------- state ----------

  const st = {
    presence: 'connecting',
    view: 'closed',
    ws: null,
    ready: false, // hello answered
    attempt: 0,
    counter: 0,
    pending: new Map(), // frame id -> callback(frame)
    requestId: '',
    position: 0,
    roomURL: '',
    note: '',
  };

  function setPresence(p) {
    st.presence = p;
    hostEl.dataset.presence = p;
    fab.dataset.presence = p;
    const online = p === 'online';
    // Away (someone is there but busy) and offline (nobody is) read differently.
    const canLeave = cfg.offlineEmail || cfg.offlinePage;
    const offlineLabel = cfg.offlineText || (canLeave ? 'Leave us a message' : "We're offline");
    const awayLabel = canLeave ? 'Away for a moment: leave a message' : 'Away for a moment';
    label.textContent = online || p === 'connecting' ? cfg.text : p === 'away' ? awayLabel : offlineLabel;
    fab.title = online ? 'An agent is online' : p === 'away' ? 'The agent is away' : 'No agent is online';
    // The choice between chat and call only makes sense while someone is there.
    if (!online && st.view === 'choose') show('offline');
  }

  function show(view) {
    st.view = view;
    hostEl.dataset.view = view;
    fab.setAttribute('aria-expanded', String(view !== 'closed'));
    panel.hidden = view === 'closed';
    body.replaceChildren(...render(view));
    const first = body.querySelector('input, textarea, .btn');
    if (first && view !== 'closed' && view !== 'waiting') first.focus({ preventScroll: true });
  }

  function close() {
    if (st.view === 'waiting') cancel();
    show('closed');
    fab.focus();
  }

  function render(view) {
    switch (view) {
      case 'choose':
        return renderChoose();
      case 'waiting':
        titleEl.textContent = 'Waiting for an agent';
        return [
          h('p', { class: 'status', text: st.position > 1 ? `You are number ${st.position} in line.` : 'You are next in line.' }),
          h('p', { class: 'muted', text: 'Keep this page open; the agent will let you in shortly.' }),
          h('div', { class: 'row' }, h('button', { class: 'btn cancel', type: 'button', text: 'Cancel', onclick: cancel })),
        ];
      case 'ready': {
        titleEl.textContent = 'The agent is ready';
        const a = h('a', { class: 'btn primary join', href: st.roomURL, target: '_blank', rel: 'noopener', text: 'Join the room' });
        a.addEventListener('click', () => setTimeout(() => show('closed'), 0));
        return [h('p', { text: 'Your room is open.' }), h('div', { class: 'row' }, a)];
      }
      case 'offline':
        return renderOffline();
      case 'note':
        // After an offline message nobody is there yet: keep saying so.
        titleEl.textContent = st.noteTitle || cfg.text;
        return [h('p', { class: 'note', text: st.note })];
      default:
        return [];
    }
  }

  function renderChoose() {
    titleEl.textContent = cfg.text;
    const name = h('input', { id: 'lr-name', type: 'text', maxlength: '64', autocomplete: 'name' });
    name.value = storageGet('liveroom:visitor-name');
    const err = h('p', { class: 'error', role: 'alert' });
    const ask = (kind) => () => {
      const n = name.value.trim();
      if (n.length > 64) {
        err.textContent = 'Your name can be at most 64 characters.';
        return;
      }
      if (n) storageSet('liveroom:visitor-name', n);
      requestCall(kind, n, err);
    };
    return [
      h('p', { class: 'muted', text: 'An agent is online. How would you like to talk?' }),
      h('label', { for: 'lr-name', text: 'Your name (optional)' }),
      name,
      err,
      h('div', { class: 'row' },
        h('button', { class: 'btn primary chat', type: 'button', text: 'Chat', onclick: ask('CALL_KIND_CHAT') }),
        h('button', { class: 'btn video', type: 'button', text: 'Video call', onclick: ask('CALL_KIND_VIDEO') })),
    ];
  }

  function renderOffline() {
    titleEl.textContent = cfg.offlineText || (st.presence === 'away' ? 'The agent is away: leave a message' : 'Leave us a message');
    if (!cfg.offlineEmail) {
      return [h('p', { class: 'note', text: 'No one is available right now. Please try again later.' })];
    }
    const field = (id, text, el) => [h('label', { for: id, text }), el];
    const name = h('input', { id: 'lr-off-name', name: 'name', type: 'text', maxlength: '64', autocomplete: 'name', required: true });
    name.value = storageGet('liveroom:visitor-name');
    const email = h('input', { id: 'lr-off-email', name: 'email', type: 'email', maxlength: '254', autocomplete: 'email', required: true });
    const message = h('textarea', { id: 'lr-off-message', name: 'message', maxlength: '4000', required: true });
    const err = h('p', { class: 'error', role: 'alert' });
    const send = h('button', { class: 'btn primary send', type: 'submit', text: 'Send' });
    const inputs = { name, email, message };
    const form = h('form', { class: 'offline-form', novalidate: true },
      ...field('lr-off-name', 'Your name', name),
      ...field('lr-off-email', 'Your email', email),
      ...field('lr-off-message', 'Message', message),
      err,
      h('div', { class: 'row' }, send));
    // A field the person corrects loses its error at once, not at the next Send.
    for (const el of Object.values(inputs)) {
      el.addEventListener('input', () => {
        if (el.getAttribute('aria-invalid') !== 'true') return;
        const v = el.value.trim();
        const fixed = el === email ? /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(v) : Boolean(v);
        if (fixed) {
          el.removeAttribute('aria-invalid');
          err.textContent = '';
        }
      });
    }
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      for (const el of Object.values(inputs)) el.removeAttribute('aria-invalid');
      const bad = (el, text) => {
        el.setAttribute('aria-invalid', 'true');
        el.focus();
        err.textContent = text;
      };
      const v = { name: name.value.trim(), email: email.value.trim(), message: message.value.trim() };
      if (!v.name) return bad(name, 'Please enter your name.');
      if (!/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(v.email)) return bad(email, 'Please enter a valid email address.');
      if (!v.message) return bad(message, 'Please write a message.');
      err.textContent = '';
      send.disabled = true;
      send.textContent = 'Sending…';
      try {
        const res = await fetch(`${server}/api/visitor/offline`, {
          method: 'POST',
          mode: 'cors',
          credentials: 'omit',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            agentId: cfg.agentId, roomId: cfg.roomId, to: cfg.offlineEmail,
            name: v.name, email: v.email, message: v.message, pageUrl: pageURL(),
          }),
        });
        let data = null;
        try {
          data = await res.json();
        } catch {
          /* handled below */
        }
        if (res.ok) {
          storageSet('liveroom:visitor-name', v.name);
          hostEl.dataset.sent = data && data.mailed ? 'mailed' : 'kept';
          st.note = (data && data.message) || 'Thank you, your message was sent.';
          st.noteTitle = 'Message sent';
          show('note');
          return;
        }
        const e = (data && data.error) || {};
        const target = inputs[e.field];
        if (target) bad(target, e.message);
        else err.textContent = e.message || `The message could not be sent (${res.status}).`;
      } catch {
        err.textContent = 'Could not reach the server. Check your connection and try again.';
      }
      send.disabled = false;
      send.textContent = 'Send';
    });
    return [form];
  }

  fab.addEventListener('click', () => {
    if (st.view !== 'closed' && st.view !== 'ready') {
      close();
      return;
    }
    if (st.view === 'ready') return show('ready');
    if (st.presence === 'online') return show('choose');
    if (cfg.offlinePage) {
      location.assign(cfg.offlinePage);
      return;
    }
    show('offline');
  });

  shadow.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && st.view !== 'closed') close();
  });

  // ---------- socket ----------

  function pageURL() {
    // The fragment stays out: it is often private to the page.
    return location.origin + location.pathname + location.search;
  }

  function send(body, onReply) {
    if (!st.ws || st.ws.readyState !== WebSocket.OPEN) return false;
    st.counter += 1;
    const id = `b${st.counter}`;
    if (onReply) st.pending.set(id, onReply);
    st.ws.send(JSON.stringify({ id, ...body }));
    return true;
  }

  function connect() {
    let ws;
    try {
      ws = new WebSocket(`${server.replace(/^http/, 'ws')}/ws/visitor`);
    } catch {
      retry();
      return;
    }
    st.ws = ws;
    ws.onopen = () => {
      const hello = { agentId: cfg.agentId, pageUrl: pageURL(), pageTitle: document.title.slice(0, 300) };
      if (cfg.roomId) hello.roomId = cfg.roomId;
      const name = storageGet('liveroom:visitor-name');
      if (name) hello.name = name.slice(0, 64);
      const key = sessionKey();
      if (key) hello.sessionKey = key;
      send({ hello }, (f) => {
        if (f.error) {
          console.warn('liveroom button:', f.error.message || f.error.code);
          setPresence('offline');
          return;
        }
        st.ready = true;
        st.attempt = 0;
      });
    };
    ws.onmessage = (ev) => {
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch {
        return;
      }
      const cb = f.replyTo && st.pending.get(f.replyTo);
      if (cb) {
        st.pending.delete(f.replyTo);
        cb(f);
      }
      handle(f);
    };
    ws.onclose = () => {
      if (ws !== st.ws) return;
      st.ws = null;
      st.ready = false;
      st.pending.clear();
      setPresence('offline');
      if (st.view === 'waiting') {
        st.note = 'The connection was lost. Please try again.';
        st.noteTitle = '';
        show('note');
      }
      retry();
    };
  }

  function retry() {
    // 1s, 2s, 4s… up to 30s, a little shaved off at random so a restarted
    // server is not hit by every page at once.
    const delay = Math.min(30000, 1000 * 2 ** st.attempt) * (0.8 + Math.random() * 0.2);
    st.attempt += 1;
    setTimeout(connect, delay);
  }

  function handle(f) {
    if (f.presence) {
      const p = { PRESENCE_ONLINE: 'online', PRESENCE_AWAY: 'away' }[f.presence.presence] || 'offline';
      setPresence(p);
    } else if (f.queued) {
      st.requestId = f.queued.requestId || '';
      st.position = Number(f.queued.position) || 1;
      show('waiting');
    } else if (f.accepted) {
      const path = String(f.accepted.roomPath || '');
      if (!path.startsWith('/room/')) return;
      st.roomURL = server + path;
      st.requestId = '';
      if (cfg.open === 'same') {
        location.assign(st.roomURL);
        return;
      }
      show('ready');
    } else if (f.declined) {
      st.requestId = '';
      st.note = f.declined.message || 'The agent cannot take your request right now.';
      st.noteTitle = '';
      show('note');
    }
  }

  function requestCall(kind, name, err) {
    const call = { kind };
    if (name) call.name = name;
    const ok = send({ call }, (f) => {
      if (f.error) err.textContent = f.error.message || 'Your request could not be sent.';
    });
    if (!ok) err.textContent = 'Not connected to the server yet; please try again in a moment.';
  }

  function cancel() {
    if (st.requestId) send({ cancel: {} });
    st.requestId = '';
  }

  // Leaving the page (or going into the back/forward cache) closes the
  // socket at once, so the agent sees the visitor move on to the next page
  // instead of both until a ping goes unanswered; coming back out of that
  // cache connects again.
  addEventListener('pagehide', () => {
    const ws = st.ws;
    st.ws = null; // no reconnect from onclose
    st.ready = false;
    if (ws) ws.close(1000, 'page left');
  });
  addEventListener('pageshow', (e) => {
    if (e.persisted && !st.ws) connect();
  });

  setPresence('connecting');
  connect();
})();
