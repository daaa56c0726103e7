// admin-webhooks.js — webhook receivers (server-wide or per agent), their
// secrets (shown once) and their last deliveries with the answers.

import { api, node, button, confirmButton, table, when, showError } from './admin-ui.js';

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
let typesShown = false;

export async function showWebhooks() {
  const res = await api('GET', '/api/admin/webhooks');
  if (!typesShown) {
    for (const t of res.types) {
      const l = node('label');
      const c = node('input');
      c.type = 'checkbox';
      c.value = t;
      l.append(c, ` ${t}`);
      $('hook-events').append(l);
    }
    typesShown = true;
  }
  table($('hooks-table'), [
    { title: 'URL', cell: (h) => h.url },
    { title: 'Agent', cell: (h) => h.agentId || 'all (server-wide)' },
    { title: 'Events', cell: (h) => (h.events && h.events.length ? h.events.join(', ') : 'all') },
    { title: 'Waiting', cell: (h) => h.pending },
    { title: 'Created', cell: (h) => when(h.createdAtMs) },
    {
      title: '', className: 'actions',
      cell: (h) => [button('Deliveries', '', () => deliveries(h)), confirmButton('Delete', h.id, async () => {
        try { await api('DELETE', `/api/admin/webhooks/${enc(h.id)}?confirm=${enc(h.id)}`); await showWebhooks(); } catch (e) { showError(e); }
      })],
    },
  ], res.webhooks, { rowId: (h) => h.id });
}

async function deliveries(h) {
  const res = await api('GET', `/api/admin/webhooks/${enc(h.id)}/deliveries`);
  const box = $('hook-deliveries');
  box.replaceChildren(node('h3', '', `Last deliveries to ${h.url}`));
  const t = node('div');
  box.append(t);
  table(t, [
    { title: 'When', cell: (d) => when(d.atMs) },
    { title: 'Event', cell: (d) => d.type },
    { title: 'Try', cell: (d) => d.attempt },
    { title: 'Answer', cell: (d) => (d.status ? String(d.status) : '—') },
    { title: 'Error', cell: (d) => d.error || '' },
    { title: 'Body', cell: (d) => d.answer || '' },
  ], res.deliveries);
}

$('hook-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('hook-error').textContent = '';
  const events = [...document.querySelectorAll('#hook-events input:checked')].map((c) => c.value);
  try {
    const res = await api('POST', '/api/admin/webhooks', { url: $('hook-url').value.trim(), agentId: $('hook-agent').value.trim(), events });
    $('hook-secret').textContent = `Signing secret (shown once): ${res.secret}`;
    $('hook-secret').hidden = false;
    $('hook-form').reset();
    await showWebhooks();
  } catch (e) {
    $('hook-error').textContent = e.message;
  }
});
