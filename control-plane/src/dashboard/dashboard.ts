// Serves the dashboard page (`GET /dashboard` on the admin port): one self-contained HTML document, inline CSS and
// script, no external assets, locked down by a Content-Security-Policy that allows only that script and style.
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { DASHBOARD_SCRIPT } from './dashboard-script.js';

/** Where the dashboard is served on the admin port. */
export const DASHBOARD_PATH = '/dashboard';

const STYLE = `
:root { color-scheme: light; --fg: #1d2433; --muted: #6b7a90; --line: #d8dee8; --bg: #f6f8fb; --good: #1a7f37; --warn: #9a6700; --bad: #cf222e; --accent: #3b5bdb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 16px; padding: 12px 20px; background: #1d2433; color: #fff; }
header h1 { margin: 0; font-size: 18px; letter-spacing: .5px; }
header #updated { margin-left: auto; font-size: 12px; color: #c9d1e0; }
header #updated.bad { color: #ffb3b8; }
main { padding: 16px 20px; display: grid; gap: 16px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; overflow-x: auto; }
h2 { margin: 0 0 10px; font-size: 16px; } h2 small { font-weight: normal; color: var(--muted); font-size: 12px; }
h3 { margin: 14px 0 6px; font-size: 14px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th { text-align: left; font-size: 11px; letter-spacing: .4px; color: var(--muted); border-bottom: 1px solid var(--line); padding: 4px 8px; }
td { padding: 4px 8px; border-bottom: 1px solid #eef1f6; vertical-align: top; }
tr.selected td { background: #eef2ff; }
tbody tr[data-service] { cursor: pointer; }
.muted { color: var(--muted); fill: var(--muted); }
.good { color: var(--good); } .warn { color: var(--warn); } .bad { color: var(--bad); }
.errors { border-left: 4px solid var(--bad); padding: 4px 12px; background: #fff5f5; margin: 8px 0; }
.nack-message { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; word-break: break-word; color: var(--bad); }
a { color: var(--accent); }
svg text { font: 12px system-ui, sans-serif; fill: var(--fg); }
.graph .node rect { fill: #fff; stroke: #9aa8bd; stroke-width: 1.5; }
.graph .node.selected rect { stroke: var(--accent); stroke-width: 3; }
.graph .node.good rect { stroke: var(--good); } .graph .node.warn rect { stroke: var(--warn); } .graph .node.bad rect { stroke: var(--bad); }
.graph .node { cursor: pointer; }
.graph .node-name { font-weight: 600; font-size: 14px; }
.graph .node-stat { font-size: 11px; }
.graph .edge path { stroke: #6b7a90; stroke-width: 1.6; }
.graph .edge.bad path { stroke: var(--bad); } .graph .edge.warn path { stroke: var(--warn); }
.graph .edge-label { font-size: 11px; paint-order: stroke; stroke: #fff; stroke-width: 4px; }
.chart .grid { stroke: #eef1f6; } .chart .axis { font-size: 11px; fill: var(--muted); }
.chart .p50-line { stroke: #3b5bdb; stroke-width: 2; } .chart .p99-line { stroke: #e8590c; stroke-width: 2; } .chart .rps-line { stroke: #2f9e44; stroke-width: 1.5; stroke-dasharray: 4 3; }
.chart .p50-text { fill: #3b5bdb; } .chart .p99-text { fill: #e8590c; } .chart .rps-text { fill: #2f9e44; }
input { padding: 6px 8px; border: 1px solid var(--line); border-radius: 4px; width: 320px; } button { padding: 6px 12px; margin-left: 8px; }
code { font-family: ui-monospace, monospace; background: #eef1f6; padding: 1px 4px; border-radius: 3px; }
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The page. Data arrives only through fetch() calls carrying the operator token. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Weft dashboard</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>Weft</h1><span>service mesh dashboard</span><span id="updated">loading…</span></header>
<main id="app"></main>
<script>${DASHBOARD_SCRIPT}</script>
</body>
</html>
`;

/** Only the inline script and style above may run; data comes from this origin only; no framing. */
const CSP = [
  "default-src 'none'",
  `script-src ${sha256(DASHBOARD_SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Answers `GET`/`HEAD /dashboard` with the page and returns true; returns false (touching nothing) for any other
 * request. The page holds no data, so it needs no token; every call it makes does.
 */
export function serveDashboard(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const pathname = (req.url ?? '/').split('?')[0];
  if (pathname !== DASHBOARD_PATH && pathname !== `${DASHBOARD_PATH}/`) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  req.resume();
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(DASHBOARD_HTML),
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : DASHBOARD_HTML);
  return true;
}
