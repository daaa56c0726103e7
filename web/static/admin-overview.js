// admin-overview.js — what is happening now, and the last hour as small
// charts from the node's own sampled counters.

import { api, node, lineChart } from './admin-ui.js';

const SERIES = [
  ['sockets', 'Sessions open'],
  ['rooms', 'Rooms active'],
  ['calls', 'In calls'],
  ['agentPages', 'Agent pages'],
  ['nodes', 'Nodes'],
];

let timer = 0;

export async function showOverview() {
  clearInterval(timer);
  await draw();
  timer = setInterval(() => {
    if (document.body.dataset.view !== 'overview' || document.hidden) return;
    draw().catch(() => {});
  }, 10000);
}

async function draw() {
  const [ov, agents] = await Promise.all([api('GET', '/api/admin/overview'), api('GET', '/api/admin/agents')]);
  const online = agents.agents.filter((a) => a.presence === 'online' || a.presence === 'away').length;
  const now = document.getElementById('overview-now');
  now.replaceChildren();
  const stat = (label, value, key) => {
    const s = node('div', 'stat');
    s.dataset.stat = key;
    s.append(node('b', '', value), node('span', 'small muted', label));
    now.append(s);
  };
  stat('Nodes', ov.nodes, 'nodes');
  stat('Sessions open', ov.now.sockets || 0, 'sockets');
  stat('Rooms active', ov.now.rooms || 0, 'rooms');
  stat('In calls', ov.now.calls || 0, 'calls');
  stat('Agents online', online, 'agents');
  const charts = document.getElementById('overview-charts');
  charts.replaceChildren();
  for (const [key, title] of SERIES) {
    const values = ov.series.map((s) => s[key] || 0);
    charts.append(lineChart(title, values, values.length ? values[values.length - 1] : 0));
  }
  const chat = ov.series.map((s, i, a) => (i === 0 ? 0 : Math.max(0, (s.chat || 0) - (a[i - 1].chat || 0))));
  charts.append(lineChart('Chat messages per sample', chat, chat.length ? chat[chat.length - 1] : 0));
}
