// admin-ui.js — what every admin panel view shares: the API call, DOM
// builders that only ever set text (never HTML), tables, a two-step delete
// button and a small line chart.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/** api calls the admin API with the login cookie and returns parsed JSON. */
export async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (r.status === 204) return null;
  let data = null;
  try { data = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(r.status, e.code, e.message);
  }
  return data;
}

export function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined && text !== null) n.textContent = String(text);
  return n;
}

export function button(text, className, onClick) {
  const b = node('button', `btn btn-small ${className || ''}`.trim(), text);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

/** confirmButton asks twice: the first click arms it, the second acts. */
export function confirmButton(text, what, onConfirm) {
  const b = button(text, 'btn-danger', async () => {
    if (b.dataset.armed !== '1') {
      b.dataset.armed = '1';
      b.textContent = `Really delete ${what}?`;
      setTimeout(() => { if (b.isConnected && b.dataset.armed === '1') { b.dataset.armed = ''; b.textContent = text; } }, 8000);
      return;
    }
    b.disabled = true;
    try { await onConfirm(); } finally { b.disabled = false; b.dataset.armed = ''; b.textContent = text; }
  });
  b.dataset.confirm = what;
  return b;
}

export function link(href, text, download) {
  const a = node('a', '', text);
  a.href = href;
  if (download) a.setAttribute('download', '');
  return a;
}

export function when(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString();
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do { v /= 1024; i += 1; } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * table renders rows into container. columns: [{title, cell: row => string|Node}].
 * Strings become text nodes, so markup in any value shows as text.
 */
export function table(container, columns, rows, { append = false, rowId } = {}) {
  let tbody = container.querySelector('tbody');
  if (!append || !tbody) {
    container.replaceChildren();
    const t = node('table');
    const head = node('tr');
    for (const c of columns) head.append(node('th', '', c.title));
    t.append(node('thead'), (tbody = node('tbody')));
    t.tHead.append(head);
    container.append(t);
  }
  rows = rows || [];
  for (const row of rows) {
    const tr = node('tr');
    if (rowId) tr.dataset.id = rowId(row);
    for (const c of columns) {
      const td = node('td', c.className || '');
      // The box inside the cell bounds its width both ways, so a phone
      // scrolls the table sideways instead of breaking words letter by letter.
      const box = node('div', 'cell');
      const v = c.cell(row);
      if (v instanceof Node) box.append(v);
      else if (Array.isArray(v)) box.append(...v);
      else box.textContent = v === undefined || v === null ? '' : String(v);
      td.append(box);
      tr.append(td);
    }
    tbody.append(tr);
  }
  if (!append && rows.length === 0) container.append(node('p', 'muted small', 'Nothing found.'));
}

export function showError(err) {
  const b = document.getElementById('admin-error');
  b.textContent = err instanceof Error ? err.message : String(err);
  b.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { b.hidden = true; }, 8000);
}

/** pager wires a "More" button to a loader that takes the next cursor. */
export function pager(moreButton, load) {
  let next = '';
  moreButton.addEventListener('click', async () => {
    try { next = await load(next, true); moreButton.hidden = !next; } catch (e) { showError(e); }
  });
  return async () => {
    try { next = await load('', false); moreButton.hidden = !next; } catch (e) { showError(e); }
  };
}

const SVG = 'http://www.w3.org/2000/svg';

/** lineChart draws values (oldest first) as a polyline scaled to its own max. */
export function lineChart(title, values, latest) {
  const box = node('figure', 'chart');
  const cap = node('figcaption', 'small');
  cap.append(node('span', '', `${title} `), node('b', '', latest));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 100 40');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${title}, last hour`);
  const top = Math.max(1, ...values);
  const n = Math.max(values.length - 1, 1);
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', values.map((v, i) => `${(i / n) * 100},${38 - (v / top) * 36}`).join(' '));
  svg.append(line);
  box.append(cap, svg);
  return box;
}
