// live.js — what the broadcaster and viewer pages share: the socket set-up
// for a broadcast, receiving the broadcasters' media from the server, the
// sound-unlock button where autoplay is blocked, and the chat list.

import { Wire } from './wire.js';

export const $ = (id) => document.getElementById(id);

export function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text != null) n.textContent = text;
  return n;
}

/** The broadcast id is the last path segment: /watch/<id>, /broadcast/<id>. */
export function broadcastId() {
  return decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
}

/** A Wire that joins the broadcast and resumes the same membership after a drop. */
export function broadcastWire(o) {
  let resumeToken = '';
  const wire = new Wire({
    joinField: 'broadcastJoin',
    joinedField: 'broadcastJoined',
    // lastSeq: the newest chat message shown, so the joined frame's
    // history carries only what was missed.
    join: () => ({ ...o.join(), resumeToken, lastSeq: String(o.lastSeq?.() || 0) }),
    onJoined: (j, info) => {
      resumeToken = j.resumeToken || '';
      o.onJoined(j, info);
    },
    onFrame: o.onFrame,
    onStatus: o.onStatus,
    onFatal: o.onFatal,
  });
  return wire;
}

/** Resolves once the connection has gathered its candidates (immediate on
 *  a LAN), so the SDP we send is complete and nothing needs trickling. */
export function gathered(pc, ms = 3000) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(t);
        resolve();
      }
    });
  });
}

export const MEDIA_RETRY_CODES = new Set(['media_failed', 'ice_timeout']);

/**
 * Receiver holds the connection on which the server sends the broadcasters'
 * tracks (the server offers, we answer) and shows one tile per broadcaster.
 */
export class Receiver {
  /**
   * @param {object} o
   * @param {() => Wire} o.wire
   * @param {HTMLElement} o.tiles     where the video tiles go
   * @param {HTMLElement} o.unmute    button shown when sound needs a tap
   * @param {(streamId: string) => string} o.label   caption of a tile
   * @param {() => void} [o.onChange] tiles were added or removed
   * @param {() => RTCIceServer[]} o.iceServers
   */
  constructor(o) {
    this.o = o;
    this.pc = null;
    this.chain = Promise.resolve();
    this.tiles = new Map(); // stream id -> {box, video, stream}
    this.soundBlocked = false;
    o.unmute.addEventListener('click', () => this.unlockSound());
  }

  /** Handle a subscribeOffer frame; offers are applied one at a time. */
  offer(sdp) {
    this.chain = this.chain.then(() => this.answer(sdp)).catch((e) => console.error('liveroom: subscribe', e));
  }

  async answer(sdp) {
    if (!this.pc) {
      const pc = new RTCPeerConnection({ iceServers: this.o.iceServers() });
      pc.ontrack = (ev) => this.track(ev);
      this.pc = pc;
    }
    const pc = this.pc;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    if (pc !== this.pc) return;
    this.o.wire().send({ subscribeAnswer: { sdp: pc.localDescription.sdp } });
  }

  track(ev) {
    const stream = ev.streams[0];
    if (!stream) return;
    let t = this.tiles.get(stream.id);
    if (!t) {
      const box = node('figure', 'live-tile');
      const video = node('video');
      video.autoplay = true;
      video.playsInline = true;
      video.dataset.stream = stream.id;
      const cap = node('figcaption', 'live-caption', this.o.label(stream.id));
      box.append(video, cap);
      this.o.tiles.append(box);
      t = { box, video, stream, cap };
      this.tiles.set(stream.id, t);
      video.srcObject = stream;
      stream.addEventListener('removetrack', () => {
        if (stream.getTracks().length === 0) this.drop(stream.id);
      });
      this.play(video);
      this.o.onChange?.();
    }
    ev.track.addEventListener('ended', () => {
      if (stream.getTracks().every((x) => x.readyState === 'ended')) this.drop(stream.id);
    });
  }

  drop(id) {
    const t = this.tiles.get(id);
    if (!t) return;
    t.box.remove();
    this.tiles.delete(id);
    this.o.onChange?.();
  }

  /** Keep only the tiles of streams that still have a live broadcaster. */
  keepOnly(ids) {
    for (const id of [...this.tiles.keys()]) if (!ids.has(id.split(':')[0])) this.drop(id);
  }

  relabel() {
    for (const [id, t] of this.tiles) t.cap.textContent = this.o.label(id);
  }

  /** Play with sound when the browser allows it; otherwise play muted and
   *  offer a tap to turn the sound on. */
  play(video) {
    video.muted = this.soundBlocked;
    video.play().catch(() => {
      this.soundBlocked = true;
      video.muted = true;
      video.play().catch(() => {});
      this.o.unmute.hidden = false;
    });
  }

  unlockSound() {
    this.soundBlocked = false;
    this.o.unmute.hidden = true;
    for (const t of this.tiles.values()) {
      t.video.muted = false;
      t.video.play().catch(() => {
        t.video.muted = true;
        this.soundBlocked = true;
        this.o.unmute.hidden = false;
      });
    }
  }

  reset() {
    if (this.pc) this.pc.close();
    this.pc = null;
    this.chain = Promise.resolve();
    for (const id of [...this.tiles.keys()]) this.drop(id);
  }

  /** Inbound video statistics, for the curious and for tests. */
  async stats() {
    if (!this.pc) return [];
    const out = [];
    (await this.pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') {
        out.push({ trackIdentifier: r.trackIdentifier, mid: r.mid, ssrc: r.ssrc, framesDecoded: r.framesDecoded || 0 });
      }
    });
    return out;
  }
}

/** Chat list and form; messages are rendered as text, never as HTML. */
export class LiveChat {
  constructor(o) {
    this.o = o; // {list, form, input, wire: () => Wire, status}
    o.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const text = o.input.value.trim();
      if (!text) return;
      o.wire()
        .request({ chat: { text } })
        .then(() => {
          o.input.value = '';
        })
        .catch((e) => {
          o.status.textContent = e.message;
        });
    });
  }

  /** Shows the stored messages a joined frame carries (oldest first). */
  history(msgs) {
    for (const m of msgs || []) this.add(m);
  }

  /** The highest seq shown, 0 before any. */
  lastSeq() {
    return this.seq || 0;
  }

  add(m) {
    // A message seen before a reconnect comes again in the history: skip it.
    const seq = Number(m.seq || 0);
    if (seq && seq <= this.lastSeq()) return;
    if (seq) this.seq = seq;
    const li = node('li', 'live-msg');
    li.append(node('strong', m.role === 'ROLE_AGENT' ? 'live-msg-host' : '', m.name || ''), ' ', node('span', '', m.text || ''));
    this.o.list.append(li);
    while (this.o.list.children.length > 200) this.o.list.firstChild.remove();
    this.o.list.scrollTop = this.o.list.scrollHeight;
  }

  enable(on) {
    this.o.input.disabled = !on;
    this.o.form.querySelector('button').disabled = !on;
    this.o.input.placeholder = on ? 'Say something…' : 'Chat is off';
  }
}
