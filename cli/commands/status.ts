// `weft status` and `weft config-dump <node-id>`: what every connected process was sent and ACKed or NACKed.
import { parseArgs } from 'node:util';
import { formatConfigError, type ConfigError } from '../../control-plane/src/model.js';
import type { StatusView } from '../../control-plane/src/admin/admin-api.js';
import type { ClientTypeStatus } from '../../control-plane/src/server/ads-stream.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { CliError, adminClientFor, errorMessage } from '../admin-client.js';
import { json, shortDuration, table, type CliIo } from '../output.js';

/** Usage text of `weft status`. */
export const STATUS_USAGE = `Usage: weft status [-o table|json] [--server <url>] [--token <t>]

Shows the config generation and any errors in the config directory, every connected xDS client with the
version it ACKed per type (LDS RDS CDS EDS, and SDS when used; "3 (sent 4)" = an answer is pending, "!" = NACKed), each NACK
with the client's error, endpoints registered for Services that are not configured, and the convergence time (from a
change to the clients' ACKs, debounce included) at p50 and p99 over the latest pushes.`;

/** Usage text of `weft config-dump`. */
export const CONFIG_DUMP_USAGE = `Usage: weft config-dump <node-id> [--server <url>] [--token <t>]

Prints, as JSON, what the control plane last sent the connected client <node-id> (or the only one whose id
starts with it) per xDS type, with the version it ACKed and any NACK.`;

const SHORT: readonly [string, string][] = [
  [TYPE_URL.listener, 'LDS'],
  [TYPE_URL.routeConfiguration, 'RDS'],
  [TYPE_URL.cluster, 'CDS'],
  [TYPE_URL.clusterLoadAssignment, 'EDS'],
  [TYPE_URL.secret, 'SDS'],
];
const shortType = (url: string) => SHORT.find(([u]) => u === url)?.[1] ?? url;

/** Runs `weft status`; returns the exit code (0 healthy, 1 on config errors or NACKs, so scripts can gate on it). */
export async function runStatus(argv: readonly string[], io: CliIo, nowMs = Date.now()): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { output: { type: 'string', short: 'o' }, server: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    io.out(STATUS_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new CliError(STATUS_USAGE, 2);
  const client = await adminClientFor(values, io.env);
  const status = (await client.requestOk('GET', '/v1/status')) as unknown as StatusView;
  const nacks = status.clients.flatMap((c) => c.types.filter((t) => t.nack).map((t) => ({ client: c, type: t })));
  const unhealthy = status.configErrors.length > 0 || nacks.length > 0;
  if (values.output === 'json') {
    io.out(json(status));
    return unhealthy ? 1 : 0;
  }
  if (values.output !== undefined && values.output !== 'table') throw new CliError(`-o must be table or json, not '${values.output}'`, 2);

  const lines: string[] = [];
  const pushing = status.pushedGeneration !== undefined && status.pushedGeneration !== status.generation ? ` (pushed: ${status.pushedGeneration}; the latest edit waits in the push debounce)` : '';
  lines.push(`Config generation ${status.generation}${pushing}; ${status.clients.length} client${status.clients.length === 1 ? '' : 's'} connected; ${status.endpoints} endpoint${status.endpoints === 1 ? '' : 's'} registered.`);
  const conv = status.convergence;
  if (conv !== undefined && conv.p50Ms !== undefined && conv.p99Ms !== undefined) {
    lines.push(`Convergence (change to ACK): p50 ${conv.p50Ms} ms, p99 ${conv.p99Ms} ms over the latest ${conv.window} of ${conv.count}.`);
  }
  if (status.configErrors.length > 0) {
    lines.push('', 'CONFIG ERRORS (the config store has errors; the control plane keeps serving the last good config):');
    for (const e of status.configErrors as ConfigError[]) lines.push(`  ${formatConfigError(e)}`);
  }
  lines.push('');
  if (status.clients.length === 0) lines.push('No xDS clients connected.');
  else {
    // SDS (the trust bundle) gets a column only when some client subscribes to it.
    const shown = SHORT.filter(([url, s]) => s !== 'SDS' || status.clients.some((c) => c.types.some((t) => t.typeUrl === url)));
    lines.push(
      table(
        ['NODE ID', 'SERVICE', 'PEER', 'CONNECTED', ...shown.map(([, s]) => s)],
        status.clients.map((c) => [
          c.nodeId || '(no node id)',
          c.service || '-',
          c.peer,
          shortDuration(nowMs - c.connectedAtMs),
          ...shown.map(([url]) => versionCell(c.types.find((t) => t.typeUrl === url))),
        ]),
      ),
    );
  }
  if (nacks.length > 0) {
    lines.push('', 'NACKS (the client refused these updates and keeps its last good config):');
    for (const { client: c, type: t } of nacks) {
      lines.push(`  ${c.nodeId} ${shortType(t.typeUrl)} version ${t.nack!.version} (nonce ${t.nack!.nonce}): ${t.nack!.message}`);
    }
  }
  if (status.replicas !== undefined) {
    lines.push('', `REPLICAS (sharing the etcd store): ${status.replicas.error ?? `${status.replicas.live.length} live`}`);
    if (status.replicas.live.length > 0) {
      lines.push(table(['ID', 'XDS', 'ADMIN', 'UP'], status.replicas.live.map((r) => [r.id, r.xdsAddress, r.adminUrl, shortDuration(nowMs - Date.parse(r.startedAt))])));
    }
  }
  if (status.unroutedEndpoints.length > 0) {
    lines.push('', 'UNROUTED ENDPOINTS (registered, routed once their Service and port are configured):');
    for (const e of status.unroutedEndpoints) {
      lines.push(`  ${e.service} ${e.address}:${e.port}${e.nodeId ? ` (node ${e.nodeId})` : ''}: ${e.notRoutedReason ?? 'not configured'}`);
    }
  }
  io.out(lines.join('\n'));
  return unhealthy ? 1 : 0;
}

function versionCell(t: ClientTypeStatus | undefined): string {
  if (!t) return '-';
  const acked = t.ackedVersion || '-';
  const nack = t.nack ? '!' : '';
  return t.sentVersion && t.sentVersion !== t.ackedVersion && !t.nack ? `${acked} (sent ${t.sentVersion})` : `${acked}${nack}`;
}

/** Runs `weft config-dump`; prints JSON; exit 1 if the node is unknown or ambiguous. */
export async function runConfigDump(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { server: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    io.out(CONFIG_DUMP_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError(CONFIG_DUMP_USAGE, 2);
  const client = await adminClientFor(values, io.env);
  const reply = await client.request('GET', `/v1/config-dump/${encodeURIComponent(positionals[0]!)}`);
  if (reply.status !== 200) {
    const candidates = Array.isArray(reply.body['candidates']) ? `\n  ${(reply.body['candidates'] as string[]).join('\n  ')}` : '';
    throw new CliError(`${errorMessage(reply)}${candidates}`);
  }
  io.out(json(reply.body));
  return 0;
}
