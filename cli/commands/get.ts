// `weft get <kind> [name] [-o table|yaml|json]`: lists configuration resources or registered endpoints.
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { AdminClient, CliError, adminClientFor } from '../admin-client.js';
import { json, parseFormat, resourcesYaml, shortDuration, table, type CliIo, type OutputFormat, type ResourceJson } from '../output.js';

/** Usage text of `weft get`. */
export const GET_USAGE = `Usage: weft get <routes|httproutes|grpcroutes|services|endpoints> [name] [-o table|yaml|json] [--server <url>] [--token <t>]

Lists configuration resources (routes = HTTPRoutes and GRPCRoutes) or the endpoints registered with the
control plane. With a name, shows that one resource (for endpoints: those of that service).
-o yaml prints resources in a form weft apply -f accepts back.`;

interface EndpointJson {
  readonly service: string;
  readonly portName: string;
  readonly address: string;
  readonly port: number;
  readonly nodeId: string;
  readonly weight: number;
  readonly locality: { readonly region: string; readonly zone: string; readonly subZone: string };
  readonly routed: boolean;
  readonly notRoutedReason?: string;
  readonly expiresInMs: number;
}

/** Runs `weft get`; returns the exit code (0 found, 1 not found or failed). */
export async function runGet(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { output: { type: 'string', short: 'o' }, server: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    io.out(GET_USAGE);
    return 0;
  }
  const [what, name, extra] = positionals;
  if (what === undefined || extra !== undefined) throw new CliError(GET_USAGE, 2);
  const format = parseFormat(values.output);
  if (!format) throw new CliError(`-o must be table, yaml or json, not '${values.output}'`, 2);
  const client = await adminClientFor(values, io.env);
  const lower = what.toLowerCase();

  if (lower === 'endpoints' || lower === 'endpoint' || lower === 'ep') {
    const body = await client.requestOk('GET', '/v1/endpoints');
    const all = (body['endpoints'] as EndpointJson[] | undefined) ?? [];
    const list = name === undefined ? all : all.filter((e) => e.service === name);
    printEndpoints(list, format, io);
    return 0;
  }

  const kinds = lower === 'routes' || lower === 'route' ? 'HTTPRoute,GRPCRoute' : what;
  const body = await client.requestOk('GET', `/v1/resources?kind=${encodeURIComponent(kinds)}`);
  let resources = (body['resources'] as ResourceJson[] | undefined) ?? [];
  if (name !== undefined) {
    resources = resources.filter((r) => r.metadata.name === name);
    if (resources.length === 0) throw new CliError(`${what} '${name}' not found`);
  }
  if (format === 'json') io.out(json(name !== undefined && resources.length === 1 ? resources[0] : resources));
  else if (format === 'yaml') io.out(resources.length === 0 ? '' : resourcesYaml(resources));
  else if (resources.length === 0) io.out(`no ${what} found`);
  else if (resources.every((r) => r.kind === 'Service')) io.out(servicesTable(resources, await registeredCounts(client)));
  else io.out(resourcesTable(resources));
  return 0;
}

function printEndpoints(list: readonly EndpointJson[], format: OutputFormat, io: CliIo): void {
  if (format === 'json') return io.out(json(list));
  if (format === 'yaml') return io.out(list.length === 0 ? '' : resourcesYamlPlain(list));
  if (list.length === 0) return io.out('no endpoints registered');
  io.out(
    table(
      ['SERVICE', 'PORT', 'ADDRESS', 'NODE', 'WEIGHT', 'LOCALITY', 'EXPIRES', 'ROUTED'],
      list.map((e) => [
        e.service,
        e.portName || '(first)',
        `${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`,
        e.nodeId || '-',
        String(e.weight),
        [e.locality.region, e.locality.zone, e.locality.subZone].filter(Boolean).join('/') || '-',
        shortDuration(e.expiresInMs),
        e.routed ? 'yes' : `no (${e.notRoutedReason ?? 'not configured'})`,
      ]),
    ),
  );
}

function resourcesYamlPlain(list: readonly object[]): string {
  return stringify(list);
}

async function registeredCounts(client: AdminClient): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const body = await client.requestOk('GET', '/v1/endpoints');
  for (const e of (body['endpoints'] as EndpointJson[] | undefined) ?? []) counts.set(e.service, (counts.get(e.service) ?? 0) + 1);
  return counts;
}

function servicesTable(resources: readonly ResourceJson[], registered: ReadonlyMap<string, number>): string {
  return table(
    ['NAME', 'PORTS', 'STATIC', 'REGISTERED', 'SOURCE'],
    resources.map((r) => {
      const spec = (r.spec ?? {}) as { ports?: { name: string; port: number; protocol?: string }[]; endpoints?: unknown[] };
      const ports = (spec.ports ?? []).map((p) => `${p.name}:${p.port}${p.protocol && p.protocol !== 'HTTP' ? `/${p.protocol}` : ''}`).join(',');
      return [r.metadata.name, ports || '-', String(spec.endpoints?.length ?? 0), String(registered.get(r.metadata.name) ?? 0), r.source ?? '-'];
    }),
  );
}

function resourcesTable(resources: readonly ResourceJson[]): string {
  return table(
    ['KIND', 'NAME', 'PARENTS', 'RULES', 'BACKENDS', 'SOURCE'],
    resources.map((r) => {
      const spec = (r.spec ?? {}) as { parentRefs?: { name: string }[]; rules?: { backendRefs?: { name: string; port?: number; weight?: number }[] }[] };
      const backends = new Set((spec.rules ?? []).flatMap((rule) => (rule.backendRefs ?? []).map((b) => (b.port ? `${b.name}:${b.port}` : b.name))));
      return [
        r.kind,
        r.metadata.name,
        (spec.parentRefs ?? []).map((p) => p.name).join(',') || '-',
        String(spec.rules?.length ?? 0),
        [...backends].join(',') || '-',
        r.source ?? '-',
      ];
    }),
  );
}
