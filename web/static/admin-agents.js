// admin-agents.js — accounts: list with presence now, add, edit (name,
// email, role, disabled, password reset), remove, and API keys per account.

import { api, node, button, confirmButton, table, when, showError } from './admin-ui.js';

const $ = (id) => document.getElementById(id);
let me = null;

export async function showAgents(who) {
  me = who;
  await load();
}

async function load() {
  const res = await api('GET', '/api/admin/agents');
  $('agents-count').textContent = res.agents.length;
  const admin = me.role === 'admin';
  table($('agents-table'), [
    { title: 'Id', cell: (a) => a.id },
    { title: 'Name', cell: (a) => a.name },
    { title: 'Email', cell: (a) => a.email },
    { title: 'Role', cell: (a) => a.role || 'agent' },
    { title: 'Now', cell: (a) => node('span', `presence presence-${a.presence}`, a.disabled ? 'disabled' : a.presence) },
    { title: 'Visitors', cell: (a) => (a.presence === 'unknown' ? '' : `${a.visitors} (${a.requests} waiting)`) },
    { title: 'Created', cell: (a) => when(a.createdAtMs) },
    {
      title: '', className: 'actions',
      cell: (a) => (admin ? [button('Edit', '', () => edit(a)), button('Keys', '', () => keys(a)),
        confirmButton('Delete', a.id, () => remove(a))] : ''),
    },
  ], res.agents, { rowId: (a) => a.id });
}

$('agent-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('agent-form-error').textContent = '';
  const created = $('agent-created');
  created.hidden = true;
  const body = {
    id: $('agent-new-id').value.trim(),
    role: $('agent-new-role').value,
    email: $('agent-new-email').value.trim(),
  };
  if ($('agent-new-name').value.trim()) body.name = $('agent-new-name').value.trim();
  if ($('agent-new-password').value) body.password = $('agent-new-password').value;
  try {
    const res = await api('POST', '/api/admin/agents', body);
    created.textContent = res.password
      ? `Account ${res.agent.id} created. Password (shown once): ${res.password}`
      : `Account ${res.agent.id} created.`;
    created.hidden = false;
    $('agent-form').reset();
    await load();
  } catch (e) {
    $('agent-form-error').textContent = e.message;
  }
});

function detail() {
  const d = $('agent-detail');
  d.hidden = false;
  d.replaceChildren();
  return d;
}

function field(label, input) {
  const f = node('div', 'field');
  const l = node('label', '', label);
  const id = `edit-${label.toLowerCase().replace(/\W+/g, '-')}`;
  input.id = id;
  l.htmlFor = id;
  f.append(l, input);
  return f;
}

function edit(a) {
  const d = detail();
  const form = node('form', 'admin-form');
  form.dataset.agent = a.id;
  const name = node('input'); name.type = 'text'; name.value = a.name; name.maxLength = 64;
  const email = node('input'); email.type = 'email'; email.value = a.email;
  const role = node('select');
  for (const [v, t] of [['', 'agent'], ['supervisor', 'supervisor'], ['admin', 'admin']]) {
    const o = node('option', '', t); o.value = v; o.selected = v === (a.role || ''); role.append(o);
  }
  const disabled = node('input'); disabled.type = 'checkbox'; disabled.checked = a.disabled;
  const reset = node('input'); reset.type = 'checkbox';
  const resetTotp = node('input'); resetTotp.type = 'checkbox';
  const out = node('p', 'secret-once'); out.hidden = true;
  const err = node('p', 'form-error');
  const grid = node('div', 'grid');
  grid.append(field('Name', name), field('Email', email), field('Role', role), field('Disabled', disabled),
    field('Reset password', reset), field('Turn two-step login off', resetTotp));
  const save = node('button', 'btn btn-primary', 'Save'); save.type = 'submit';
  form.append(node('h3', '', `Edit ${a.id}`), grid, err, save, out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const res = await api('PATCH', `/api/admin/agents/${encodeURIComponent(a.id)}`, {
        name: name.value, email: email.value, role: role.value, disabled: disabled.checked, resetPassword: reset.checked, resetTotp: resetTotp.checked,
      });
      if (res.password) {
        out.textContent = `New password for ${a.id} (shown once): ${res.password}`;
        out.hidden = false;
      }
      await load();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  d.append(form);
}

async function keys(a) {
  const d = detail();
  const box = node('div');
  box.dataset.keysOf = a.id;
  const list = node('div', 'table-wrap');
  const shown = node('p', 'secret-once'); shown.hidden = true;
  const label = node('input'); label.type = 'text'; label.placeholder = 'label'; label.maxLength = 100;
  const draw = async () => {
    const res = await api('GET', `/api/admin/agents/${encodeURIComponent(a.id)}/keys`);
    table(list, [
      { title: 'Prefix', cell: (k) => k.prefix },
      { title: 'Label', cell: (k) => k.name },
      { title: 'Created', cell: (k) => when(k.createdAtMs) },
      {
        title: '', className: 'actions',
        cell: (k) => confirmButton('Revoke', k.prefix, async () => {
          await api('DELETE', `/api/admin/agents/${encodeURIComponent(a.id)}/keys/${encodeURIComponent(k.prefix)}?confirm=${encodeURIComponent(k.prefix)}`);
          await draw();
        }),
      },
    ], res.keys);
  };
  const add = button('Create key', 'btn-primary', async () => {
    try {
      const res = await api('POST', `/api/admin/agents/${encodeURIComponent(a.id)}/keys`, { name: label.value });
      shown.textContent = `New key (shown once, keep it secret): ${res.key}`;
      shown.hidden = false;
      await draw();
    } catch (e) {
      showError(e);
    }
  });
  box.append(node('h3', '', `API keys of ${a.id}`), list, label, add, shown);
  d.append(box);
  await draw();
}

async function remove(a) {
  try {
    await api('DELETE', `/api/admin/agents/${encodeURIComponent(a.id)}?confirm=${encodeURIComponent(a.id)}`);
    $('agent-detail').hidden = true;
    await load();
  } catch (e) {
    showError(e);
  }
}
