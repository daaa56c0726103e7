// broadcast.js — the broadcaster page (/broadcast/<id>#key=<key>). It shows a
// preview of the camera (or screen), goes live and stops, shows how many
// people watch and the other broadcasters, and switches the viewers' chat.
// The same link works on several devices: each is one more broadcaster.

import { $, broadcastId, broadcastWire, gathered, Receiver, LiveChat, MEDIA_RETRY_CODES } from './live.js';

const id = broadcastId();
const key = new URLSearchParams(location.hash.slice(1)).get('key') || '';
let wire;
let me = '';
let state = { broadcasters: [] };
let iceServers = [];
let local = null; // MediaStream being previewed / sent
let pub = null; // RTCPeerConnection we send on
let wantLive = false;

function status(t) {
  $('status').textContent = t || '';
}

function nameOf(streamId) {
  const b = (state.broadcasters || []).find((x) => x.memberId === streamId.split(':')[0]);
  return b ? b.name : 'Broadcaster';
}

const receiver = new Receiver({
  wire: () => wire, tiles: $('tiles'), unmute: $('unmute'), label: nameOf, iceServers: () => iceServers,
});
const chat = new LiveChat({
  list: $('chat-list'), form: $('chat-form'), input: $('chat-input'), status: $('chat-status'), wire: () => wire,
});
window.liveroomBroadcast = { receiver, get pub() { return pub; }, get state() { return state; } };

async function capture() {
  const source = $('source').value;
  let stream;
  if (source === 'screen') {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const mic = await navigator.mediaDevices.getUserMedia({ audio: true }).catch(() => null);
    if (mic) mic.getAudioTracks().forEach((t) => stream.addTrack(t));
  } else {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 }, audio: true });
  }
  if (local) local.getTracks().forEach((t) => t.stop());
  local = stream;
  $('preview').srcObject = stream;
  return stream;
}

// Video goes out as three simulcast layers, lowest first (quarter, half
// and full size): the server gives each viewer the layer its link carries,
// so a viewer on a poor link gets a smaller picture rather than a stalled
// one. "?simulcast=0" sends one layer; so does a browser that refuses
// sendEncodings.
const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];
const simulcast = new URLSearchParams(location.search).get('simulcast') !== '0';

function addSending(pc, t) {
  if (t.kind === 'video' && simulcast) {
    try {
      return pc.addTransceiver(t, { direction: 'sendonly', streams: [local], sendEncodings: SIMULCAST });
    } catch (e) {
      // Fall through: one layer.
    }
  }
  return pc.addTransceiver(t, { direction: 'sendonly', streams: [local] });
}

async function publish() {
  if (pub) pub.close();
  const pc = new RTCPeerConnection({ iceServers });
  pub = pc;
  const sources = {};
  const kind = $('source').value === 'screen' ? 'screen' : 'camera';
  for (const t of local.getTracks()) {
    addSending(pc, t);
    sources[t.id] = t.kind === 'audio' ? 'mic' : kind;
  }
  pc.onconnectionstatechange = () => {
    if (pc === pub && pc.connectionState === 'failed') status('The connection to the server failed; retrying…');
  };
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const reply = await wire.request({ publishOffer: { sdp: pc.localDescription.sdp, sources } });
  if (pc !== pub) return;
  await pc.setRemoteDescription({ type: 'answer', sdp: reply.publishAnswer.sdp });
}

async function goLive() {
  $('go-live').disabled = true;
  try {
    if (!local) await capture();
    await wire.request({ broadcastControl: { action: 'BROADCAST_ACTION_GO_LIVE' } });
    wantLive = true;
    await publish();
    status('');
  } catch (e) {
    status(e.message || String(e));
  } finally {
    $('go-live').disabled = false;
    render();
  }
}

async function stop() {
  wantLive = false;
  if (pub) pub.close();
  pub = null;
  try {
    await wire.request({ broadcastControl: { action: 'BROADCAST_ACTION_STOP' } });
  } catch (e) {
    status(e.message);
  }
  render();
}

function render() {
  const phase = state.phase || 'BROADCAST_PHASE_WAITING';
  const live = phase === 'BROADCAST_PHASE_LIVE';
  $('live-phase').textContent = live ? 'Live' : phase === 'BROADCAST_PHASE_ENDED' ? 'Ended' : 'Not started';
  $('live-phase').className = 'live-phase' + (live ? ' is-live' : '');
  $('viewer-count').textContent = String(state.viewers || 0);
  const mine = (state.broadcasters || []).find((b) => b.memberId === me);
  const meLive = !!(mine && mine.live);
  $('go-live').hidden = meLive;
  $('stop').hidden = !meLive;
  $('chat-toggle').checked = !!state.chatEnabled;
}

function applyState(s) {
  state = s || state;
  const live = new Set((state.broadcasters || []).filter((b) => b.live && b.memberId !== me).map((b) => b.memberId));
  receiver.keepOnly(live);
  receiver.relabel();
  render();
}

async function start() {
  if (!key) {
    $('notice-title').textContent = 'This broadcaster link is incomplete';
    $('notice-text').textContent = 'Open the full link from the agent page (it ends in #key=…).';
    return;
  }
  wire = broadcastWire({
    join: () => ({ broadcastId: id, broadcasterKey: key }),
    lastSeq: () => chat.lastSeq(),
    onJoined: (j, info) => {
      me = j.memberId;
      iceServers = (j.iceServers || []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
      $('notice').hidden = true;
      $('live').hidden = false;
      $('live-title').textContent = j.broadcast?.title || 'Broadcast ' + id;
      applyState(j.state);
      chat.history(j.history);
      if (info.resumed) {
        // The server dropped our media with the old socket; the broadcast
        // stayed live for the viewers, so send again at once.
        receiver.reset();
        if (wantLive && local) publish().catch((e) => status(e.message));
      }
    },
    onFrame: (f) => {
      if (f.broadcastState) applyState(f.broadcastState);
      else if (f.subscribeOffer) receiver.offer(f.subscribeOffer.sdp);
      else if (f.chat) chat.add(f.chat);
      else if (f.error && MEDIA_RETRY_CODES.has(f.error.code) && wantLive) {
        status('Reconnecting the media…');
        receiver.reset();
        wire.dropSocket(4001, 'media lost');
        wire.scheduleRetry('media lost');
      } else if (f.error) status(f.error.message);
    },
    onStatus: (s) => {
      $('conn').textContent = s.state === 'reconnecting' ? 'Reconnecting…' : '';
    },
    onFatal: (e) => {
      $('live').hidden = true;
      $('notice').hidden = false;
      $('notice-title').textContent = 'Cannot broadcast';
      $('notice-text').textContent = e.message;
    },
  });
  try {
    await wire.start();
  } catch (e) {
    $('notice-title').textContent = e.code === 'broadcast_not_found' ? 'Broadcast not found' : 'Cannot broadcast';
    $('notice-text').textContent = e.message;
    return;
  }
  capture().catch((e) => status('Camera: ' + (e.message || e)));
}

$('go-live').addEventListener('click', goLive);
$('stop').addEventListener('click', stop);
$('source').addEventListener('change', async () => {
  try {
    await capture();
    if (wantLive) await publish();
  } catch (e) {
    status(e.message || String(e));
  }
});
$('chat-toggle').addEventListener('change', (ev) => {
  const action = ev.target.checked ? 'BROADCAST_ACTION_CHAT_ON' : 'BROADCAST_ACTION_CHAT_OFF';
  wire.request({ broadcastControl: { action } }).catch((e) => status(e.message));
});
addEventListener('pagehide', () => wire?.stop());
start();
