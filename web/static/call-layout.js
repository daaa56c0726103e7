// call-layout.js — where the call sits on the room page and how its tiles
// share the space.
//
// call.js adds and removes tiles; this module only places them. Camera tiles
// are laid out at their 4:3 shape as large as the box allows; a shared screen
// gets the big stage (whole, letterboxed) with the camera tiles in a strip
// beside it or under it; an audio-only call shows small name cards instead of
// empty video boxes; a page alone in the call (ringing) shows its own camera
// as a small preview. The person picks where the chat goes: beside the call,
// below it (the call area's height can be dragged), or hidden.

const GAP = 6;
const CAMERA_ASPECT = 4 / 3;
const LAYOUTS = ['side', 'below', 'nochat'];
const LAYOUT_KEY = 'liveroom:call-layout';

function storedLayout() {
  try {
    const v = localStorage.getItem(LAYOUT_KEY);
    return LAYOUTS.includes(v) ? v : '';
  } catch {
    return '';
  }
}

function defaultLayout() {
  return matchMedia('(min-width: 900px)').matches ? 'side' : 'below';
}

/**
 * @param {object} o
 * @param {HTMLElement} o.panel   the call panel
 * @param {HTMLElement} o.tiles   the tile container call.js fills
 * @param {HTMLSelectElement} [o.select]  the chat placement chooser
 */
export function startCallLayout({ panel, tiles, select }) {
  let frame = 0;
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(() => ((frame = 0), place()));
  };

  function applyLayout(v) {
    let layout = LAYOUTS.includes(v) ? v : defaultLayout();
    // Beside needs width; a phone gets the chat below instead.
    if (layout === 'side' && !matchMedia('(min-width: 768px)').matches) layout = 'below';
    document.body.dataset.callLayout = layout;
    if (select) select.value = layout;
    if (layout !== 'nochat') markHiddenChat(0);
    schedule();
  }

  // While the chat is hidden, the chooser counts what arrived meanwhile.
  let unseen = 0;
  function markHiddenChat(n) {
    unseen = n;
    const opt = select && select.querySelector('option[value="nochat"]');
    if (opt) opt.textContent = n ? `Hide chat (${n} new)` : 'Hide chat';
  }
  function noteMessage() {
    if (document.body.dataset.callLayout === 'nochat' && document.body.classList.contains('in-call')) markHiddenChat(unseen + 1);
  }

  if (select) {
    select.addEventListener('change', () => {
      try {
        localStorage.setItem(LAYOUT_KEY, select.value);
      } catch {
        /* not fatal */
      }
      applyLayout(select.value);
    });
  }
  applyLayout(storedLayout());
  matchMedia('(min-width: 768px)').addEventListener('change', () => applyLayout(storedLayout()));

  new ResizeObserver(schedule).observe(tiles);
  new MutationObserver(schedule).observe(tiles, { childList: true, subtree: true, attributes: true, attributeFilter: ['class'] });

  function place() {
    const all = [...tiles.children].filter((t) => t.classList.contains('tile'));
    for (const t of all) if (t.classList.contains('tile-screen')) addEnlarge(t, schedule);
    const screens = all.filter((t) => t.classList.contains('tile-screen'));
    const cams = all.filter((t) => !t.classList.contains('tile-screen'));
    const audioOnly = screens.length === 0 && cams.length > 0 && cams.every((t) => t.classList.contains('video-off'));
    panel.classList.toggle('audio-only', audioOnly);
    document.body.classList.toggle('call-audio-only', audioOnly);
    // Name cards always sit above the chat: "beside" does not apply then.
    const side = select && select.querySelector('option[value="side"]');
    if (side) side.disabled = audioOnly;
    panel.classList.toggle('sharing', screens.length > 0);
    if (audioOnly || all.length === 0) {
      for (const t of all) t.removeAttribute('style');
      tiles.dataset.mode = audioOnly ? 'cards' : 'empty';
      return;
    }
    const W = tiles.clientWidth;
    const H = tiles.clientHeight;
    if (!W || !H) return;
    if (screens.length) stage(screens, cams, W, H);
    else gallery(cams, W, H);
  }

  // A shared screen takes the stage; cameras go in a strip beside it or
  // under it, whichever shows the shared picture larger. Strip tiles shrink
  // so that all of them stay in view.
  function stage(screens, cams, W, H) {
    tiles.dataset.mode = 'stage';
    const v = screens[0].querySelector('video');
    const aspect = v && v.videoWidth && v.videoHeight ? v.videoWidth / v.videoHeight : 16 / 9;
    const n = cams.length;
    const shown = (w, h) => {
      const per = (w - GAP * (screens.length - 1)) / screens.length;
      return Math.min(per, h * aspect) * Math.min(h, per / aspect);
    };
    let best = { area: shown(W, H), sw: W, sh: H, strip: null };
    if (n) {
      // Beside: a column of tiles.
      const stripW = Math.min(260, Math.max(110, W * 0.22));
      const th = Math.min(stripW / CAMERA_ASPECT, (H - GAP * (n - 1)) / n);
      const side = { sw: W - th * CAMERA_ASPECT - GAP, sh: H, strip: 'side', tw: th * CAMERA_ASPECT, th };
      side.area = shown(side.sw, side.sh);
      // Under: a row of tiles.
      const stripH = Math.min(150, Math.max(72, H * 0.28));
      const tw = Math.min(stripH * CAMERA_ASPECT, (W - GAP * (n - 1)) / n);
      const under = { sw: W, sh: H - tw / CAMERA_ASPECT - GAP, strip: 'under', tw, th: tw / CAMERA_ASPECT };
      under.area = shown(under.sw, under.sh);
      best = side.area >= under.area ? side : under;
      if (best.strip === 'side') {
        const top = (H - n * best.th - GAP * (n - 1)) / 2;
        cams.forEach((t, i) => put(t, best.sw + GAP, top + i * (best.th + GAP), best.tw, best.th));
      } else {
        const left = (W - n * best.tw - GAP * (n - 1)) / 2;
        cams.forEach((t, i) => put(t, left + i * (best.tw + GAP), best.sh + GAP, best.tw, best.th));
      }
    }
    const each = (best.sw - GAP * (screens.length - 1)) / screens.length;
    screens.forEach((t, i) => put(t, i * (each + GAP), 0, each, best.sh));
  }

  // Cameras only: the column count that makes tiles largest, rows centred.
  function gallery(cams, W, H) {
    tiles.dataset.mode = 'gallery';
    const n = cams.length;
    if (n === 1 && cams[0].dataset.local) {
      // Alone (ringing or waiting): our own preview stays small.
      const w = Math.min(W * 0.45, 320, (H - GAP) * CAMERA_ASPECT);
      const h = w / CAMERA_ASPECT;
      put(cams[0], (W - w) / 2, (H - h) / 2, w, h);
      tiles.dataset.mode = 'preview';
      return;
    }
    let best = { w: 0, cols: 1 };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const w = Math.min((W - GAP * (cols - 1)) / cols, ((H - GAP * (rows - 1)) / rows) * CAMERA_ASPECT);
      if (w > best.w) best = { w, cols };
    }
    const w = Math.floor(best.w);
    const h = Math.floor(w / CAMERA_ASPECT);
    const rows = Math.ceil(n / best.cols);
    const top = Math.max(0, (H - rows * h - (rows - 1) * GAP) / 2);
    cams.forEach((t, i) => {
      const row = Math.floor(i / best.cols);
      const inRow = row === rows - 1 ? n - row * best.cols : best.cols;
      const left = (W - inRow * w - (inRow - 1) * GAP) / 2;
      put(t, left + (i % best.cols) * (w + GAP), top + row * (h + GAP), w, h);
    });
  }

  return { schedule, applyLayout, noteMessage };
}

function put(tile, x, y, w, h) {
  const s = tile.style;
  s.position = 'absolute';
  s.left = `${Math.round(x)}px`;
  s.top = `${Math.round(y)}px`;
  s.width = `${Math.round(w)}px`;
  s.height = `${Math.round(h)}px`;
}

// A shared screen can be enlarged to the whole screen.
function addEnlarge(tile, onResize) {
  if (tile.querySelector('.tile-enlarge')) return;
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'tile-enlarge';
  b.textContent = 'Full screen';
  b.addEventListener('click', () => {
    if (document.fullscreenElement) {
      document.exitFullscreen().catch(() => {});
      return;
    }
    const video = tile.querySelector('video');
    if (tile.requestFullscreen) tile.requestFullscreen().catch(() => {});
    else if (video && video.webkitEnterFullscreen) video.webkitEnterFullscreen(); // iPhone
  });
  tile.append(b);
  tile.addEventListener('dblclick', () => b.click());
  // The layout depends on the shared picture's shape, known once it plays.
  const video = tile.querySelector('video');
  if (video && onResize) video.addEventListener('resize', onResize);
}
