// `weft stat [service]`, `weft top [service]` and `weft dashboard`: the traffic every process reports, as
// `linkerd viz stat` prints it, refreshed live, or in the browser.
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { StatsView } from '../../control-plane/src/admin/stats-routes.js';
import type { EdgeStats, RouteStats, TrafficStats } from '../../control-plane/src/telemetry/traffic-views.js';
import { CliError, adminClientFor, type AdminClient } from '../admin-client.js';
import { json, table, type CliIo } from '../output.js';

/** Usage text of `weft stat`. */
export const STAT_USAGE = `Usage: weft stat [service] [--window 1m] [-o table|wide|json] [--server <url>] [--token <t>]

Per service (or, given a service, per route of it): MESHED instances reporting, SUCCESS rate, RPS and latency
percentiles over the window (default 1m, at most 15m), from the traffic summaries every meshed process reports to the
control plane every 10 s. A service's own numbers are what its instances served; its routes are as its callers saw
them (Weft matches routes on the caller's side). -o wide adds retries and the edges between services (source ->
destination, as the caller saw them); -o json prints everything the admin API answers.`;

/** Usage text of `weft top`. */
export const TOP_USAGE = `Usage: weft top [service] [--window 1m] [--interval 2s] [--iterations N] [-o table|wide] [--server <url>] [--token <t>]

Prints 'weft stat' (with the edges between services) every --interval (default 2s) until interrupted, or N times
with --iterations. On a terminal the screen is cleared before each refresh.`;

/** Usage text of `weft dashboard`. */
export const DASHBOARD_USAGE = `Usage: weft dashboard [--open] [--server <url>] [--token <t>]

Prints the address of the control plane's dashboard with the operator token in its fragment (#token=...: the browser
keeps it in the tab's sessionStorage and never sends it in a URL), and with --open opens it in the default browser.
Anyone who sees this address can use the admin API: do not paste it into chats or tickets.`;

const OPTIONS = {
  window: { type: 'string' },
  output: { type: 'string', short: 'o' },
  server: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Runs `weft stat`; exit 0 (also when nothing was reported: the table says so). */
export async function runStat(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true });
  if (values.help) {
    io.out(STAT_USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new CliError(STAT_USAGE, 2);
  const format = statFormat(values.output, ['table', 'wide', 'json']);
  const client = await adminClientFor(values, io.env);
  const stats = await fetchStats(client, positionals[0], values.window);
  if (format === 'json') {
    io.out(json(stats));
    return 0;
  }
  io.out(renderStats(stats, positionals[0], format === 'wide'));
  return 0;
}

/** Runs `weft top`; returns after --iterations refreshes (never, without it, until the process is interrupted). */
export async function runTop(argv: readonly string[], io: CliIo, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { ...OPTIONS, interval: { type: 'string' }, iterations: { type: 'string' } },
    allowPositionals: true,
  });
  if (values.help) {
    io.out(TOP_USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new CliError(TOP_USAGE, 2);
  const format = statFormat(values.output, ['table', 'wide']);
  const intervalMs = values.interval === undefined ? 2000 : parseInterval(values.interval);
  const iterations = values.iterations === undefined ? Infinity : Number(values.iterations);
  if (!(Number.isInteger(iterations) && iterations >= 1) && iterations !== Infinity) throw new CliError(`--iterations must be a whole number ≥ 1, not '${values.iterations}'`, 2);
  const client = await adminClientFor(values, io.env);
  for (let i = 0; i < iterations; i++) {
    if (i > 0) await sleep(intervalMs);
    const stats = await fetchStats(client, positionals[0], values.window);
    const title = `weft top — ${new Date(stats.atMs).toISOString().slice(11, 19)} UTC, window ${Math.round(stats.windowMs / 1000)}s, refreshing every ${intervalMs / 1000}s (Ctrl-C to stop)`;
    const body = `${title}\n\n${renderStats(stats, positionals[0], format === 'wide', true)}`;
    io.out(io.isTTY ? `\x1b[2J\x1b[H${body}` : `${body}\n`);
  }
  return 0;
}

/** Runs `weft dashboard`: prints the dashboard's address with the token, and opens it with --open. */
export async function runDashboard(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { server: { type: 'string' }, token: { type: 'string' }, open: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    io.out(DASHBOARD_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new CliError(DASHBOARD_USAGE, 2);
  const client = await adminClientFor(values, io.env);
  // Check the address and the token now, so a wrong one fails here and not silently in the browser.
  await client.requestOk('GET', '/v1/stats?window=1m');
  const url = `${client.base}/dashboard#token=${encodeURIComponent(client.token ?? '')}`;
  io.out(url);
  if (values.open) {
    const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
    const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
    child.on('error', (e) => io.err(`weft dashboard: could not run ${opener} (${e.message}); open the address above yourself`));
    child.unref();
  }
  return 0;
}

async function fetchStats(client: AdminClient, service: string | undefined, window: string | undefined): Promise<StatsView> {
  const q = new URLSearchParams();
  if (service !== undefined) q.set('service', service);
  if (window !== undefined) q.set('window', window);
  const query = q.toString();
  return (await client.requestOk('GET', `/v1/stats${query ? `?${query}` : ''}`)) as unknown as StatsView;
}

function statFormat<T extends string>(value: string | undefined, allowed: readonly T[]): T {
  const v = (value ?? 'table') as T;
  if (!allowed.includes(v)) throw new CliError(`-o must be ${allowed.join(', ')}, not '${value}'`, 2);
  return v;
}

function parseInterval(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text);
  const ms = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : 1000) : NaN;
  if (!(ms >= 100)) throw new CliError(`--interval must be a duration of at least 100ms (like 2s or 500ms), not '${text}'`, 2);
  return ms;
}

/** The stat table(s) as text: per service, or per route of `service`; with `edges`, the edges table below. */
export function renderStats(stats: StatsView, service: string | undefined, wide: boolean, edges = wide): string {
  const cells = (t: TrafficStats) => [formatSuccess(t), formatRps(t.rps), formatLatency(t.p50Ms), formatLatency(t.p95Ms), formatLatency(t.p99Ms), ...(wide ? [String(t.retries)] : [])];
  const tail = ['SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99', ...(wide ? ['RETRIES'] : [])];
  const out: string[] = [];
  if (service === undefined) {
    if (stats.services.length === 0) out.push('No traffic reported in the window. Meshed processes report every 10 s.');
    else out.push(table(['NAME', 'MESHED', ...tail], stats.services.map((s) => [s.service, String(s.meshed), ...cells(s)])));
  } else {
    const meshed = stats.services.find((s) => s.service === service)?.meshed ?? 0;
    const byCallers = stats.routes.filter((r) => r.service === service && r.direction === 'outbound');
    const routes: readonly RouteStats[] = byCallers.length > 0 ? byCallers : stats.routes.filter((r) => r.service === service);
    if (routes.length === 0) out.push(`No traffic to or from '${service}' reported in the window.`);
    else {
      out.push(
        table(
          ['NAME', 'ROUTE', 'MESHED', ...tail, ...(wide ? ['SEEN_BY'] : [])],
          routes.map((r) => [service, r.route === '' ? '[default]' : r.route, String(meshed), ...cells(r), ...(wide ? [r.direction === 'inbound' ? 'server' : 'callers'] : [])]),
        ),
      );
    }
  }
  if (edges && stats.edges.length > 0) {
    out.push('', table(['FROM', 'TO', ...tail], stats.edges.map((e: EdgeStats) => [e.source, e.destination, ...cells(e)])));
  }
  return out.join('\n');
}

/** `99.50%`, or `-` without requests. */
export function formatSuccess(t: TrafficStats): string {
  return t.successRate === undefined || t.requests === 0 ? '-' : `${(t.successRate * 100).toFixed(2)}%`;
}

/** `12.3rps` (one decimal; two below 1). */
export function formatRps(rps: number): string {
  return `${rps < 1 ? rps.toFixed(2) : rps.toFixed(1)}rps`;
}

/** `3ms`, `0.75ms` below 10 ms, `-` without data. */
export function formatLatency(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 10 ? `${Number(ms.toFixed(2))}ms` : `${Math.round(ms)}ms`;
}
