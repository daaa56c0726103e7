// call.js — video and audio calls through Liveroom's SFU.
//
// Each call member has two RTCPeerConnections with the server: `pub`, on
// which this browser sends (it makes the offers), and `sub`, on which it
// receives everyone else (the server makes the offers). Remote streams are
// named "<memberId>:main" (microphone + camera) and "<memberId>:screen".

const $ = (id) => document.getElementById(id);

const MEDIA_RETRY_CODES = new Set(['media_failed', 'ice_timeout']);

// Errors after which trying again later can work: the link dropped, the
// room was busy or moved. Anything else (no microphone, call refused) ends
// the attempt.
const TRANSIENT = new Set(['disconnected', 'timeout', 'unavailable', 'not_joined', 'rate_limited', 'internal', 'not_in_call']);

// A call left with nobody else in it ends by itself after this long, so no
// page waits forever for someone who is gone.
const ALONE_LIMIT_MS = 120000;
// How long a media path may stay disconnected before an ICE restart.
const ICE_STALL_MS = 4000;

function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text != null) n.textContent = text;
  return n;
}

export class Call {
  /**
   * @param {object} o
   * @param {() => import('./wire.js').Wire} o.wire
   * @param {() => string} o.memberId   this browser's member id
   * @param {string} o.roomId
   */
  constructor(o) {
    this.wireOf = o.wire;
    this.memberIdOf = o.memberId;
    this.intentKey = `liveroom:call:${o.roomId}`;
    this.iceServers = [];
    this.participants = new Map(); // memberId -> CallParticipant
    this.inCall = false;
    this.video = false;
    this.pub = null;
    this.sub = null;
    this.subChain = Promise.resolve();
    this.mic = null;
    this.cam = null;
    this.screen = null;
    this.senders = { mic: null, camera: null, screen: null };
    this.screenTransceiver = null;
    this.audioMuted = false;
    this.videoOff = false;
    this.facing = 'user';
    this.cameraId = ''; // deviceId of the camera in use, once known
    this.meters = new Map(); // track id -> last {energy, duration} seen
    // Receiving transceivers are reused by the server, so a track id can
    // move between members; ontrack tells us where each one belongs now.
    this.trackStreams = new Map(); // track id -> stream id
    this.meterTimer = 0;
    this.ringing = null; // CallEvent of an unanswered ring
    // The person's wish to be in the call ({video}), kept across reloads and
    // reconnects until they hang up: the page rejoins by itself while set.
    this.want = this.storedIntent();
    this.rejoinTimer = 0;
    this.recovering = false; // a recover() is hanging up before it rejoins
    this.failures = 0;
    this.aloneTimer = 0;
    this.watchTimer = 0;
    this.stalledSince = 0;
    this.lastIceRestart = 0;

    this.el = {
      buttons: $('call-buttons'),
      videoBtn: $('call-video'),
      audioBtn: $('call-audio'),
      incoming: $('incoming-call'),
      incomingText: $('incoming-text'),
      acceptVideo: $('accept-video'),
      acceptAudio: $('accept-audio'),
      decline: $('decline-call'),
      panel: $('call-panel'),
      tiles: $('tiles'),
      status: $('call-status'),
      enableAudio: $('enable-audio'),
      mute: $('mute-btn'),
      camera: $('camera-btn'),
      switchCam: $('switch-camera-btn'),
      cameraMenu: $('camera-menu'),
      screen: $('screen-btn'),
      hangup: $('hangup-btn'),
    };
    const on = (b, f) => b.addEventListener('click', () => f().catch((e) => this.showStatus(e.message || String(e))));
    on(this.el.videoBtn, () => this.start(true, 'ACTION_RING'));
    on(this.el.audioBtn, () => this.start(false, 'ACTION_RING'));
    on(this.el.acceptVideo, () => this.start(true, 'ACTION_ACCEPT'));
    on(this.el.acceptAudio, () => this.start(false, 'ACTION_ACCEPT'));
    on(this.el.decline, () => this.decline());
    on(this.el.hangup, () => this.hangup());
    on(this.el.mute, () => this.toggleMute());
    on(this.el.camera, () => this.toggleCamera());
    on(this.el.switchCam, () => this.switchCamera());
    this.el.cameraMenu?.addEventListener('change', () => {
      const id = this.el.cameraMenu.value;
      if (id && id !== this.cameraId) this.useCamera({ deviceId: { exact: id } }).catch((e) => this.showStatus(e.message));
    });
    on(this.el.screen, () => this.toggleScreen());
    this.el.enableAudio.addEventListener('click', () => this.playAll());
    if (!navigator.mediaDevices?.getDisplayMedia) this.el.screen.hidden = true;
    // Tests and the curious can read call statistics from the console.
    window.liveroomCall = this;
  }

  get wire() {
    return this.wireOf();
  }

  // ---------- frames from the server ----------

  onJoined(j) {
    this.iceServers = (j.iceServers || []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
    this.applyState(j.call || {});
    if (j.resumed && this.inCall && this.participants.has(this.memberIdOf())) {
      // Same membership, same call: keep the connections. A path that
      // failed is renewed at once; one that is only disconnected often
      // comes back by itself (the server was paused), so the media watch
      // gives it a few seconds before restarting ICE.
      this.stalledSince = 0;
      this.restartIce(['failed']).catch((e) => this.recover(e.message || 'The call could not be resumed.'));
      return;
    }
    // A reload, an expired membership, a restarted server or a room that
    // moved: the server has no media of ours any more. Whoever wanted to be
    // in the call is put back in it, without a click.
    // (A call being started finishes or fails on its own: its requests on
    // the old socket failed, and a failure joins again.)
    if (this.inCall && !this.starting) this.teardown();
    this.failures = 0;
    this.ensure();
  }

  /** Puts this page back in the call when the person wants to be in it and
   *  is not: called on every join and after a failed attempt. */
  ensure() {
    clearTimeout(this.rejoinTimer);
    this.rejoinTimer = 0;
    if (!this.want || this.inCall || this.starting) return;
    const wire = this.wire;
    if (!wire || !wire.connected) {
      this.showPanel(true);
      this.showStatus('Reconnecting the call…', 'reconnecting');
      return; // the next join calls again
    }
    // RING joins the call when there is one and rings the others when the
    // call ended meanwhile (a restarted server forgets calls).
    this.start(this.want.video, 'ACTION_RING').catch((e) => this.showStatus(e.message || String(e)));
  }

  scheduleRejoin() {
    clearTimeout(this.rejoinTimer);
    const delay = Math.min(15000, 1000 * 2 ** Math.min(this.failures, 4));
    this.failures += 1;
    this.showPanel(true);
    this.showStatus('Reconnecting the call…', 'reconnecting');
    this.rejoinTimer = setTimeout(() => this.ensure(), delay);
  }

  /** Returns true when the frame was about the call. */
  onFrame(f) {
    if (f.callState) {
      this.applyState(f.callState);
      return true;
    }
    if (f.call) {
      this.onEvent(f.call);
      return true;
    }
    if (f.subscribeOffer) {
      this.subChain = this.subChain.then(() => this.onSubscribeOffer(f.subscribeOffer.sdp)).catch((e) => {
        console.error(e);
        this.showStatus('Receiving media failed: ' + e.message);
      });
      return true;
    }
    if (f.error && MEDIA_RETRY_CODES.has(f.error.code)) {
      this.recover(f.error.message);
      return true;
    }
    if (f.error && f.error.code === 'not_in_call' && (this.inCall || this.want)) {
      // The server lost our media while we were away: call again.
      this.recover(f.error.message);
      return true;
    }
    if (f.error && ['too_many_tracks', 'unsupported_codec', 'bad_sdp', 'bad_candidate', 'not_in_call', 'calls_disabled', 'no_call'].includes(f.error.code)) {
      this.showStatus(f.error.message);
      return true;
    }
    return false;
  }

  onEvent(ev) {
    const me = this.memberIdOf();
    const from = ev.from || {};
    if (from.memberId === me) return;
    // A page that is in the call, joining it, or about to rejoin it by
    // itself never shows a prompt: two people calling each other at once
    // end up in one call (the server joins the second to the first's).
    if (ev.action === 'ACTION_RING' && !this.inCall && !this.starting && !this.want) {
      this.ringing = ev;
      this.el.incomingText.textContent = `${from.name || 'Someone'} is calling${ev.video ? ' (video)' : ' (audio only)'}…`;
      this.el.incoming.hidden = false;
      this.el.buttons.hidden = true; // the prompt has the same choices
      this.notifyRing(from.name);
    } else if (ev.action === 'ACTION_DECLINE' && this.inCall) {
      this.showStatus(`${from.name || 'Someone'} declined the call.`);
    }
  }

  applyState(st) {
    const list = st.participants || [];
    const me = this.memberIdOf();
    if (this.inCall && !this.starting && this.participants.has(me) && !list.some((p) => p.member.memberId === me)) {
      // The server dropped us from the call without our hanging up: the
      // room moved to another node (its node died) and its call with it, or
      // our media failed there. Join again now, on the room's media as it
      // is, rather than waiting for the dead path to time out.
      this.participants = new Map(list.map((p) => [p.member.memberId, p]));
      this.recover('The call moved; reconnecting…');
      return;
    }
    this.participants = new Map(list.map((p) => [p.member.memberId, p]));
    const active = list.some((p) => p.member.memberId !== me) || (list.length > 0 && !this.inCall);
    if (list.length === 0 || this.participants.has(me) || this.inCall || this.starting) {
      this.el.incoming.hidden = true;
      this.ringing = null;
    }
    if (!this.inCall) this.el.buttons.hidden = !this.el.incoming.hidden;
    this.el.videoBtn.textContent = active && !this.inCall ? 'Join with video' : 'Video call';
    this.el.audioBtn.textContent = active && !this.inCall ? 'Join audio only' : 'Audio call';
    // Tiles of members who left the call go away even before the server's
    // renegotiation removes their tracks.
    for (const tile of this.el.tiles.querySelectorAll('.tile[data-member-id]')) {
      const id = tile.dataset.memberId;
      if (tile.dataset.local) continue;
      if (!this.participants.has(id)) this.removeTile(tile);
      else this.decorate(tile);
    }
    const others = list.filter((p) => p.member.memberId !== me);
    const waiting = this.inCall && others.length === 0;
    if (waiting) {
      const gone = [...(this.lastOthers || [])];
      this.showStatus(gone.length ? `${gone.join(', ')} left the call; waiting for them to come back…` : 'Waiting for the others to answer…', 'waiting');
    } else if (this.inCall && this.el.status.dataset.kind === 'waiting') this.showStatus('');
    if (others.length) this.lastOthers = new Set(others.map((p) => p.member.name || 'Someone'));
    this.armAlone(waiting);
  }

  /** Alone in a call for long: end it, so nobody waits forever. */
  armAlone(alone) {
    if (!alone) {
      clearTimeout(this.aloneTimer);
      this.aloneTimer = 0;
      return;
    }
    if (this.aloneTimer) return;
    this.aloneTimer = setTimeout(() => {
      this.aloneTimer = 0;
      if (!this.inCall || [...this.participants.keys()].some((id) => id !== this.memberIdOf())) return;
      this.hangup()
        .then(() => this.showStatus('Nobody else was in the call, so it ended.'))
        .catch(() => {});
    }, ALONE_LIMIT_MS);
  }

  // ---------- joining and leaving ----------

  storedIntent() {
    try {
      return JSON.parse(sessionStorage.getItem(this.intentKey) || 'null');
    } catch {
      return null;
    }
  }

  async start(video, action) {
    if (this.inCall || this.starting) return;
    clearTimeout(this.rejoinTimer);
    this.starting = true;
    this.el.incoming.hidden = true;
    this.ringing = null;
    this.setWant({ video });
    try {
      await this.getLocalMedia(video);
    } catch (e) {
      this.starting = false;
      this.setWant(null);
      this.teardown();
      throw e;
    }
    try {
      this.resumePlayback();
      this.inCall = true;
      this.video = Boolean(this.cam);
      this.setWant({ video: this.video });
      this.showPanel(true);
      this.addLocalTile();
      if (this.el.status.dataset.kind === 'reconnecting') this.showStatus('Rejoining the call…', 'reconnecting');
      // Still listed from before (our media broke while the membership
      // lived on): leave first, so the server sets up fresh media for us.
      if (this.participants.has(this.memberIdOf())) await this.wire.request({ call: { action: 'ACTION_HANGUP' } });
      await this.wire.request({ call: { action, video: this.video } });
      await this.publish();
      this.sendState();
      this.watchDevices();
      this.watchMedia();
    } catch (e) {
      this.teardown();
      if (this.want && TRANSIENT.has(e.code)) {
        // The link dropped or the room moved while joining: the next join
        // (or a timer) tries again.
        if (this.wire && this.wire.connected) this.scheduleRejoin();
        else this.ensure();
        return;
      }
      this.setWant(null);
      throw e;
    } finally {
      this.starting = false;
    }
  }

  setWant(w) {
    this.want = w;
    try {
      if (w) sessionStorage.setItem(this.intentKey, JSON.stringify(w));
      else sessionStorage.removeItem(this.intentKey);
    } catch {
      /* storage may be off */
    }
  }

  /** Watches the media paths: a path that stays disconnected gets an ICE
   *  restart (the server came back from a pause, the network changed), and
   *  one that failed outright makes the page join the call again. */
  watchMedia() {
    clearInterval(this.watchTimer);
    this.stalledSince = 0;
    this.watchTimer = setInterval(() => {
      if (!this.inCall) return;
      const pcs = [this.pub, this.sub].filter(Boolean);
      if (pcs.some((pc) => pc.connectionState === 'failed')) {
        this.recover('The call connection failed; reconnecting…');
        return;
      }
      if (pcs.some((pc) => pc.connectionState === 'connected')) this.failures = 0;
      const stalled = pcs.some((pc) => ['disconnected', 'failed'].includes(pc.iceConnectionState));
      if (!stalled) {
        this.stalledSince = 0;
        if (this.el.status.dataset.kind === 'reconnecting') this.showStatus('');
        return;
      }
      const now = Date.now();
      // Only time with a working socket counts: an ICE restart needs it.
      if (!this.wire || !this.wire.connected) {
        this.stalledSince = 0;
        this.showStatus('Reconnecting the call…', 'reconnecting');
        return;
      }
      if (!this.stalledSince) {
        this.stalledSince = now;
        this.probe();
      }
      if (now - this.stalledSince < ICE_STALL_MS) return;
      this.showStatus('Reconnecting the call…', 'reconnecting');
      if (now - this.lastIceRestart > 10000) {
        this.lastIceRestart = now;
        this.restartIce().catch((e) => this.recover(e.message || 'The call could not be resumed.'));
      }
    }, 1000);
  }

  async getLocalMedia(video) {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error('This browser cannot use a camera or microphone here (a secure https page is needed).');
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: video ? this.cameraConstraints() : false });
    } catch (e) {
      if (!video) throw new Error('The microphone is not available: ' + e.message);
      // No camera, or it was refused: an audio call is better than none.
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      this.showStatus('Camera not available; joined with audio only.');
    }
    this.mic = stream.getAudioTracks()[0] || null;
    this.cam = stream.getVideoTracks()[0] || null;
    if (this.cam) this.noteCamera();
  }

  async decline() {
    this.el.incoming.hidden = true;
    this.el.buttons.hidden = false;
    this.ringing = null;
    await this.wire.request({ call: { action: 'ACTION_DECLINE' } });
  }

  async hangup() {
    this.setWant(null);
    clearTimeout(this.rejoinTimer);
    this.teardown();
    // Always tell the server: the page may be out of the call only locally
    // (rejoining) while the server still lists it.
    await this.wire.request({ call: { action: 'ACTION_HANGUP' } }).catch(() => {});
  }

  /** Our media connection is gone: leave the call on the server and join
   *  it again (with growing pauses if it keeps failing). */
  recover(message) {
    // While starting, the start itself fails and retries; after it, the
    // media watch sees a broken connection.
    if (this.starting || (!this.inCall && !this.want)) return;
    // One loss shows several ways at once (the refused request, an error
    // frame for each candidate already sent, the media watch): the first
    // one acts, the others would only lengthen the pause before rejoining.
    if (!this.inCall && (this.recovering || this.rejoinTimer)) return;
    this.teardown();
    this.showStatus(message, 'reconnecting');
    this.recovering = true;
    const w = this.wire;
    const hangup = w && w.connected ? w.request({ call: { action: 'ACTION_HANGUP' } }).catch(() => {}) : Promise.resolve();
    hangup.then(() => {
      this.recovering = false;
      this.scheduleRejoin();
    });
  }

  /** Asks the room whether it still has us in its call, when a media path
   *  stalls. A room whose node died comes back on another node without its
   *  call and answers not_in_call: the page joins the call there at once
   *  instead of waiting for an ICE restart. A room that is fine answers as
   *  usual, and a room still settling fails the request, which changes
   *  nothing (the media watch goes on). */
  probe() {
    const w = this.wire;
    if (!this.inCall || !w || !w.connected) return;
    const pc = this.pub;
    w.request({ mediaState: this.mediaState() }).catch((e) => {
      if (e.code === 'not_in_call' && this.inCall && pc === this.pub) this.recover('The call moved; reconnecting…');
    });
  }

  mediaState() {
    return { audioMuted: this.audioMuted, videoOff: this.videoOff || !this.senders.camera, screenSharing: Boolean(this.screen) };
  }

  async restartIce(states = ['disconnected', 'failed']) {
    const broken = (pc) => pc && states.includes(pc.iceConnectionState);
    if (broken(this.pub)) {
      this.pub.restartIce();
      await this.negotiatePublish();
    }
    if (broken(this.sub)) await this.wire.request({ restartIce: {} });
  }

  teardown() {
    this.inCall = false;
    clearInterval(this.watchTimer);
    this.watchTimer = 0;
    this.armAlone(false);
    for (const pc of [this.pub, this.sub]) if (pc) pc.close();
    this.pub = this.sub = null;
    this.subChain = Promise.resolve();
    for (const t of [this.mic, this.cam, this.screen]) if (t) t.stop();
    this.mic = this.cam = this.screen = null;
    this.senders = { mic: null, camera: null, screen: null };
    this.screenTransceiver = null;
    this.audioMuted = this.videoOff = false;
    for (const tile of [...this.el.tiles.children]) this.removeTile(tile);
    this.meters.clear();
    clearInterval(this.meterTimer);
    this.meterTimer = 0;
    this.showPanel(Boolean(this.want));
    this.syncButtons();
  }

  showPanel(on) {
    this.el.panel.hidden = !on;
    this.el.buttons.hidden = on;
    document.body.classList.toggle('in-call', on);
  }

  showStatus(text, kind) {
    this.el.status.textContent = text || '';
    if (kind) this.el.status.dataset.kind = kind;
    else delete this.el.status.dataset.kind;
  }

  notifyRing(name) {
    if (document.hidden && 'Notification' in window && Notification.permission === 'granted') {
      try {
        new Notification('Incoming call', { body: `${name || 'Someone'} is calling you in Liveroom.` });
      } catch {
        /* some browsers only allow notifications from a service worker */
      }
    }
  }

  // ---------- sending ----------

  rtcConfig() {
    return { iceServers: this.iceServers };
  }

  /** Candidates found before the offer or answer they belong to has left
   *  wait, so the server never sees a candidate for a connection it does not
   *  know yet. */
  trickle(pc, role) {
    const queue = [];
    pc.liveroomReady = false;
    pc.flushCandidates = () => {
      pc.liveroomReady = true;
      for (const c of queue.splice(0)) this.sendCandidate(c, role);
    };
    pc.onicecandidate = (ev) => {
      if (!ev.candidate || !ev.candidate.candidate) return;
      if (pc.liveroomReady) this.sendCandidate(ev.candidate, role);
      else queue.push(ev.candidate);
    };
  }

  sendCandidate(c, role) {
    const body = { pc: role, candidate: c.candidate };
    if (c.sdpMid) body.sdpMid = c.sdpMid;
    if (c.sdpMLineIndex != null) body.sdpMlineIndex = c.sdpMLineIndex;
    if (c.usernameFragment) body.usernameFragment = c.usernameFragment;
    try {
      this.wire.send({ ice: body });
    } catch {
      /* disconnected: the reconnect rejoins the call */
    }
  }

  async publish() {
    const pc = new RTCPeerConnection(this.rtcConfig());
    this.pub = pc;
    this.trickle(pc, 'PEER_ROLE_PUBLISH');
    pc.onconnectionstatechange = () => {
      if (pc === this.pub && pc.connectionState === 'failed') this.recover('The call connection failed; reconnecting…');
    };
    if (this.mic) this.senders.mic = pc.addTransceiver(this.mic, { direction: 'sendonly' }).sender;
    if (this.cam) this.senders.camera = this.addCamera(pc);
    await this.negotiatePublish();
  }

  /**
   * The camera's transceiver. With "?simulcast=1" on the page it sends three
   * layers (quarter, half, full size) and the server gives each member the
   * one its link carries; a browser that refuses sendEncodings sends one.
   */
  addCamera(pc) {
    if (new URLSearchParams(location.search).get('simulcast') === '1') {
      try {
        return pc.addTransceiver(this.cam, {
          direction: 'sendonly',
          sendEncodings: [
            { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
            { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
            { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
          ],
        }).sender;
      } catch {
        /* one layer */
      }
    }
    return pc.addTransceiver(this.cam, { direction: 'sendonly' }).sender;
  }

  async negotiatePublish() {
    const pc = this.pub;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const sources = {};
    if (this.mic) sources[this.mic.id] = 'mic';
    if (this.cam) sources[this.cam.id] = 'camera';
    if (this.screen) sources[this.screen.id] = 'screen';
    const reply = this.wire.request({ publishOffer: { sdp: pc.localDescription.sdp, sources } });
    pc.flushCandidates();
    const f = await reply;
    if (pc !== this.pub) return;
    await pc.setRemoteDescription({ type: 'answer', sdp: f.publishAnswer.sdp });
  }

  sendState() {
    if (!this.inCall) return;
    this.wire.request({ mediaState: this.mediaState() }).catch(() => {});
    this.syncButtons();
  }

  syncButtons() {
    const b = this.el;
    b.mute.textContent = this.audioMuted ? 'Unmute' : 'Mute';
    b.mute.setAttribute('aria-pressed', String(this.audioMuted));
    b.camera.textContent = this.cam && !this.videoOff ? 'Camera off' : 'Camera on';
    b.camera.setAttribute('aria-pressed', String(!this.cam || this.videoOff));
    b.screen.textContent = this.screen ? 'Stop sharing' : 'Share screen';
    b.screen.setAttribute('aria-pressed', String(Boolean(this.screen)));
    const local = this.el.tiles.querySelector('.tile[data-local]');
    if (local) {
      local.classList.toggle('video-off', !this.cam || this.videoOff);
      local.classList.toggle('muted', this.audioMuted);
    }
  }

  async toggleMute() {
    if (!this.inCall || !this.senders.mic) return;
    this.audioMuted = !this.audioMuted;
    // No track means no packets at all, not just silent ones.
    await this.senders.mic.replaceTrack(this.audioMuted ? null : this.mic);
    this.sendState();
  }

  async toggleCamera() {
    if (!this.inCall) return;
    if (this.cam && !this.videoOff) {
      this.videoOff = true;
      await this.senders.camera.replaceTrack(null);
      this.cam.stop(); // the camera light goes off too
      this.sendState();
      return;
    }
    const stream = await navigator.mediaDevices.getUserMedia({ video: this.cameraConstraints() });
    this.cam = stream.getVideoTracks()[0];
    this.noteCamera();
    this.videoOff = false;
    if (this.senders.camera) {
      await this.senders.camera.replaceTrack(this.cam);
    } else {
      // An audio-only call turning its camera on needs a new video section.
      this.senders.camera = this.addCamera(this.pub);
      await this.negotiatePublish();
    }
    this.video = true;
    this.addLocalTile();
    this.sendState();
  }

  /** The camera chosen last (by device), else the facing one. */
  cameraConstraints() {
    return this.cameraId ? { deviceId: { ideal: this.cameraId } } : { facingMode: this.facing };
  }

  /** Remembers which camera the track comes from and shows it. */
  noteCamera() {
    const s = this.cam ? this.cam.getSettings() : {};
    if (s.deviceId) this.cameraId = s.deviceId;
    if (s.facingMode) this.facing = s.facingMode;
    this.watchDevices();
  }

  /** "Switch camera": phones flip between front and back; where cameras
   *  do not say which way they face (webcams, most computers) the next
   *  camera in the list is taken. */
  async switchCamera() {
    if (!this.inCall || !this.cam || this.videoOff) return;
    const cams = await this.videoInputs();
    const facing = this.cam.getSettings().facingMode;
    if (facing && cams.length <= 2) {
      const next = facing === 'user' ? 'environment' : 'user';
      if (await this.useCamera({ facingMode: { exact: next } }, (t) => t.getSettings().facingMode === next)) return;
    }
    if (cams.length < 2) return;
    const i = cams.findIndex((d) => d.deviceId === this.cameraId);
    const next = cams[(i + 1) % cams.length];
    await this.useCamera({ deviceId: { exact: next.deviceId } }, (t) => t.getSettings().deviceId === next.deviceId);
  }

  /** Swaps the camera track in place: the sender keeps its place in the
   *  connection (replaceTrack), so nothing is renegotiated. Returns false,
   *  with the old camera back, when the new one cannot be had. */
  async useCamera(video, isRight = () => true) {
    if (!this.inCall || !this.senders.camera) return false;
    const previous = this.cameraId;
    // Phones give one camera at a time: release this one first.
    if (this.cam) this.cam.stop();
    let track = null;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video });
      track = stream.getVideoTracks()[0];
      if (!isRight(track)) {
        track.stop();
        track = null;
      }
    } catch {
      track = null;
    }
    const ok = Boolean(track);
    if (!track) {
      const back = await navigator.mediaDevices.getUserMedia({ video: previous ? { deviceId: { ideal: previous } } : { facingMode: this.facing } });
      track = back.getVideoTracks()[0];
    }
    this.cam = track;
    await this.senders.camera.replaceTrack(track);
    this.noteCamera();
    this.addLocalTile();
    if (!ok) this.showStatus('That camera could not be started; the previous one is back.');
    return ok;
  }

  async videoInputs() {
    try {
      return (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput' && d.deviceId);
    } catch {
      return [];
    }
  }

  async toggleScreen() {
    if (!this.inCall) return;
    if (this.screen) {
      await this.stopScreen();
      return;
    }
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    this.screen = stream.getVideoTracks()[0];
    // The browser's own "stop sharing" button ends the track.
    this.screen.addEventListener('ended', () => this.stopScreen().catch(() => {}));
    this.screenTransceiver = this.pub.addTransceiver(this.screen, { direction: 'sendonly' });
    this.senders.screen = this.screenTransceiver.sender;
    await this.negotiatePublish();
    this.addTile(this.memberIdOf() + ':screen', null, true);
    this.sendState();
  }

  async stopScreen() {
    if (!this.screen) return;
    const t = this.screenTransceiver;
    this.screen.stop();
    this.screen = null;
    this.senders.screen = null;
    this.screenTransceiver = null;
    const tile = this.el.tiles.querySelector(`.tile[data-local="screen"]`);
    if (tile) this.removeTile(tile);
    if (t && this.pub) {
      t.stop();
      await this.negotiatePublish();
    }
    this.sendState();
  }

  /** Shows "Switch camera" and the camera menu when there is a choice; the
   *  menu names the camera in use. */
  async watchDevices() {
    const cams = await this.videoInputs();
    const many = cams.length >= 2 && Boolean(this.cam) && !this.videoOff;
    this.el.switchCam.hidden = !many;
    const menu = this.el.cameraMenu;
    if (!menu) return;
    menu.hidden = !many;
    menu.replaceChildren(
      ...cams.map((d, i) => {
        const o = document.createElement('option');
        o.value = d.deviceId;
        o.textContent = d.label || `Camera ${i + 1}`;
        return o;
      }),
    );
    if (this.cameraId) menu.value = this.cameraId;
    this.el.switchCam.title = `In use: ${menu.selectedOptions[0]?.textContent || 'camera'}`;
  }

  // ---------- receiving ----------

  async onSubscribeOffer(sdp) {
    if (!this.inCall) return;
    if (!this.sub) {
      const pc = new RTCPeerConnection(this.rtcConfig());
      this.sub = pc;
      this.trickle(pc, 'PEER_ROLE_SUBSCRIBE');
      pc.ontrack = (ev) => this.onTrack(ev);
      pc.onconnectionstatechange = () => {
        if (pc === this.sub && pc.connectionState === 'failed') this.recover('The call connection failed; reconnecting…');
      };
    }
    const pc = this.sub;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.wire.send({ subscribeAnswer: { sdp: pc.localDescription.sdp } });
    pc.flushCandidates();
  }

  onTrack(ev) {
    const stream = ev.streams[0];
    if (!stream) return;
    this.trackStreams.set(ev.track.id, stream.id);
    const tile = this.addTile(stream.id, stream, false);
    stream.onremovetrack = () => {
      if (stream.getTracks().length === 0) this.removeTile(tile);
    };
    ev.track.onended = () => {
      if (stream.getTracks().every((t) => t.readyState === 'ended')) this.removeTile(tile);
    };
    if (ev.track.kind === 'audio') this.meter();
  }

  addLocalTile() {
    const stream = new MediaStream(this.cam && !this.videoOff ? [this.cam] : []);
    this.addTile(this.memberIdOf() + ':main', stream, true);
    this.syncButtons();
  }

  /** Finds or makes the tile for a stream id ("<memberId>:main|screen"). */
  addTile(streamId, stream, local) {
    const [memberId, group] = streamId.split(':');
    let tile = [...this.el.tiles.children].find((t) => t.dataset.streamId === streamId);
    if (!tile) {
      tile = node('figure', 'tile');
      tile.dataset.streamId = streamId;
      tile.dataset.memberId = memberId;
      if (local) tile.dataset.local = group;
      if (group === 'screen') tile.classList.add('tile-screen');
      const video = node('video');
      video.autoplay = true;
      video.playsInline = true;
      if (local) video.muted = true; // never play our own microphone back
      tile.append(video, node('figcaption', 'tile-name'), node('span', 'tile-muted', 'muted'));
      if (group === 'screen') this.el.tiles.prepend(tile);
      else this.el.tiles.append(tile);
    }
    const video = tile.querySelector('video');
    if (group === 'screen' && local && this.screen) video.srcObject = new MediaStream([this.screen]);
    else if (stream && video.srcObject !== stream) video.srcObject = stream;
    this.play(video);
    this.decorate(tile);
    return tile;
  }

  decorate(tile) {
    const id = tile.dataset.memberId;
    const p = this.participants.get(id);
    const isScreen = tile.classList.contains('tile-screen');
    const name = p?.member?.name || (tile.dataset.local ? 'You' : 'Guest');
    tile.querySelector('.tile-name').textContent = (tile.dataset.local ? 'You' : name) + (isScreen ? ' (screen)' : '');
    if (!tile.dataset.local && !isScreen) {
      const media = p?.media || {};
      tile.classList.toggle('muted', Boolean(media.audioMuted));
      tile.classList.toggle('video-off', Boolean(media.videoOff) || !p?.video);
    }
  }

  removeTile(tile) {
    const v = tile.querySelector('video');
    if (v) v.srcObject = null;
    tile.remove();
  }

  play(video) {
    const p = video.play();
    if (p && p.catch) {
      p.catch((e) => {
        // Autoplay with sound needs a tap first on phones.
        if (e.name === 'NotAllowedError') this.el.enableAudio.hidden = false;
      });
    }
  }

  playAll() {
    this.el.enableAudio.hidden = true;
    this.resumePlayback();
  }

  resumePlayback() {
    // Playback of remote audio may need a gesture on phones; a click that
    // starts or answers a call is one, so resume any sound then.
    for (const v of this.el.tiles.querySelectorAll('video')) if (v.paused) this.play(v);
  }

  // ---------- who is speaking ----------

  /** Lights up the tiles of members whose audio carried energy since the
   *  last look. The browser already measures received audio (the
   *  totalAudioEnergy statistic), so nothing is sampled here and a short
   *  sound between two looks still counts. */
  meter() {
    if (!this.meterTimer) this.meterTimer = setInterval(() => this.measure().catch(() => {}), 300);
  }

  async measure() {
    if (!this.sub) return;
    const report = await this.sub.getStats();
    for (const s of report.values()) {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio' || !s.trackIdentifier) continue;
      const streamId = this.trackStreams.get(s.trackIdentifier);
      const prev = this.meters.get(s.trackIdentifier) || { energy: 0, duration: 0 };
      const energy = s.totalAudioEnergy || 0;
      const duration = s.totalSamplesDuration || 0;
      this.meters.set(s.trackIdentifier, { energy, duration });
      const dt = duration - prev.duration;
      if (!streamId || dt <= 0) continue;
      const level = Math.sqrt(Math.max(0, energy - prev.energy) / dt);
      const tile = [...this.el.tiles.children].find((t) => t.dataset.streamId === streamId);
      if (!tile) continue;
      const speaking = level > 0.01 && !tile.classList.contains('muted');
      tile.classList.toggle('speaking', speaking);
      if (speaking) tile.dataset.spoke = '1'; // lets tests see that it ever lit up
    }
  }

  // ---------- statistics ----------

  /** Inbound statistics per remote member, keyed "<memberId>:audio",
   *  "<memberId>:video" and "<memberId>:screen": video frames decoded and
   *  packets received. */
  async stats() {
    const out = {};
    if (!this.sub) return out;
    const report = await this.sub.getStats();
    for (const s of report.values()) {
      if (s.type !== 'inbound-rtp' || !s.trackIdentifier) continue;
      const streamId = this.trackStreams.get(s.trackIdentifier) || s.trackIdentifier;
      const [memberId, group] = streamId.split(':');
      const source = group === 'screen' ? 'screen' : s.kind;
      const key = `${memberId}:${source}`;
      const e = (out[key] ||= { memberId, source, kind: s.kind, framesDecoded: 0, packetsReceived: 0 });
      e.framesDecoded += s.framesDecoded || 0;
      e.packetsReceived += s.packetsReceived || 0;
    }
    return out;
  }
}
