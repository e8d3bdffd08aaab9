// The dashboard's browser script, as a string: polls the admin API with the operator token and draws the service graph,
// the per-service chart, the configuration's status (NACKs included) and the connected instances. Every piece of
// data becomes a text node or an attribute value (never HTML), so no resource name or NACK message can inject markup.

/** The script's source (plain ES2020, no imports, no external assets). */
export const DASHBOARD_SCRIPT = String.raw`
'use strict';
const POLL_MS = 2000;
const TYPES = [
  ['type.googleapis.com/envoy.config.listener.v3.Listener', 'LDS'],
  ['type.googleapis.com/envoy.config.route.v3.RouteConfiguration', 'RDS'],
  ['type.googleapis.com/envoy.config.cluster.v3.Cluster', 'CDS'],
  ['type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', 'EDS'],
  ['type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', 'SDS'],
];
const shortType = (url) => (TYPES.find((t) => t[0] === url) || [url, url.replace(/^.*\./, '')])[1];
const SVG = 'http://www.w3.org/2000/svg';
const state = { selected: sessionStorage.getItem('weft.selected') || '', stats: null, status: null, resources: null, series: null, error: '' };

// The token arrives once in the fragment (never sent to the server), then lives in this tab's sessionStorage only.
(function takeToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('weft.token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
})();

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const fmtRps = (v) => (v === undefined || v === null ? '-' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const fmtPct = (v) => (v === undefined || v === null ? '-' : (v * 100).toFixed(v === 1 ? 0 : 2) + '%');
const fmtMs = (v) => (v === undefined || v === null ? '-' : v >= 100 ? Math.round(v) + 'ms' : v >= 10 ? v.toFixed(1) + 'ms' : v.toFixed(2) + 'ms');
function fmtDuration(ms) {
  if (!isFinite(ms)) return '-';
  const neg = ms < 0;
  let sec = Math.round(Math.abs(ms) / 1000);
  const d = Math.floor(sec / 86400); sec -= d * 86400;
  const hh = Math.floor(sec / 3600); sec -= hh * 3600;
  const mm = Math.floor(sec / 60); sec -= mm * 60;
  const text = d > 0 ? d + 'd' + hh + 'h' : hh > 0 ? hh + 'h' + mm + 'm' : mm > 0 ? mm + 'm' + sec + 's' : sec + 's';
  return neg ? text + ' ago' : text;
}
const successClass = (v) => (v === undefined || v === null ? '' : v >= 0.99 ? 'good' : v >= 0.95 ? 'warn' : 'bad');

async function api(path) {
  const token = sessionStorage.getItem('weft.token');
  if (!token) throw Object.assign(new Error('no token'), { status: 401 });
  const res = await fetch(path, { headers: { authorization: 'Bearer ' + token }, cache: 'no-store' });
  if (res.status === 401) throw Object.assign(new Error('the operator token was refused'), { status: 401 });
  const body = await res.json();
  if (!res.ok) throw new Error(path + ': ' + (body.error || res.status));
  return body;
}

async function poll() {
  try {
    const [stats, status, resources] = await Promise.all([api('/v1/stats?window=1m'), api('/v1/status'), api('/v1/resources')]);
    state.stats = stats; state.status = status; state.resources = resources;
    const names = serviceNames();
    if (!names.includes(state.selected)) state.selected = stats.services.find((x) => x.requests > 0)?.service || names[0] || '';
    state.series = state.selected ? await api('/v1/stats/series?service=' + encodeURIComponent(state.selected) + '&range=5m&step=5s') : null;
    state.error = '';
  } catch (e) {
    state.error = e.message;
    if (e.status === 401) { sessionStorage.removeItem('weft.token'); render(); return; }
  }
  render();
}

function serviceNames() {
  const set = new Set();
  for (const x of state.stats?.services || []) set.add(x.service);
  for (const e of state.stats?.edges || []) { set.add(e.source); set.add(e.destination); }
  return [...set].sort();
}

function select(service) {
  state.selected = service;
  sessionStorage.setItem('weft.selected', service);
  poll();
}

function render() {
  const root = document.getElementById('app');
  const token = sessionStorage.getItem('weft.token');
  document.getElementById('updated').textContent = state.error ? 'error: ' + state.error : state.stats ? 'updated ' + new Date(state.stats.atMs).toLocaleTimeString() : 'loading…';
  document.getElementById('updated').className = state.error ? 'bad' : '';
  if (!token) {
    const input = h('input', { type: 'password', id: 'token-input', placeholder: 'operator token', autocomplete: 'off' });
    root.replaceChildren(h('section', { class: 'panel' }, h('h2', {}, 'Operator token'),
      h('p', {}, 'Run ', h('code', {}, 'weft dashboard'), ' to open this page with the token, or paste it here (kept in this tab only).'),
      h('form', { onsubmit: (ev) => { ev.preventDefault(); sessionStorage.setItem('weft.token', input.value.trim()); poll(); } }, input, h('button', { type: 'submit' }, 'Connect'))));
    return;
  }
  if (!state.stats) return;
  root.replaceChildren(
    h('section', { class: 'panel', id: 'graph-panel' }, h('h2', {}, 'Service graph ', h('small', {}, 'last minute; edges: calls as the caller saw them')), graph()),
    h('section', { class: 'panel', id: 'services-panel' }, h('h2', {}, 'Services'), servicesTable()),
    h('section', { class: 'panel', id: 'service-panel' }, servicePage()),
    h('section', { class: 'panel', id: 'config-panel' }, h('h2', {}, 'Configuration'), configPanel()),
    h('section', { class: 'panel', id: 'instances-panel' }, h('h2', {}, 'Instances'), instancesTable()),
  );
}

function graph() {
  const names = serviceNames();
  const edges = state.stats.edges;
  if (names.length === 0) return h('p', { class: 'muted' }, 'No traffic reported yet.');
  // Columns by longest path from a caller that nobody calls; cycles are cut after names.length rounds.
  const depth = new Map(names.map((n) => [n, 0]));
  for (let round = 0; round < names.length; round++) {
    let changed = false;
    for (const e of edges) if (e.source !== e.destination && depth.get(e.destination) < depth.get(e.source) + 1 && depth.get(e.source) + 1 < names.length) { depth.set(e.destination, depth.get(e.source) + 1); changed = true; }
    if (!changed) break;
  }
  const columns = [];
  for (const n of names) (columns[depth.get(n)] ||= []).push(n);
  const W = 190, H = 64, GX = 120, GY = 40;
  const pos = new Map();
  columns.forEach((col, c) => col.forEach((n, r) => pos.set(n, { x: 20 + c * (W + GX), y: 20 + r * (H + GY) })));
  const width = 40 + columns.length * (W + GX) - GX;
  const height = 40 + Math.max(...columns.map((c) => c.length)) * (H + GY) - GY;
  const svg = s('svg', { viewBox: '0 0 ' + width + ' ' + height, width, height, class: 'graph', role: 'img', 'aria-label': 'service graph' },
    s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#6b7a90' }))));
  for (const e of edges) {
    const a = pos.get(e.source), b = pos.get(e.destination);
    if (!a || !b) continue;
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    const back = x2 <= x1;
    const d = back ? 'M' + (a.x + W / 2) + ',' + (a.y + H) + ' C' + (a.x + W / 2) + ',' + (a.y + H + 60) + ' ' + (b.x + W / 2) + ',' + (b.y + H + 60) + ' ' + (b.x + W / 2) + ',' + (b.y + H)
      : 'M' + x1 + ',' + y1 + ' C' + (x1 + GX / 2) + ',' + y1 + ' ' + (x2 - GX / 2) + ',' + y2 + ' ' + x2 + ',' + y2;
    const mx = back ? (a.x + b.x + W) / 2 : (x1 + x2) / 2, my = back ? Math.max(a.y, b.y) + H + 50 : (y1 + y2) / 2;
    svg.append(s('g', { class: 'edge ' + successClass(e.successRate), 'data-source': e.source, 'data-destination': e.destination },
      s('path', { d, fill: 'none', 'marker-end': 'url(#arrow)' }),
      s('text', { x: mx, y: my - 14, 'text-anchor': 'middle', class: 'edge-label' }, fmtRps(e.rps) + ' rps'),
      s('text', { x: mx, y: my - 2, 'text-anchor': 'middle', class: 'edge-label' }, fmtPct(e.successRate) + ' · p99 ' + fmtMs(e.p99Ms))));
  }
  const byName = new Map(state.stats.services.map((x) => [x.service, x]));
  for (const n of names) {
    const p = pos.get(n), st = byName.get(n);
    const g = s('g', { class: 'node ' + (n === state.selected ? 'selected ' : '') + successClass(st?.successRate), 'data-service': n, tabindex: 0 },
      s('rect', { x: p.x, y: p.y, width: W, height: H, rx: 8 }),
      s('text', { x: p.x + 10, y: p.y + 22, class: 'node-name' }, n),
      s('text', { x: p.x + 10, y: p.y + 42, class: 'node-stat' }, st && st.requests > 0 ? fmtRps(st.rps) + ' rps · ' + fmtPct(st.successRate) + ' · p99 ' + fmtMs(st.p99Ms) : st ? 'no inbound traffic' : 'not reporting'),
      s('text', { x: p.x + 10, y: p.y + 57, class: 'node-stat muted' }, st ? st.meshed + ' instance' + (st.meshed === 1 ? '' : 's') : ''));
    g.addEventListener('click', () => select(n));
    svg.append(g);
  }
  return svg;
}

function table(headers, rows, attrs) {
  return h('table', attrs || {}, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows));
}

function servicesTable() {
  return table(['NAME', 'MESHED', 'SUCCESS', 'RPS', 'P50', 'P95', 'P99', 'OUTBOUND RPS'], state.stats.services.map((x) =>
    h('tr', { class: x.service === state.selected ? 'selected' : '', 'data-service': x.service, onclick: () => select(x.service) },
      h('td', {}, h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); select(x.service); } }, x.service)), h('td', {}, x.meshed), h('td', { class: successClass(x.successRate) }, fmtPct(x.successRate)),
      h('td', { class: 'rps' }, fmtRps(x.rps)), h('td', {}, fmtMs(x.p50Ms)), h('td', {}, fmtMs(x.p95Ms)), h('td', {}, fmtMs(x.p99Ms)), h('td', {}, fmtRps(x.outbound.rps)))), { id: 'services' });
}

function servicePage() {
  const name = state.selected;
  if (!name) return h('p', { class: 'muted' }, 'Select a service.');
  const routes = state.stats.routes.filter((r) => r.service === name);
  return [
    h('h2', {}, 'Service ', h('span', { id: 'selected-service' }, name)),
    chart(state.series?.points || []),
    h('h3', {}, 'Routes'),
    routes.length === 0 ? h('p', { class: 'muted' }, 'No traffic to it in the last minute.') :
      table(['ROUTE', 'SEEN BY', 'SUCCESS', 'RPS', 'P50', 'P95', 'P99'], routes.map((r) => h('tr', {},
        h('td', {}, r.route || '[default]'), h('td', {}, r.direction === 'inbound' ? 'the service' : 'its callers'), h('td', { class: successClass(r.successRate) }, fmtPct(r.successRate)),
        h('td', {}, fmtRps(r.rps)), h('td', {}, fmtMs(r.p50Ms)), h('td', {}, fmtMs(r.p95Ms)), h('td', {}, fmtMs(r.p99Ms))))),
  ];
}

function chart(points) {
  const W = 720, H = 220, L = 56, R = 56, T = 16, B = 28;
  const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'chart', role: 'img', 'aria-label': 'latency and request rate over the last 5 minutes' });
  // Start where the traffic starts (one empty point before it), not 5 minutes of zeros before a new service's first call.
  const first = points.findIndex((p) => p.rps > 0);
  points = first < 0 ? [] : points.slice(Math.max(0, first - 1));
  if (points.length < 2) { svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'muted' }, 'collecting…')); return svg; }
  const t0 = points[0].atMs, t1 = points[points.length - 1].atMs;
  const maxMs = Math.max(1, ...points.map((p) => p.p99Ms || 0)) * 1.1;
  const maxRps = Math.max(1, ...points.map((p) => p.rps)) * 1.1;
  const X = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const Yms = (v) => T + (1 - v / maxMs) * (H - T - B);
  const Yrps = (v) => T + (1 - v / maxRps) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const y = T + (i / 4) * (H - T - B);
    svg.append(s('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }),
      s('text', { x: L - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, fmtMs(maxMs * (1 - i / 4))),
      s('text', { x: W - R + 6, y: y + 4, class: 'axis' }, fmtRps(maxRps * (1 - i / 4))));
  }
  svg.append(s('text', { x: L, y: H - 8, class: 'axis' }, fmtDuration(t0 - t1)), s('text', { x: W - R, y: H - 8, 'text-anchor': 'end', class: 'axis' }, 'now'));
  const line = (cls, f, y) => s('polyline', { class: cls, fill: 'none', points: points.filter((p) => f(p) !== undefined && f(p) !== null).map((p) => X(p.atMs).toFixed(1) + ',' + y(f(p)).toFixed(1)).join(' ') });
  svg.append(line('rps-line', (p) => p.rps, Yrps), line('p99-line', (p) => p.p99Ms, Yms), line('p50-line', (p) => p.p50Ms, Yms));
  svg.append(s('g', { class: 'legend' },
    s('text', { x: L + 8, y: T + 12, class: 'p50-text' }, 'p50'), s('text', { x: L + 44, y: T + 12, class: 'p99-text' }, 'p99'), s('text', { x: L + 80, y: T + 12, class: 'rps-text' }, 'RPS (right axis)')));
  return svg;
}

function configPanel() {
  const status = state.status;
  const nacks = status.clients.flatMap((c) => c.types.filter((t) => t.nack).map((t) => ({ c, t })));
  const res = state.resources.resources;
  return [
    h('p', {}, 'Generation ', h('strong', {}, status.generation), ' · ', res.length + ' resources · ', status.clients.length + ' xDS clients · ',
      h('span', { class: nacks.length ? 'bad' : 'good', id: 'nack-count' }, nacks.length + ' NACK' + (nacks.length === 1 ? '' : 's'))),
    status.configErrors.length ? h('div', { class: 'errors' }, h('h3', {}, 'Config directory errors (the last good config is served)'), h('ul', {}, status.configErrors.map((e) => h('li', {}, (e.file || '') + ' ' + (e.resource || '') + ' ' + (e.path || '') + ': ' + e.message)))) : null,
    nacks.length ? h('div', { class: 'errors', id: 'nacks' }, h('h3', {}, 'NACKs (the client refused the update and keeps its last good config)'),
      table(['CLIENT', 'SERVICE', 'TYPE', 'VERSION', 'WHEN', 'ERROR'], nacks.map(({ c, t }) => h('tr', { class: 'nack' },
        h('td', {}, c.nodeId), h('td', {}, c.service || '-'), h('td', {}, shortType(t.typeUrl)), h('td', {}, t.nack.version), h('td', {}, fmtDuration(t.nack.atMs - Date.now())), h('td', { class: 'nack-message' }, t.nack.message))))) : null,
    h('h3', {}, 'Resources'),
    table(['KIND', 'NAME', 'NAMESPACE', 'SOURCE'], res.map((r) => h('tr', {}, h('td', {}, r.kind), h('td', {}, r.metadata.name), h('td', {}, r.metadata.namespace || '-'), h('td', { class: 'muted' }, r.source || '-'))), { id: 'resources' }),
  ];
}

function instancesTable() {
  const reported = new Map((state.stats.instances || []).map((i) => [i.nodeId, i]));
  const clients = new Map(state.status.clients.map((c) => [c.nodeId, c]));
  const ids = [...new Set([...reported.keys(), ...clients.keys()])].sort();
  const now = Date.now();
  return table(['NODE', 'SERVICE', 'ADDRESS', 'IDENTITY', 'VERSION', ...TYPES.map((t) => t[1]), 'CERT EXPIRES', 'LAST REPORT'], ids.map((id) => {
    const r = reported.get(id), c = clients.get(id);
    return h('tr', { 'data-node': id },
      h('td', {}, id), h('td', {}, r?.service || c?.service || '-'), h('td', {}, r?.instance || c?.peer || '-'), h('td', { class: 'muted' }, r?.identity || c?.identity || 'anonymous'),
      h('td', {}, r?.sdkVersion || c?.userAgent || '-'),
      TYPES.map(([url]) => { const t = c?.types.find((x) => x.typeUrl === url); return h('td', { class: t?.nack ? 'bad' : '' }, !t ? '-' : (t.ackedVersion || '-') + (t.nack ? ' NACK' : t.sentVersion && t.sentVersion !== t.ackedVersion ? ' (sent ' + t.sentVersion + ')' : '')); }),
      h('td', { class: r?.certificateExpiresAtMs && r.certificateExpiresAtMs - now < 3600000 ? 'warn' : '' }, r?.certificateExpiresAtMs ? 'in ' + fmtDuration(r.certificateExpiresAtMs - now) : '-'),
      h('td', { class: r && !r.live ? 'bad' : '' }, r ? fmtDuration(r.lastReportAtMs - now) : 'not reporting'));
  }), { id: 'instances' });
}

render();
poll();
setInterval(poll, POLL_MS);
`;
