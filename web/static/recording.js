// recording.js — call recording: the Record/Stop button in the call, the
// recording indicator every member of the room sees, and the finished file.
//
// The server records (its media actor writes the tracks as it forwards
// them); this module only asks it to start or stop and shows what it says.

function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text != null) n.textContent = text;
  return n;
}

function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function humanSize(bytes) {
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export class Recording {
  /**
   * @param {object} o
   * @param {() => import('./wire.js').Wire} o.wire
   * @param {() => string} o.token   this member's access token (downloads)
   */
  constructor(o) {
    this.wireOf = o.wire;
    this.tokenOf = o.token;
    this.options = {};
    this.role = '';
    this.state = {};
    this.timer = 0;

    // The indicator: on every member's screen while a recording runs.
    this.badge = node('div', 'rec-badge');
    this.badge.id = 'recording-indicator';
    this.badge.setAttribute('role', 'status');
    this.badge.hidden = true;
    this.dot = node('span', 'rec-dot');
    this.label = node('span', 'rec-label');
    this.badge.append(this.dot, this.label);

    // The recorder's notices (errors, the finished file) stay until
    // dismissed, also after the call ended.
    this.notice = node('div', 'rec-notice small');
    this.notice.id = 'recording-notice';
    this.notice.setAttribute('role', 'status');
    this.notice.hidden = true;
    this.noticeText = node('span', 'rec-notice-text');
    const close = node('button', 'btn btn-quiet btn-small rec-close', '×');
    close.type = 'button';
    close.setAttribute('aria-label', 'Dismiss');
    close.addEventListener('click', () => { this.notice.hidden = true; });
    this.notice.append(this.noticeText, close);

    this.button = node('button', 'btn btn-small rec-button', 'Record');
    this.button.id = 'record-btn';
    this.button.type = 'button';
    this.button.hidden = true;
    this.button.addEventListener('click', () => this.toggle());

    // Badge and notice float above the page, outside its layout.
    document.body.append(this.badge, this.notice);
    const controls = document.querySelector('#call-panel .call-controls');
    if (controls) controls.append(this.button);
  }

  onJoined(j) {
    this.options = (j.room && j.room.recording) || {};
    this.role = j.role || '';
    this.apply(j.recording || {});
  }

  mayRecord() {
    return Boolean(this.options.enabled) && (this.role === 'ROLE_AGENT' || Boolean(this.options.visitors));
  }

  /** Returns true when the frame was only about recording. */
  onFrame(f) {
    if (f.recording) {
      this.apply(f.recording);
      return true;
    }
    if (f.recordingDone) {
      this.done(f.recordingDone);
      return true;
    }
    if (f.error && ['recording_disabled', 'not_allowed', 'not_recording', 'already_recording',
      'recording_failed', 'recording_stopped'].includes(f.error.code)) {
      this.say(f.error.message || 'The recording did not work.');
      this.syncButton();
      return true;
    }
    return false;
  }

  apply(st) {
    this.state = st || {};
    const s = this.state.state || 'STATE_IDLE';
    clearInterval(this.timer);
    this.timer = 0;
    this.badge.dataset.state = s;
    if (s === 'STATE_IDLE') {
      this.badge.hidden = true;
    } else if (s === 'STATE_WAITING') {
      this.badge.hidden = false;
      this.label.textContent = 'Recording starts when someone sends audio or video…';
    } else if (s === 'STATE_RECORDING') {
      this.badge.hidden = false;
      const started = Number(this.state.startedAtMs) || Date.now();
      const tick = () => { this.label.textContent = `Recording ${clock(Date.now() - started)}`; };
      tick();
      this.timer = setInterval(tick, 1000);
    } else {
      this.badge.hidden = false;
      this.label.textContent = 'Finishing the recording…';
    }
    this.syncButton();
  }

  syncButton() {
    const s = this.state.state || 'STATE_IDLE';
    const running = s === 'STATE_WAITING' || s === 'STATE_RECORDING';
    // The button sits in the call panel, which only shows during a call.
    this.button.hidden = !this.mayRecord();
    this.button.textContent = running ? 'Stop recording' : 'Record';
    this.button.setAttribute('aria-pressed', String(running));
    this.button.disabled = s === 'STATE_FINISHING';
  }

  async toggle() {
    const s = this.state.state || 'STATE_IDLE';
    const start = !(s === 'STATE_WAITING' || s === 'STATE_RECORDING');
    this.button.disabled = true;
    try {
      // recording.start is a bool; protojson leaves out false, so send it explicitly.
      await this.wireOf().request({ recording: { start } });
      if (!start) this.say('Finishing the recording…');
    } catch (e) {
      this.say(e.message || 'The recording could not be changed.');
    } finally {
      this.button.disabled = false;
    }
  }

  say(text) {
    this.noticeText.replaceChildren(text);
    this.notice.hidden = !text;
  }

  done(d) {
    const url = `${d.url}?t=${encodeURIComponent(this.tokenOf())}`;
    const size = Number(d.size) || 0;
    const link = node('a', '', `Download the recording (${humanSize(size)}, ${clock(Number(d.durationMs) || 0)})`);
    link.href = url;
    link.id = 'recording-link';
    link.setAttribute('download', '');
    const parts = [];
    if (d.stopReason) parts.push(`The recording stopped: ${d.stopReason}. `);
    parts.push(link);
    // Without a mixed file the zip holds one file per person and track.
    parts.push(d.mixed ? ' (one mixed video and each person\'s tracks).' : ` (each person's tracks${d.note ? `; ${d.note}` : ''})`);
    this.noticeText.replaceChildren(...parts);
    this.notice.hidden = false;
    if (d.download) {
      // The browser's own download (with its progress bar) streams the file
      // to disk; a big recording never sits in this page's memory.
      const a = node('a');
      a.href = url;
      a.setAttribute('download', '');
      a.hidden = true;
      document.body.append(a);
      a.click();
      a.remove();
    }
  }
}
