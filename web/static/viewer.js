// viewer.js — the viewer page of a broadcast (/watch/<id>). It never asks for
// a camera or microphone: it joins receive-only, plays what the broadcasters
// send, and shows "waiting", "ended" and "full" as the broadcast goes.

import { $, broadcastId, broadcastWire, Receiver, LiveChat, MEDIA_RETRY_CODES } from './live.js';

const id = broadcastId();
let wire;
let password = '';
let state = { phase: 'BROADCAST_PHASE_WAITING', broadcasters: [] };
let iceServers = [];

const NOTICES = {
  broadcast_not_found: ['Broadcast not found', 'Check the link you were given.'],
  broadcast_full: ['This broadcast is full', 'Too many people are watching right now. Please try again in a few minutes.'],
  broadcast_not_open: ['Not open yet', 'This broadcast has not opened yet; come back at its start time.'],
  broadcast_closed: ['Closed', 'This broadcast is over.'],
};

function notice(title, text) {
  $('live').hidden = true;
  $('password-panel').hidden = true;
  $('notice').hidden = false;
  $('notice-title').textContent = title;
  $('notice-text').textContent = text || '';
  document.body.dataset.view = 'notice';
}

function nameOf(streamId) {
  const member = streamId.split(':')[0];
  const b = (state.broadcasters || []).find((x) => x.memberId === member);
  const name = b ? b.name : 'Broadcaster';
  return streamId.endsWith(':screen') ? `${name} (screen)` : name;
}

const receiver = new Receiver({
  wire: () => wire,
  tiles: $('tiles'),
  unmute: $('unmute'),
  label: nameOf,
  iceServers: () => iceServers,
  onChange: render,
});
const chat = new LiveChat({
  list: $('chat-list'), form: $('chat-form'), input: $('chat-input'), status: $('chat-status'), wire: () => wire,
});
window.liveroomViewer = receiver;

function render() {
  const phase = state.phase || 'BROADCAST_PHASE_WAITING';
  const ended = phase === 'BROADCAST_PHASE_ENDED';
  const live = phase === 'BROADCAST_PHASE_LIVE';
  document.body.dataset.phase = ended ? 'ended' : live ? 'live' : 'waiting';
  $('live-phase').textContent = ended ? 'Ended' : live ? 'Live' : 'Not started';
  $('live-phase').className = 'live-phase' + (live ? ' is-live' : '');
  const waiting = $('waiting');
  if (ended) {
    waiting.hidden = false;
    waiting.textContent = 'The broadcast has ended. Thank you for watching.';
  } else if (!live || receiver.tiles.size === 0) {
    waiting.hidden = false;
    waiting.textContent = live ? 'The broadcast is starting…' : 'Waiting for the broadcast to start…';
  } else {
    waiting.hidden = true;
  }
  $('tiles').dataset.count = String(receiver.tiles.size);
  $('chat').hidden = !state.chatEnabled;
  chat.enable(!!state.chatEnabled && !ended);
}

function applyState(s) {
  state = s || state;
  const live = new Set((state.broadcasters || []).filter((b) => b.live).map((b) => b.memberId));
  receiver.keepOnly(live);
  receiver.relabel();
  render();
}

function showLive(j) {
  $('notice').hidden = true;
  $('password-panel').hidden = true;
  $('live').hidden = false;
  document.body.dataset.view = 'live';
  const title = j.broadcast?.title || 'Live broadcast';
  $('live-title').textContent = title;
  document.title = title;
}

async function start() {
  wire = broadcastWire({
    join: () => ({ broadcastId: id, password }),
    lastSeq: () => chat.lastSeq(),
    onJoined: (j, info) => {
      iceServers = (j.iceServers || []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
      if (info.resumed) receiver.reset(); // the server opens a fresh connection for us
      showLive(j);
      chat.history(j.history);
      applyState(j.state);
    },
    onFrame: (f) => {
      if (f.broadcastState) applyState(f.broadcastState);
      else if (f.subscribeOffer) receiver.offer(f.subscribeOffer.sdp);
      else if (f.chat) chat.add(f.chat);
      else if (f.error && MEDIA_RETRY_CODES.has(f.error.code)) {
        // Our media connection broke: reconnect the socket, which resumes
        // the membership and gets a fresh connection.
        receiver.reset();
        wire.dropSocket(4001, 'media lost');
        wire.scheduleRetry('media lost');
      }
    },
    onStatus: (s) => {
      $('conn').textContent = s.state === 'connected' ? '' : s.state === 'reconnecting' ? 'Reconnecting…' : '';
    },
    onFatal: (e) => showError(e),
  });
  try {
    await wire.start();
  } catch (e) {
    showError(e);
  }
}

function showError(e) {
  if (e.code === 'password_required' || e.code === 'wrong_password') {
    $('notice').hidden = true;
    $('password-panel').hidden = false;
    document.body.dataset.view = 'password';
    const err = $('password-error');
    err.hidden = e.code !== 'wrong_password';
    err.textContent = e.message;
    return;
  }
  const [title, text] = NOTICES[e.code] || ['Cannot watch', e.message];
  document.body.dataset.error = e.code || 'error';
  notice(title, text);
}

$('password-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  password = $('password').value;
  $('password-panel').hidden = true;
  notice('Joining…', '');
  start();
});

addEventListener('pagehide', () => wire?.stop());
start();
