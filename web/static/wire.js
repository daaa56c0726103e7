// wire.js — the browser side of the Liveroom WebSocket protocol.
//
// Every frame is one JSON object (the protojson form of ClientFrame /
// ServerFrame). This module owns the socket: it sends the join frame on every
// (re)connect, matches replies to requests by correlation id, keeps the link
// alive with pings, and reconnects with exponential backoff. The page only
// supplies the join body and handles the frames that are not replies.

// Join errors that retrying cannot fix: stop and let the page explain.
const FATAL_JOIN = new Set(['room_not_found', 'wrong_password', 'password_required', 'wrong_agent_key', 'room_full',
  'room_not_open', 'room_closed', 'entry_required',
  'broadcast_not_found', 'broadcast_full', 'broadcast_not_open', 'broadcast_closed', 'wrong_broadcaster_key']);

const BACKOFF_MIN_MS = 1000;
// Capped low so a page is back within seconds of the network returning
// (with up to 20% jitter so a restarted server is not hit all at once).
const BACKOFF_MAX_MS = 8000;
const JOIN_TIMEOUT_MS = 15000;
// The server answers pings itself, so they are cheap: often enough that a
// dead link (a paused or unreachable server) is noticed within ~20 s.
const PING_EVERY_MS = 10000;
const PING_TIMEOUT_MS = 8000;
// Every few pings the room itself is asked (a one-message history read):
// a room that moved to another node, or a node that lost us, answers
// not_joined, and the page joins again.
const ROOM_CHECK_EVERY = 3;

// A random prefix keeps correlation ids unique across reconnects and tabs, so
// an id echoed back as a message's clientId is unambiguous.
function randomPrefix() {
  const b = new Uint8Array(4);
  crypto.getRandomValues(b); // works on plain http too, unlike randomUUID
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function wsURL(path = '/ws') {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}

export class WireError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export class Wire {
  /**
   * @param {object} o
   * @param {string} [o.url]          WebSocket URL (defaults to this host's /ws)
   * @param {() => object} o.join     returns the join body; called on every connect
   * @param {(joined: object, info: {resumed: boolean}) => void} [o.onJoined]
   * @param {(frame: object) => void} [o.onFrame]   frames that are not request replies
   * @param {(s: {state: string, reason?: string, delayMs?: number}) => void} [o.onStatus]
   * @param {(err: WireError) => void} [o.onFatal]  reconnecting was given up
   */
  constructor(o) {
    this.url = o.url || wsURL();
    this.makeJoin = o.join;
    this.onJoined = o.onJoined || (() => {});
    this.onFrame = o.onFrame || (() => {});
    this.onStatus = o.onStatus || (() => {});
    this.onFatal = o.onFatal || (() => {});
    // A broadcast page joins with broadcastJoin and is answered broadcastJoined.
    this.joinField = o.joinField || 'join';
    this.joinedField = o.joinedField || 'joined';

    this.prefix = randomPrefix();
    this.counter = 0;
    this.ws = null;
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.attempt = 0;
    this.everJoined = false;
    this.joined = false;
    this.stopped = true;
    this.suspended = false;
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.lastRx = 0;
    this.lastRejoin = 0;
    this.firstJoin = null; // {resolve, reject} for start()
  }

  nextId() {
    this.counter += 1;
    return `${this.prefix}-${this.counter}`;
  }

  get connected() {
    return this.joined;
  }

  /** Connect and join. Resolves with the first Joined body; rejects (and
   *  stops) if that first join fails, so a join form can show why. */
  start() {
    this.stopped = false;
    this.everJoined = false;
    this.attempt = 0;
    return new Promise((resolve, reject) => {
      this.firstJoin = { resolve, reject };
      this.connect();
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.dropSocket(1000, 'bye');
    this.setStatus({ state: 'stopped' });
  }

  /** The page is going away or into the back/forward cache: close now so
   *  the others see us leave, without scheduling a reconnect. */
  suspend() {
    if (this.stopped) return;
    this.suspended = true;
    clearTimeout(this.retryTimer);
    this.dropSocket(1000, 'page hidden');
    this.setStatus({ state: 'reconnecting' });
  }

  /** The page came back from the back/forward cache. */
  resume() {
    if (this.stopped || !this.suspended) return;
    this.suspended = false;
    this.connect();
  }

  /** The network came back or the page became visible: skip the rest of
   *  the backoff, or check at once that an open socket still works (a phone
   *  that slept may hold a socket that is silently dead). */
  wake() {
    if (this.stopped || this.suspended) return;
    if (!this.ws) {
      clearTimeout(this.retryTimer);
      this.connect();
    } else if (this.joined) {
      this.probe(5000);
    }
  }

  /** Reconnect at once (the "Reconnect now" button), skipping any backoff. */
  reconnectNow() {
    if (this.stopped) return;
    this.suspended = false;
    clearTimeout(this.retryTimer);
    this.dropSocket(4000, 'reconnect');
    this.connect();
  }

  /** The server no longer has us in the room (its node died, the room
   *  moved, the membership expired): join again on a new socket, as the
   *  same person, with history since the last message we have. */
  rejoin(reason) {
    if (this.stopped || !this.joined) return;
    console.warn('liveroom: rejoining the room:', reason);
    this.dropSocket(4000, 'rejoin');
    // Never a tight loop: a second rejoin soon after the last one backs off.
    const now = Date.now();
    if (now - this.lastRejoin < 5000) {
      this.scheduleRetry(reason);
    } else {
      this.lastRejoin = now;
      this.connect();
    }
  }

  /** Send a frame body without waiting; returns its correlation id. */
  send(body, id = this.nextId()) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      throw new WireError('disconnected', 'Not connected.');
    }
    this.ws.send(JSON.stringify({ id, ...body }));
    return id;
  }

  /** Send a frame body and wait for the frame whose replyTo is its id. An
   *  error frame rejects with a WireError carrying the server's code. */
  request(body, { timeout = 15000 } = {}) {
    return new Promise((resolve, reject) => {
      let id;
      try {
        id = this.send(body);
      } catch (e) {
        reject(e);
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new WireError('timeout', 'The server did not answer in time.'));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  // ---- internals ----

  setStatus(s) {
    try {
      this.onStatus(s);
    } catch (e) {
      console.error(e);
    }
  }

  connect() {
    this.joined = false;
    this.setStatus({ state: this.everJoined ? 'reconnecting' : 'connecting' });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.handleClose({ code: 0, reason: String(e.message || e) });
      return;
    }
    this.ws = ws;
    // Handlers ignore events from a socket we already gave up on.
    ws.onopen = () => ws === this.ws && this.handleOpen();
    ws.onmessage = (ev) => ws === this.ws && this.handleMessage(ev.data);
    ws.onclose = (ev) => ws === this.ws && this.handleClose(ev);
    // onerror is always followed by onclose, which does the work.
  }

  async handleOpen() {
    let joinedFrame;
    try {
      joinedFrame = await this.request({ [this.joinField]: this.makeJoin() }, { timeout: JOIN_TIMEOUT_MS });
    } catch (err) {
      if (err.code === 'disconnected') return; // handleClose already ran
      const fatal = FATAL_JOIN.has(err.code);
      if (!this.everJoined) {
        // The first join answers the join form: never retry it silently.
        this.giveUp(err, false);
      } else if (fatal) {
        this.giveUp(err, true);
      } else {
        // Transient (rate_limited, internal, timeout…): back off and retry.
        this.dropSocket(4000, 'join failed');
        this.scheduleRetry(err.message);
      }
      return;
    }
    const j = joinedFrame[this.joinedField] || {};
    const resumed = this.everJoined;
    this.everJoined = true;
    this.joined = true;
    this.attempt = 0; // only a successful join proves the server is healthy
    this.startPing();
    this.setStatus({ state: 'connected' });
    if (this.firstJoin) {
      this.firstJoin.resolve(j);
      this.firstJoin = null;
    }
    try {
      this.onJoined(j, { resumed });
    } catch (e) {
      console.error(e);
    }
  }

  handleMessage(data) {
    this.lastRx = Date.now();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      console.warn('liveroom: ignoring a non-JSON frame');
      return;
    }
    if (!frame || typeof frame !== 'object') return;
    if (frame.error && frame.error.code === 'not_joined' && this.joined) {
      // Whatever was sent is refused until we are in the room again; the
      // pending request fails and its owner retries after the join.
      queueMicrotask(() => this.rejoin('not_joined'));
    }
    const p = frame.replyTo && this.pending.get(frame.replyTo);
    if (p) {
      this.pending.delete(frame.replyTo);
      clearTimeout(p.timer);
      if (frame.error) p.reject(new WireError(frame.error.code || 'error', frame.error.message));
      else p.resolve(frame);
      // A chat or member frame is also news for everybody, so pass it on.
      if (!frame.chat && !frame.member) return;
    }
    if (frame.pong) return;
    try {
      this.onFrame(frame);
    } catch (e) {
      console.error(e);
    }
  }

  handleClose(ev) {
    this.ws = null;
    this.joined = false;
    this.stopPing();
    this.failPending(new WireError('disconnected', 'Connection lost.'));
    if (this.stopped) return;
    const reason = describeClose(ev);
    if (!this.everJoined) {
      this.giveUp(new WireError('connect_failed', `Could not connect to the server${reason ? ` (${reason})` : ''}.`), false);
      return;
    }
    this.scheduleRetry(reason);
  }

  scheduleRetry(reason) {
    // 1s, 2s, 4s… capped at 8s. Up to 20% is shaved off at random so a
    // restarted server is not hit by every client in the same instant.
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delayMs = Math.round(base * (0.8 + Math.random() * 0.2));
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delayMs);
    this.setStatus({ state: navigator.onLine === false ? 'offline' : 'waiting', reason, delayMs });
  }

  giveUp(err, notify) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.dropSocket(1000, 'bye');
    this.setStatus({ state: 'stopped', reason: err.message });
    if (this.firstJoin) {
      this.firstJoin.reject(err);
      this.firstJoin = null;
    }
    if (notify) this.onFatal(err);
  }

  // Forget the current socket at once: waiting for a close handshake on a
  // dead mobile connection can take minutes.
  dropSocket(code, reason) {
    const ws = this.ws;
    this.ws = null;
    this.joined = false;
    this.stopPing();
    this.failPending(new WireError('disconnected', 'Connection lost.'));
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try {
        ws.close(code, reason);
      } catch {
        /* already closed */
      }
    }
  }

  failPending(err) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  startPing() {
    this.stopPing();
    let n = 0;
    this.pingTimer = setInterval(() => {
      n += 1;
      this.probe(PING_TIMEOUT_MS);
      if (n % ROOM_CHECK_EVERY === 0) this.checkRoom();
    }, PING_EVERY_MS);
  }

  checkRoom() {
    if (!this.joined) return;
    // Only the answer's kind matters: not_joined is handled in handleMessage.
    this.request({ history: { beforeSeq: '1', limit: 1 } }, { timeout: PING_TIMEOUT_MS }).catch(() => {});
  }

  probe(timeout) {
    const ws = this.ws;
    const sentAt = Date.now();
    this.request({ ping: {} }, { timeout }).catch((err) => {
      if (err.code !== 'timeout' || ws !== this.ws) return;
      // Any frame since the ping proves the link is alive, even if the
      // pong itself did not carry our id.
      if (this.lastRx >= sentAt) return;
      // No pong: treat the link as dead and reconnect.
      this.dropSocket(4000, 'ping timeout');
      this.scheduleRetry('no answer from the server');
    });
  }

  stopPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = 0;
  }
}

function describeClose(ev) {
  if (ev.reason) return ev.reason;
  switch (ev.code) {
    case 1000:
      return 'closed by the server';
    case 1001:
      return 'server going away';
    case 1006:
      return 'connection dropped';
    case 1009:
      return 'message too large';
    case 1011:
      return 'server error';
    case 1012:
      return 'server restarting';
    default:
      return ev.code ? `code ${ev.code}` : '';
  }
}
