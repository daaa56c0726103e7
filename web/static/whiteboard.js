// whiteboard.js — the room's shared whiteboard.
//
// The server owns the board: every change is an op that the whiteboard grain
// numbers (seq), stores and sends to every member, the sender included. This
// module only draws what the server says, sends the ops the user makes, and
// sends strokes in progress and the laser pointer as "live" frames that are
// shown but never stored. Pan and zoom are each person's own.
//
// Board units: a page is PAGE_W wide; a PDF page's background is drawn at the
// origin, PAGE_W wide. Coordinates travel as integers.

const PAGE_W = 1600;
const PAGE_H = 1000;
const MAX_POINTS = 2000; // x,y pairs in one stroke (the server allows 4000 numbers)
const LIVE_EVERY_MS = 90;
const LASER_FADE_MS = 1500;
const COLOURS = ['#1f2328', '#e53935', '#1e88e5', '#43a047', '#fb8c00', '#8e24aa', '#ffffff'];

function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text != null) n.textContent = text;
  return n;
}

function num(v) {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

function button(label, title, onClick, extra = '') {
  const b = node('button', `btn btn-small wb-btn ${extra}`.trim(), label);
  b.type = 'button';
  b.title = title;
  b.addEventListener('click', onClick);
  return b;
}

// ---------- board state (a client's mirror, as in the Go Mirror) ----------

function emptyBoard() {
  return { seq: 0, open: false, visitors: false, modeSet: false, page: 0, pages: [{}], elems: new Map() };
}

function boardFrom(b) {
  const out = emptyBoard();
  out.seq = num(b.seq);
  out.open = Boolean(b.open);
  out.visitors = Boolean(b.visitors);
  out.modeSet = Boolean(b.modeSet);
  out.page = num(b.page);
  out.pages = b.pages && b.pages.length ? b.pages : [{}];
  for (const e of b.elements || []) out.elems.set(num(e.id), e);
  return out;
}

// applyOp applies one server op; it returns false when it is not the next.
function applyOp(b, op) {
  const seq = num(op.seq);
  if (seq !== b.seq + 1) return false;
  b.seq = seq;
  const ids = (op.ids || []).map(num);
  switch (op.kind) {
    case 'WB_OP_ADD':
      b.elems.set(num(op.element.id), op.element);
      break;
    case 'WB_OP_ERASE':
    case 'WB_OP_CLEAR':
      for (const id of ids) b.elems.delete(id);
      break;
    case 'WB_OP_MOVE':
      for (const id of ids) {
        const e = b.elems.get(id);
        if (!e) continue;
        const pts = (e.points || []).map((v, i) => v + (i % 2 === 0 ? op.dx || 0 : op.dy || 0));
        b.elems.set(id, { ...e, points: pts });
      }
      break;
    case 'WB_OP_UNDO':
    case 'WB_OP_REDO':
      for (const id of ids) b.elems.delete(id);
      for (const e of op.restored || []) b.elems.set(num(e.id), e);
      break;
    case 'WB_OP_PAGE_ADD':
      b.pages = [...b.pages, {}];
      b.page = b.pages.length - 1;
      break;
    case 'WB_OP_PAGES_ADD':
      b.page = b.pages.length;
      b.pages = [...b.pages, ...(op.pages || [])];
      break;
    case 'WB_OP_PAGE_GO':
      b.page = num(op.page);
      break;
    case 'WB_OP_OPEN':
      b.open = true;
      break;
    case 'WB_OP_CLOSE':
      b.open = false;
      break;
    case 'WB_OP_MODE':
      b.visitors = Boolean(op.visitors);
      b.modeSet = true;
      break;
    default:
      break;
  }
  return true;
}

// ---------- drawing ----------

function shapeName(s) {
  return String(s || '').replace('WB_SHAPE_', '').toLowerCase();
}

// strokePath draws a freehand stroke smoothed with quadratic curves through
// the midpoints of its points.
function strokePath(ctx, pts) {
  ctx.beginPath();
  if (pts.length < 4) {
    ctx.arc(pts[0], pts[1], 0.5, 0, Math.PI * 2);
    return;
  }
  ctx.moveTo(pts[0], pts[1]);
  for (let i = 2; i < pts.length - 2; i += 2) {
    const mx = (pts[i] + pts[i + 2]) / 2;
    const my = (pts[i + 1] + pts[i + 3]) / 2;
    ctx.quadraticCurveTo(pts[i], pts[i + 1], mx, my);
  }
  ctx.lineTo(pts[pts.length - 2], pts[pts.length - 1]);
}

function drawElement(ctx, e, images) {
  const p = e.points || [];
  const shape = shapeName(e.shape);
  ctx.strokeStyle = e.color || '#000000';
  ctx.fillStyle = e.color || '#000000';
  ctx.lineWidth = num(e.width) || 2;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  switch (shape) {
    case 'pen':
      strokePath(ctx, p);
      if (p.length < 4) ctx.fill();
      else ctx.stroke();
      break;
    case 'line':
    case 'arrow': {
      ctx.beginPath();
      ctx.moveTo(p[0], p[1]);
      ctx.lineTo(p[2], p[3]);
      ctx.stroke();
      if (shape === 'arrow') {
        const a = Math.atan2(p[3] - p[1], p[2] - p[0]);
        const len = 10 + ctx.lineWidth * 3;
        ctx.beginPath();
        ctx.moveTo(p[2], p[3]);
        ctx.lineTo(p[2] - len * Math.cos(a - 0.45), p[3] - len * Math.sin(a - 0.45));
        ctx.lineTo(p[2] - len * Math.cos(a + 0.45), p[3] - len * Math.sin(a + 0.45));
        ctx.closePath();
        ctx.fill();
      }
      break;
    }
    case 'rect':
      ctx.strokeRect(Math.min(p[0], p[2]), Math.min(p[1], p[3]), Math.abs(p[2] - p[0]), Math.abs(p[3] - p[1]));
      break;
    case 'ellipse':
      ctx.beginPath();
      ctx.ellipse((p[0] + p[2]) / 2, (p[1] + p[3]) / 2, Math.abs(p[2] - p[0]) / 2, Math.abs(p[3] - p[1]) / 2, 0, 0, Math.PI * 2);
      ctx.stroke();
      break;
    case 'text': {
      const size = num(e.width) || 24;
      ctx.font = `${size}px system-ui, sans-serif`;
      ctx.textBaseline = 'top';
      String(e.text || '')
        .split('\n')
        .forEach((line, i) => ctx.fillText(line, p[0], p[1] + i * size * 1.2));
      break;
    }
    case 'image': {
      const img = images(e.imageId);
      const x = Math.min(p[0], p[2]);
      const y = Math.min(p[1], p[3]);
      const w = Math.abs(p[2] - p[0]);
      const h = Math.abs(p[3] - p[1]);
      if (img && img.complete && img.naturalWidth) ctx.drawImage(img, x, y, w, h);
      else {
        ctx.strokeStyle = '#9aa5b4';
        ctx.lineWidth = 2;
        ctx.strokeRect(x, y, w, h);
      }
      break;
    }
    default:
      break;
  }
}

// bounds returns an element's box in board units, for hit tests.
function bounds(e) {
  const p = e.points || [];
  if (shapeName(e.shape) === 'text') {
    const size = num(e.width) || 24;
    const lines = String(e.text || '').split('\n');
    const w = Math.max(...lines.map((l) => l.length)) * size * 0.6;
    return { x0: p[0], y0: p[1], x1: p[0] + w, y1: p[1] + lines.length * size * 1.2 };
  }
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i + 1 < p.length; i += 2) {
    x0 = Math.min(x0, p[i]);
    x1 = Math.max(x1, p[i]);
    y0 = Math.min(y0, p[i + 1]);
    y1 = Math.max(y1, p[i + 1]);
  }
  return { x0, y0, x1, y1 };
}

function distToSegment(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const l2 = dx * dx + dy * dy;
  const t = l2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / l2)) : 0;
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

// hits reports whether board point (x, y) touches e, within tol units.
function hits(e, x, y, tol) {
  const p = e.points || [];
  const shape = shapeName(e.shape);
  const t = tol + (num(e.width) || 2) / 2;
  if (shape === 'pen') {
    if (p.length < 4) return Math.hypot(x - p[0], y - p[1]) <= t;
    for (let i = 0; i + 3 < p.length; i += 2) if (distToSegment(x, y, p[i], p[i + 1], p[i + 2], p[i + 3]) <= t) return true;
    return false;
  }
  if (shape === 'line' || shape === 'arrow') return distToSegment(x, y, p[0], p[1], p[2], p[3]) <= t;
  const b = bounds(e);
  if (shape === 'rect') {
    const inside = x >= b.x0 - t && x <= b.x1 + t && y >= b.y0 - t && y <= b.y1 + t;
    const deep = x > b.x0 + t && x < b.x1 - t && y > b.y0 + t && y < b.y1 - t;
    return inside && !deep;
  }
  if (shape === 'ellipse') {
    const rx = (b.x1 - b.x0) / 2 || 1;
    const ry = (b.y1 - b.y0) / 2 || 1;
    const d = Math.hypot((x - (b.x0 + rx)) / rx, (y - (b.y0 + ry)) / ry);
    return Math.abs(d - 1) * Math.min(rx, ry) <= t;
  }
  return x >= b.x0 - tol && x <= b.x1 + tol && y >= b.y0 - tol && y <= b.y1 + tol;
}

// ---------- a minimal PDF writer for the export (JPEG pages) ----------

function pdfFromJpegs(pages) {
  const enc = new TextEncoder();
  const parts = [];
  let length = 0;
  const offsets = [];
  const push = (x) => {
    const b = typeof x === 'string' ? enc.encode(x) : x;
    parts.push(b);
    length += b.length;
  };
  const obj = (n, body, stream) => {
    offsets[n] = length;
    push(`${n} 0 obj\n${body}\n`);
    if (stream) {
      push('stream\n');
      push(stream);
      push('\nendstream\n');
    }
    push('endobj\n');
  };
  push('%PDF-1.4\n');
  const n = pages.length;
  const kids = pages.map((_, i) => `${3 + i * 3} 0 R`).join(' ');
  obj(1, '<< /Type /Catalog /Pages 2 0 R >>');
  obj(2, `<< /Type /Pages /Kids [${kids}] /Count ${n} >>`);
  pages.forEach((p, i) => {
    const base = 3 + i * 3;
    const w = (p.width * 0.75).toFixed(2);
    const h = (p.height * 0.75).toFixed(2);
    const content = enc.encode(`q ${w} 0 0 ${h} 0 0 cm /Im0 Do Q`);
    obj(base, `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${w} ${h}] /Resources << /XObject << /Im0 ${base + 2} 0 R >> >> /Contents ${base + 1} 0 R >>`);
    obj(base + 1, `<< /Length ${content.length} >>`, content);
    obj(base + 2, `<< /Type /XObject /Subtype /Image /Width ${p.width} /Height ${p.height} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length ${p.jpeg.length} >>`, p.jpeg);
  });
  const xref = length;
  const count = 3 + n * 3;
  let x = `xref\n0 ${count}\n0000000000 65535 f \n`;
  for (let i = 1; i < count; i++) x += `${String(offsets[i]).padStart(10, '0')} 00000 n \n`;
  push(x);
  push(`trailer\n<< /Size ${count} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`);
  return new Blob(parts, { type: 'application/pdf' });
}

function dataURLBytes(url) {
  const bin = atob(url.slice(url.indexOf(',') + 1));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ---------- the module ----------

export class Whiteboard {
  /**
   * @param {object} o
   * @param {() => import('./wire.js').Wire} o.wire
   * @param {() => {id: string, token: string, role: string, memberId: string}} o.room
   */
  constructor(o) {
    this.wireOf = o.wire;
    this.roomOf = o.room;
    this.board = emptyBoard();
    this.settings = { enabled: false, visitors: false };
    this.role = '';
    this.synced = false;
    this.shown = false; // this person has the board on screen
    this.tool = 'pen';
    this.color = COLOURS[0];
    this.width = 4;
    this.view = { scale: 1, x: 0, y: 0, fitted: false };
    this.images = new Map(); // image id -> HTMLImageElement
    this.live = new Map(); // member id -> {live, at}
    this.drag = null;
    this.pointers = new Map();
    this.pinch = null;
    this.selected = null;
    this.frame = 0;
    this.syncing = null;
    this.buildUI();
    window.__liveroomWhiteboard = this; // for tests and the curious
  }

  // ----- wiring with room.js -----

  /** Called on every join (and resume): attach to the board, catch up. */
  onJoined(j) {
    this.role = j.role || this.role;
    // protojson leaves out false fields: {} means a room without a board.
    this.settings.enabled = Boolean(j.room && j.room.whiteboard && j.room.whiteboard.enabled);
    if (this.settings.enabled) this.sync();
    else this.refreshChrome();
  }

  /** Frames from the socket; returns true when it was the whiteboard's. */
  onFrame(f) {
    if (!f.wb) return false;
    if (f.wb.op) this.receiveOp(f.wb.op);
    else if (f.wb.live) this.receiveLive(f.wb.live);
    else if (f.wb.state) this.receiveState(f.wb.state);
    return true;
  }

  async sync() {
    const wire = this.wireOf();
    if (!wire) return;
    const since = this.synced ? this.board.seq : 0;
    const body = { wb: { sync: since ? { sinceSeq: String(since) } : {} } };
    try {
      const f = await wire.request(body);
      if (f.wb && f.wb.state) this.receiveState(f.wb.state);
    } catch (err) {
      if (err.code === 'whiteboard_disabled') {
        this.settings.enabled = false;
        this.refreshChrome();
      } else if (err.code !== 'disconnected') {
        this.showError(`Whiteboard: ${err.message}`);
      }
    }
  }

  receiveState(st) {
    if (st.settings) this.settings = { enabled: Boolean(st.settings.enabled), visitors: Boolean(st.settings.visitors) };
    if (st.role) this.role = st.role;
    const wasOpen = this.board.open;
    if (st.board) {
      this.board = boardFrom(st.board);
    } else {
      for (const op of st.ops || []) this.applyOrResync(op);
    }
    this.synced = true;
    if (this.board.open && !wasOpen) this.shown = true;
    this.refreshChrome();
    this.redraw();
  }

  receiveOp(op) {
    const wasOpen = this.board.open;
    this.applyOrResync(op);
    if (this.board.open && !wasOpen) this.shown = true; // the agent opened it: show it
    this.live.delete(op.memberId); // a finished stroke replaces its preview
    this.refreshChrome();
    this.redraw();
  }

  applyOrResync(op) {
    if (!this.synced || num(op.seq) <= this.board.seq) return;
    if (!applyOp(this.board, op)) {
      // A gap (lost frames after a reconnect): ask for what is missing.
      if (!this.syncing) {
        this.syncing = this.sync().finally(() => {
          this.syncing = null;
        });
      }
    }
  }

  receiveLive(l) {
    if (!l.memberId) return;
    if (l.end) this.live.delete(l.memberId);
    else this.live.set(l.memberId, { live: l, at: performance.now() });
    this.redraw();
    if (l.laser) setTimeout(() => this.redraw(), LASER_FADE_MS + 50);
  }

  // ----- permissions -----

  get isAgent() {
    return this.role === 'ROLE_AGENT';
  }

  get visitorsMayDraw() {
    return this.board.modeSet ? this.board.visitors : this.settings.visitors;
  }

  get canDraw() {
    return this.board.open && (this.isAgent || this.visitorsMayDraw);
  }

  // ----- sending -----

  async send(op) {
    const wire = this.wireOf();
    if (!wire) return null;
    try {
      const f = await wire.request({ wb: { op } });
      // Our own op comes back as the reply; apply it like anyone's.
      if (f.wb && f.wb.op) this.receiveOp(f.wb.op);
      return f.wb && f.wb.op;
    } catch (err) {
      if (err.code !== 'nothing_to_undo' && err.code !== 'nothing_to_redo') this.showError(err.message);
      else this.showError(err.message, 2500);
      this.redraw();
      return null;
    }
  }

  sendLive(l) {
    const wire = this.wireOf();
    if (!wire || !wire.connected) return;
    const now = performance.now();
    if (!l.end && now - (this.lastLive || 0) < LIVE_EVERY_MS) return;
    this.lastLive = now;
    try {
      wire.send({ wb: { live: l } });
    } catch {
      /* a preview may be lost */
    }
  }

  // ----- UI -----

  buildUI() {
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = '/static/whiteboard.css';
    document.head.append(link);

    this.toggle = node('button', 'btn btn-small wb-toggle', 'Whiteboard');
    this.toggle.type = 'button';
    this.toggle.id = 'wb-toggle';
    this.toggle.hidden = true;
    this.toggle.addEventListener('click', () => this.onToggle());
    const buttons = document.getElementById('call-buttons');
    if (buttons) buttons.append(this.toggle);
    else document.querySelector('.room-header')?.append(this.toggle);

    const panel = node('section', 'wb-panel');
    panel.id = 'wb-panel';
    panel.setAttribute('aria-label', 'Whiteboard');
    panel.hidden = true;
    this.panel = panel;

    const bar = node('div', 'wb-toolbar');
    bar.setAttribute('role', 'toolbar');
    this.toolButtons = new Map();
    const tools = [
      ['pen', 'Pen', 'Draw freehand'],
      ['line', 'Line', 'Straight line'],
      ['arrow', 'Arrow', 'Arrow'],
      ['rect', 'Box', 'Rectangle'],
      ['ellipse', 'Oval', 'Ellipse'],
      ['text', 'Text', 'Write text'],
      ['eraser', 'Eraser', 'Erase whole strokes'],
      ['select', 'Move', 'Select and move'],
      ['laser', 'Laser', 'Point (not stored)'],
      ['hand', 'Pan', 'Pan the view'],
    ];
    const drawGroup = node('div', 'wb-group wb-draw');
    for (const [id, label, title] of tools) {
      const b = button(label, title, () => this.setTool(id));
      b.dataset.tool = id;
      b.setAttribute('aria-pressed', 'false');
      this.toolButtons.set(id, b);
      drawGroup.append(b);
    }
    this.colorInput = node('input', 'wb-color');
    this.colorInput.type = 'color';
    this.colorInput.value = this.color;
    this.colorInput.title = 'Colour';
    this.colorInput.addEventListener('input', () => {
      this.color = this.colorInput.value;
    });
    this.widthInput = node('select', 'wb-width');
    this.widthInput.title = 'Width';
    for (const w of [2, 4, 8, 16]) {
      const opt = node('option', '', `${w}px`);
      opt.value = String(w);
      if (w === this.width) opt.selected = true;
      this.widthInput.append(opt);
    }
    this.widthInput.addEventListener('change', () => {
      this.width = num(this.widthInput.value) || 4;
    });
    drawGroup.append(this.colorInput, this.widthInput);
    drawGroup.append(
      button('Undo', 'Undo your last change', () => this.send({ kind: 'WB_OP_UNDO' })),
      button('Redo', 'Redo', () => this.send({ kind: 'WB_OP_REDO' })),
    );
    this.imageInput = node('input', 'visually-hidden');
    this.imageInput.type = 'file';
    this.imageInput.id = 'wb-image-input';
    this.imageInput.accept = 'image/png,image/jpeg,image/gif';
    this.imageInput.addEventListener('change', () => {
      const f = this.imageInput.files[0];
      this.imageInput.value = '';
      if (f) this.uploadImage(f);
    });
    drawGroup.append(button('Image', 'Put an image on the board (or paste one)', () => this.imageInput.click()), this.imageInput);

    const pageGroup = node('div', 'wb-group wb-pages');
    this.prevBtn = button('‹', 'Previous page', () => this.goPage(this.board.page - 1));
    this.nextBtn = button('›', 'Next page', () => this.goPage(this.board.page + 1));
    this.prevBtn.id = 'wb-prev';
    this.nextBtn.id = 'wb-next';
    this.pageSelect = node('select', 'wb-page-select');
    this.pageSelect.title = 'Pages';
    this.pageSelect.addEventListener('change', () => this.goPage(num(this.pageSelect.value)));
    this.addPageBtn = button('+ Page', 'Add a blank page', () => this.send({ kind: 'WB_OP_PAGE_ADD' }));
    pageGroup.append(this.prevBtn, this.pageSelect, this.nextBtn, this.addPageBtn);

    const agentGroup = node('div', 'wb-group wb-agent');
    this.pdfInput = node('input', 'visually-hidden');
    this.pdfInput.type = 'file';
    this.pdfInput.id = 'wb-pdf-input';
    this.pdfInput.accept = 'application/pdf,.pdf';
    this.pdfInput.addEventListener('change', () => {
      const f = this.pdfInput.files[0];
      this.pdfInput.value = '';
      if (f) this.uploadPDF(f);
    });
    const modeLabel = node('label', 'wb-mode');
    this.modeBox = node('input');
    this.modeBox.type = 'checkbox';
    this.modeBox.id = 'wb-visitors';
    this.modeBox.addEventListener('change', () => this.send({ kind: 'WB_OP_MODE', visitors: this.modeBox.checked }));
    modeLabel.append(this.modeBox, ' Visitors draw');
    agentGroup.append(
      button('PDF', 'Open a PDF: each page becomes a board page', () => this.pdfInput.click()),
      this.pdfInput,
      modeLabel,
      button('Clear', 'Clear this page for everyone', () => {
        if (confirm('Clear this page for everyone?')) this.send({ kind: 'WB_OP_CLEAR', page: this.board.page });
      }),
      button('Close', 'Close the whiteboard for everyone', () => this.send({ kind: 'WB_OP_CLOSE' })),
    );

    const viewGroup = node('div', 'wb-group wb-viewctl');
    viewGroup.append(
      button('−', 'Zoom out', () => this.zoomBy(1 / 1.25)),
      button('Fit', 'Fit the page', () => this.fit()),
      button('+', 'Zoom in', () => this.zoomBy(1.25)),
      button('PNG', 'Save this page as an image', () => this.exportPNG()),
      button('PDF ⤓', 'Save every page as a PDF', () => this.exportPDF()),
      button('Hide', 'Hide the whiteboard on this screen', () => {
        this.shown = false;
        this.refreshChrome();
      }),
    );
    bar.append(drawGroup, pageGroup, agentGroup, viewGroup);
    this.drawGroup = drawGroup;
    this.agentGroup = agentGroup;
    this.addPageGroup = pageGroup;

    this.status = node('p', 'wb-status small');
    this.status.setAttribute('role', 'status');
    const stage = node('div', 'wb-stage');
    this.canvas = node('canvas', 'wb-canvas');
    this.canvas.setAttribute('aria-label', 'Whiteboard drawing area');
    this.textInput = node('textarea', 'wb-text-input');
    this.textInput.rows = 1;
    this.textInput.maxLength = 500;
    this.textInput.hidden = true;
    this.textInput.setAttribute('aria-label', 'Text for the board');
    stage.append(this.canvas, this.textInput);
    this.stage = stage;
    panel.append(bar, this.status, stage);

    const view = document.getElementById('room-view');
    const before = document.querySelector('.members-panel');
    if (view && before) view.insertBefore(panel, before);
    else (view || document.body).append(panel);

    this.ctx = this.canvas.getContext('2d');
    this.canvas.addEventListener('pointerdown', (e) => this.pointerDown(e));
    this.canvas.addEventListener('pointermove', (e) => this.pointerMove(e));
    this.canvas.addEventListener('pointerup', (e) => this.pointerUp(e));
    this.canvas.addEventListener('pointercancel', (e) => this.pointerUp(e, true));
    this.canvas.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    this.textInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        this.commitText();
      } else if (e.key === 'Escape') {
        this.textInput.hidden = true;
      }
    });
    this.textInput.addEventListener('blur', () => this.commitText());
    document.addEventListener('paste', (e) => this.paste(e));
    new ResizeObserver(() => this.resize()).observe(stage);
    this.setTool('pen');
  }

  onToggle() {
    if (!this.board.open) {
      if (this.isAgent) this.send({ kind: 'WB_OP_OPEN' });
      return;
    }
    this.shown = !this.shown;
    this.refreshChrome();
  }

  refreshChrome() {
    const visible = this.settings.enabled && (this.isAgent || this.board.open);
    this.toggle.hidden = !visible;
    this.toggle.setAttribute('aria-pressed', String(this.board.open && this.shown));
    this.toggle.classList.toggle('wb-live', this.board.open);
    this.toggle.textContent = this.board.open ? (this.shown ? 'Whiteboard ✓' : 'Whiteboard •') : 'Whiteboard';
    const show = this.settings.enabled && this.board.open && this.shown;
    if (this.panel.hidden === show) {
      this.panel.hidden = !show;
      document.getElementById('room-view')?.classList.toggle('wb-open', show);
      if (show) requestAnimationFrame(() => this.resize());
    }
    this.drawGroup.classList.toggle('wb-disabled', !this.canDraw);
    for (const b of this.drawGroup.querySelectorAll('button,input,select')) b.disabled = !this.canDraw;
    this.agentGroup.hidden = !this.isAgent;
    this.addPageBtn.hidden = !this.canDraw;
    this.prevBtn.disabled = !this.canDraw || this.board.page <= 0;
    this.nextBtn.disabled = !this.canDraw || this.board.page >= this.board.pages.length - 1;
    this.pageSelect.disabled = !this.canDraw;
    this.modeBox.checked = this.visitorsMayDraw;
    const n = this.board.pages.length;
    if (this.pageSelect.options.length !== n || num(this.pageSelect.value) !== this.board.page) {
      this.pageSelect.replaceChildren(
        ...this.board.pages.map((p, i) => {
          const o = node('option', '', `${i + 1} / ${n}${p.backgroundId ? ' (PDF)' : ''}`);
          o.value = String(i);
          return o;
        }),
      );
      this.pageSelect.value = String(this.board.page);
    }
    if (!this.canDraw && this.board.open && !this.errorShown) {
      this.status.textContent = 'The agent is drawing; you are watching.';
    } else if (!this.errorShown) {
      this.status.textContent = '';
    }
    this.panel.dataset.page = String(this.board.page);
    this.panel.dataset.seq = String(this.board.seq);
  }

  showError(message, ms = 6000) {
    this.status.textContent = message;
    this.status.classList.add('wb-error');
    this.errorShown = true;
    clearTimeout(this.errorTimer);
    this.errorTimer = setTimeout(() => {
      this.errorShown = false;
      this.status.classList.remove('wb-error');
      this.refreshChrome();
    }, ms);
  }

  setTool(t) {
    this.tool = t;
    for (const [id, b] of this.toolButtons) b.setAttribute('aria-pressed', String(id === t));
    this.canvas.dataset.tool = t;
    this.selected = null;
    this.redraw();
  }

  goPage(p) {
    if (p < 0 || p >= this.board.pages.length || p === this.board.page) return;
    this.send({ kind: 'WB_OP_PAGE_GO', page: p });
  }

  // ----- view: pan and zoom -----

  resize() {
    const r = this.stage.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    if (!r.width || !r.height) return;
    this.canvas.width = Math.round(r.width * dpr);
    this.canvas.height = Math.round(r.height * dpr);
    this.canvas.style.width = `${r.width}px`;
    this.canvas.style.height = `${r.height}px`;
    if (!this.view.fitted) this.fit();
    else this.redraw();
  }

  pageSize() {
    const p = this.board.pages[this.board.page] || {};
    if (p.backgroundId && p.backgroundW) return { w: PAGE_W, h: Math.round((PAGE_W * num(p.backgroundH)) / num(p.backgroundW)) };
    return { w: PAGE_W, h: PAGE_H };
  }

  fit() {
    const w = this.canvas.width;
    const h = this.canvas.height;
    if (!w || !h) return;
    const ps = this.pageSize();
    const s = Math.min(w / ps.w, h / ps.h) * 0.98;
    this.view = { scale: s, x: (w - ps.w * s) / 2, y: (h - ps.h * s) / 2, fitted: true };
    this.redraw();
  }

  zoomBy(f, cx = this.canvas.width / 2, cy = this.canvas.height / 2) {
    const s = Math.max(0.05, Math.min(20, this.view.scale * f));
    const k = s / this.view.scale;
    this.view.x = cx - (cx - this.view.x) * k;
    this.view.y = cy - (cy - this.view.y) * k;
    this.view.scale = s;
    this.redraw();
  }

  wheel(e) {
    e.preventDefault();
    const dpr = window.devicePixelRatio || 1;
    const r = this.canvas.getBoundingClientRect();
    if (e.ctrlKey || e.metaKey || this.tool === 'hand') {
      this.zoomBy(Math.exp(-e.deltaY / 300), (e.clientX - r.left) * dpr, (e.clientY - r.top) * dpr);
    } else {
      this.view.x -= e.deltaX * dpr;
      this.view.y -= e.deltaY * dpr;
      this.redraw();
    }
  }

  /** Board units of a pointer event. */
  toBoard(e) {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    return {
      x: Math.round(((e.clientX - r.left) * dpr - this.view.x) / this.view.scale),
      y: Math.round(((e.clientY - r.top) * dpr - this.view.y) / this.view.scale),
    };
  }

  /** CSS pixel offset inside the canvas of board point (x, y); for tests. */
  toCanvas(x, y) {
    const dpr = window.devicePixelRatio || 1;
    return { x: (x * this.view.scale + this.view.x) / dpr, y: (y * this.view.scale + this.view.y) / dpr };
  }

  // ----- pointer input -----

  pointerDown(e) {
    this.canvas.setPointerCapture(e.pointerId);
    this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (this.pointers.size === 2) {
      // A second finger: pinch zoom and pan, and drop what the first started.
      this.cancelDrag();
      const [a, b] = [...this.pointers.values()];
      this.pinch = { d: Math.hypot(a.x - b.x, a.y - b.y), cx: (a.x + b.x) / 2, cy: (a.y + b.y) / 2 };
      return;
    }
    if (this.pointers.size > 2) return;
    const p = this.toBoard(e);
    if (this.tool === 'hand' || e.button === 1 || (!this.canDraw && this.tool !== 'hand')) {
      this.drag = { kind: 'pan', sx: e.clientX, sy: e.clientY, vx: this.view.x, vy: this.view.y };
      return;
    }
    switch (this.tool) {
      case 'pen':
        this.drag = { kind: 'pen', pts: [p.x, p.y] };
        break;
      case 'line':
      case 'arrow':
      case 'rect':
      case 'ellipse':
        this.drag = { kind: 'shape', shape: this.tool, pts: [p.x, p.y, p.x, p.y] };
        break;
      case 'text':
        this.startText(e, p);
        break;
      case 'eraser':
        this.drag = { kind: 'erase', ids: new Set() };
        this.eraseAt(p);
        break;
      case 'select': {
        const hit = this.hitTest(p);
        this.selected = hit;
        if (hit) this.drag = { kind: 'move', id: num(hit.id), sx: p.x, sy: p.y, dx: 0, dy: 0 };
        this.redraw();
        break;
      }
      case 'laser':
        this.drag = { kind: 'laser' };
        this.sendLive({ page: this.board.page, laser: true, points: [p.x, p.y] });
        this.myLaser = { x: p.x, y: p.y, at: performance.now() };
        this.redraw();
        break;
      default:
        break;
    }
  }

  pointerMove(e) {
    if (this.pointers.has(e.pointerId)) this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (this.pinch && this.pointers.size >= 2) {
      const [a, b] = [...this.pointers.values()];
      const d = Math.hypot(a.x - b.x, a.y - b.y);
      const cx = (a.x + b.x) / 2;
      const cy = (a.y + b.y) / 2;
      const dpr = window.devicePixelRatio || 1;
      const r = this.canvas.getBoundingClientRect();
      this.view.x += (cx - this.pinch.cx) * dpr;
      this.view.y += (cy - this.pinch.cy) * dpr;
      if (this.pinch.d > 0) this.zoomBy(d / this.pinch.d, (cx - r.left) * dpr, (cy - r.top) * dpr);
      this.pinch = { d, cx, cy };
      return;
    }
    const g = this.drag;
    if (!g) return;
    const p = this.toBoard(e);
    switch (g.kind) {
      case 'pan': {
        const dpr = window.devicePixelRatio || 1;
        this.view.x = g.vx + (e.clientX - g.sx) * dpr;
        this.view.y = g.vy + (e.clientY - g.sy) * dpr;
        this.redraw();
        break;
      }
      case 'pen': {
        const n = g.pts.length;
        // Skip points closer than 2 units to the last: fewer bytes, same line.
        if (Math.hypot(p.x - g.pts[n - 2], p.y - g.pts[n - 1]) < 2 / Math.max(this.view.scale, 0.1)) return;
        if (n / 2 >= MAX_POINTS) return;
        g.pts.push(p.x, p.y);
        this.sendLive({ page: this.board.page, points: g.pts, color: this.color, width: this.width, shape: 'WB_SHAPE_PEN' });
        this.redraw();
        break;
      }
      case 'shape':
        g.pts[2] = p.x;
        g.pts[3] = p.y;
        this.sendLive({ page: this.board.page, points: g.pts, color: this.color, width: this.width, shape: `WB_SHAPE_${g.shape.toUpperCase()}` });
        this.redraw();
        break;
      case 'erase':
        this.eraseAt(p);
        break;
      case 'move':
        g.dx = p.x - g.sx;
        g.dy = p.y - g.sy;
        this.redraw();
        break;
      case 'laser':
        this.myLaser = { x: p.x, y: p.y, at: performance.now() };
        this.sendLive({ page: this.board.page, laser: true, points: [p.x, p.y] });
        this.redraw();
        break;
      default:
        break;
    }
  }

  pointerUp(e, cancelled = false) {
    this.pointers.delete(e.pointerId);
    if (this.pinch) {
      if (this.pointers.size < 2) this.pinch = null;
      return;
    }
    const g = this.drag;
    this.drag = null;
    if (!g || cancelled) {
      if (g && g.kind !== 'pan') this.sendLive({ page: this.board.page, end: true });
      this.redraw();
      return;
    }
    const page = this.board.page;
    switch (g.kind) {
      case 'pen':
        this.sendLive({ page, end: true });
        this.addElement({ page, shape: 'WB_SHAPE_PEN', points: g.pts, color: this.color, width: this.width }, g);
        break;
      case 'shape': {
        this.sendLive({ page, end: true });
        const [x0, y0, x1, y1] = g.pts;
        if (Math.hypot(x1 - x0, y1 - y0) < 3) break;
        this.addElement({ page, shape: `WB_SHAPE_${g.shape.toUpperCase()}`, points: g.pts, color: this.color, width: this.width }, g);
        break;
      }
      case 'erase':
        if (g.ids.size) this.send({ kind: 'WB_OP_ERASE', ids: [...g.ids].map(String) });
        break;
      case 'move':
        if (g.dx || g.dy) {
          this.pendingMove = g;
          this.send({ kind: 'WB_OP_MOVE', ids: [String(g.id)], dx: g.dx, dy: g.dy }).finally(() => {
            this.pendingMove = null;
            this.redraw();
          });
        }
        break;
      case 'laser':
        this.sendLive({ page, laser: true, end: true });
        this.myLaser = null;
        break;
      default:
        break;
    }
    this.redraw();
  }

  cancelDrag() {
    if (this.drag && this.drag.kind !== 'pan') this.sendLive({ page: this.board.page, end: true });
    this.drag = null;
    this.redraw();
  }

  addElement(el, g) {
    // Keep the stroke on screen until the server's op replaces it.
    this.pending = { el, g };
    this.send({ kind: 'WB_OP_ADD', element: el }).finally(() => {
      if (this.pending && this.pending.el === el) this.pending = null;
      this.redraw();
    });
  }

  hitTest(p) {
    const tol = 6 / Math.max(this.view.scale, 0.05);
    const els = this.pageElements().reverse();
    return els.find((e) => hits(e, p.x, p.y, tol)) || null;
  }

  eraseAt(p) {
    const tol = 8 / Math.max(this.view.scale, 0.05);
    for (const e of this.pageElements()) if (hits(e, p.x, p.y, tol)) this.drag.ids.add(num(e.id));
    this.redraw();
  }

  startText(e, p) {
    const r = this.stage.getBoundingClientRect();
    const t = this.textInput;
    t.value = '';
    t.hidden = false;
    t.style.left = `${e.clientX - r.left}px`;
    t.style.top = `${e.clientY - r.top}px`;
    t.style.color = this.color;
    this.textAt = { x: p.x, y: p.y, page: this.board.page };
    setTimeout(() => t.focus(), 0);
  }

  commitText() {
    const t = this.textInput;
    if (t.hidden) return;
    t.hidden = true;
    const text = t.value.trim();
    if (!text || !this.textAt) return;
    const size = Math.max(12, this.width * 6);
    this.send({
      kind: 'WB_OP_ADD',
      element: { page: this.textAt.page, shape: 'WB_SHAPE_TEXT', points: [this.textAt.x, this.textAt.y], color: this.color, width: size, text },
    });
    this.textAt = null;
  }

  // ----- images and PDFs -----

  imageURL(id) {
    const r = this.roomOf();
    return `/wb/${encodeURIComponent(r.id)}/${encodeURIComponent(id)}?t=${encodeURIComponent(r.token)}`;
  }

  image(id) {
    if (!id) return null;
    let img = this.images.get(id);
    if (!img) {
      img = new Image();
      img.onload = () => this.redraw();
      img.src = this.imageURL(id);
      this.images.set(id, img);
    }
    return img;
  }

  async post(path, file) {
    const r = this.roomOf();
    const res = await fetch(`/api/rooms/${encodeURIComponent(r.id)}/wb/${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${r.token}`, 'Content-Type': file.type || 'application/octet-stream' },
      body: file,
    });
    let body = null;
    try {
      body = await res.json();
    } catch {
      /* below */
    }
    if (!res.ok) throw new Error((body && body.error && body.error.message) || `upload failed (${res.status})`);
    return body;
  }

  async uploadImage(file) {
    if (!this.canDraw) return;
    this.status.textContent = `Uploading ${file.name || 'image'}…`;
    try {
      const img = await this.post('images', file);
      const w = num(img.width);
      const h = num(img.height);
      const k = Math.min(1, 800 / w, 600 / h);
      const ps = this.pageSize();
      const x = Math.round(ps.w / 2 - (w * k) / 2);
      const y = Math.round(ps.h / 2 - (h * k) / 2);
      this.status.textContent = '';
      await this.send({
        kind: 'WB_OP_ADD',
        element: { page: this.board.page, shape: 'WB_SHAPE_IMAGE', points: [x, y, Math.round(x + w * k), Math.round(y + h * k)], imageId: img.id },
      });
    } catch (err) {
      this.showError(err.message);
    }
  }

  async uploadPDF(file) {
    this.status.textContent = `Opening ${file.name || 'PDF'}… (rendering its pages)`;
    try {
      await this.post('pdf', file);
      this.status.textContent = '';
    } catch (err) {
      this.showError(err.message, 10000);
    }
  }

  paste(e) {
    if (!this.shown || !this.board.open || !this.canDraw) return;
    const item = [...(e.clipboardData?.items || [])].find((i) => i.kind === 'file' && i.type.startsWith('image/'));
    if (!item) return;
    e.preventDefault();
    const f = item.getAsFile();
    if (f) this.uploadImage(f);
  }

  // ----- rendering -----

  pageElements(page = this.board.page) {
    return [...this.board.elems.values()].filter((e) => num(e.page) === page).sort((a, b) => num(a.id) - num(b.id));
  }

  redraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.paint();
    });
  }

  paintPage(ctx, page, scale, ox, oy, opts = {}) {
    const ps = this.pageSizeOf(page);
    ctx.save();
    ctx.setTransform(scale, 0, 0, scale, ox, oy);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, ps.w, ps.h);
    const bg = this.board.pages[page] && this.board.pages[page].backgroundId;
    if (bg) {
      const img = this.image(bg);
      if (img.complete && img.naturalWidth) ctx.drawImage(img, 0, 0, ps.w, ps.h);
    }
    const move = this.drag && this.drag.kind === 'move' ? this.drag : this.pendingMove;
    const erasing = this.drag && this.drag.kind === 'erase' ? this.drag.ids : null;
    for (const e of this.pageElements(page)) {
      const id = num(e.id);
      if (erasing && erasing.has(id)) ctx.globalAlpha = 0.25;
      if (move && move.id === id && !opts.plain) {
        ctx.save();
        ctx.translate(move.dx, move.dy);
        drawElement(ctx, e, (i) => this.image(i));
        ctx.restore();
      } else {
        drawElement(ctx, e, (i) => this.image(i));
      }
      ctx.globalAlpha = 1;
      if (!opts.plain && this.selected && num(this.selected.id) === id) {
        const b = bounds(e);
        ctx.save();
        ctx.setLineDash([6 / scale, 4 / scale]);
        ctx.strokeStyle = '#2f6fde';
        ctx.lineWidth = 1 / scale;
        const dx = move && move.id === id ? move.dx : 0;
        const dy = move && move.id === id ? move.dy : 0;
        ctx.strokeRect(b.x0 - 4 + dx, b.y0 - 4 + dy, b.x1 - b.x0 + 8, b.y1 - b.y0 + 8);
        ctx.restore();
      }
    }
    ctx.restore();
    return ps;
  }

  pageSizeOf(page) {
    const p = this.board.pages[page] || {};
    if (p.backgroundId && p.backgroundW) return { w: PAGE_W, h: Math.round((PAGE_W * num(p.backgroundH)) / num(p.backgroundW)) };
    return { w: PAGE_W, h: PAGE_H };
  }

  paint() {
    const ctx = this.ctx;
    const c = this.canvas;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#e9ecf1';
    ctx.fillRect(0, 0, c.width, c.height);
    const { scale, x, y } = this.view;
    this.paintPage(ctx, this.board.page, scale, x, y);
    ctx.save();
    ctx.setTransform(scale, 0, 0, scale, x, y);
    // What others are drawing right now, and their laser pointers.
    const now = performance.now();
    for (const [, { live, at }] of this.live) {
      if (num(live.page) !== this.board.page) continue;
      const pts = live.points || [];
      if (live.laser) {
        if (now - at > LASER_FADE_MS || pts.length < 2) continue;
        this.paintLaser(ctx, pts[0], pts[1], scale);
      } else if (pts.length >= 2) {
        ctx.globalAlpha = 0.7;
        drawElement(ctx, { shape: live.shape || 'WB_SHAPE_PEN', points: pts, color: live.color, width: live.width }, () => null);
        ctx.globalAlpha = 1;
      }
    }
    // Our own stroke in progress, and the one waiting for the server.
    const g = this.drag;
    if (g && (g.kind === 'pen' || g.kind === 'shape')) {
      drawElement(ctx, { shape: g.kind === 'pen' ? 'WB_SHAPE_PEN' : g.shape, points: g.pts, color: this.color, width: this.width }, () => null);
    }
    if (this.pending && num(this.pending.el.page) === this.board.page) drawElement(ctx, this.pending.el, () => null);
    if (this.myLaser) this.paintLaser(ctx, this.myLaser.x, this.myLaser.y, scale);
    ctx.restore();
  }

  paintLaser(ctx, x, y, scale) {
    ctx.save();
    ctx.fillStyle = 'rgba(255, 30, 30, 0.9)';
    ctx.shadowColor = 'rgba(255, 0, 0, 0.8)';
    ctx.shadowBlur = 12;
    ctx.beginPath();
    ctx.arc(x, y, 7 / scale, 0, Math.PI * 2);
    ctx.fill();
    ctx.restore();
  }

  // ----- export -----

  async pageCanvas(page) {
    const ps = this.pageSizeOf(page);
    const bg = this.board.pages[page] && this.board.pages[page].backgroundId;
    const waits = [];
    for (const id of [bg, ...this.pageElements(page).map((e) => e.imageId)]) {
      const img = id && this.image(id);
      if (img && !img.complete) waits.push(new Promise((r) => img.addEventListener('load', r, { once: true }) || img.addEventListener('error', r, { once: true })));
    }
    await Promise.all(waits);
    const c = document.createElement('canvas');
    c.width = ps.w;
    c.height = ps.h;
    this.paintPage(c.getContext('2d'), page, 1, 0, 0, { plain: true });
    return c;
  }

  download(blob, name) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  async exportPNG() {
    const c = await this.pageCanvas(this.board.page);
    c.toBlob((b) => b && this.download(b, `whiteboard-${this.roomOf().id}-page${this.board.page + 1}.png`), 'image/png');
  }

  async exportPDF() {
    const pages = [];
    for (let i = 0; i < this.board.pages.length; i++) {
      const c = await this.pageCanvas(i);
      pages.push({ width: c.width, height: c.height, jpeg: dataURLBytes(c.toDataURL('image/jpeg', 0.9)) });
    }
    this.download(pdfFromJpegs(pages), `whiteboard-${this.roomOf().id}.pdf`);
  }

  // ----- for tests: what this member's board holds and shows -----

  /** The colour [r, g, b] this screen shows at board point (x, y). */
  pixelAt(x, y) {
    const p = this.toCanvas(x, y);
    const dpr = window.devicePixelRatio || 1;
    const d = this.ctx.getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), 1, 1).data;
    return [d[0], d[1], d[2]];
  }

  snapshot() {
    return {
      seq: this.board.seq,
      open: this.board.open,
      page: this.board.page,
      pages: this.board.pages.length,
      canDraw: this.canDraw,
      shown: !this.panel.hidden,
      elements: [...this.board.elems.values()]
        .sort((a, b) => num(a.id) - num(b.id))
        .map((e) => ({ id: num(e.id), page: num(e.page), shape: e.shape, points: e.points || [], color: e.color || '', text: e.text || '', imageId: e.imageId || '' })),
    };
  }
}
