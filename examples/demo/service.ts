// One demo service process: serves HTTP through the mesh and, per request, calls the services it depends on by mesh name.
// Environment: SERVICE (mesh Service name), INSTANCE (label), CALLS (JSON list of "METHOD url" for HTTP or
// "GRPC service/Method" for gRPC), REPORT_INTERVAL_MS (traffic reports, default 2000), WEFT_CONTROL_PLANE.
import { createMesh } from '../../src/index.js';
import { InventoryClient, type ReserveReply, type StockLevel } from './inventory-api.js';
import { Stats } from './stats.js';

type Call = { kind: 'http'; method: string; url: string } | { kind: 'grpc'; service: string; rpc: string };

const service = process.env.SERVICE ?? 'demo';
const instance = process.env.INSTANCE ?? `${service}-${process.pid}`;
const calls = (JSON.parse(process.env.CALLS ?? '[]') as string[]).map((c): Call => {
  const [method, target] = c.split(' ') as [string, string];
  if (method !== 'GRPC') return { kind: 'http', method, url: target };
  const [grpcService, rpc] = target.split('/') as [string, string];
  return { kind: 'grpc', service: grpcService, rpc };
});
const dependsOn = [...new Set(calls.map((c) => (c.kind === 'http' ? new URL(c.url).host : c.service)))];

// Traffic summaries go to the control plane every 2 s (default 10 s) so `weft stat` and the dashboard move quickly.
const mesh = await createMesh({ service, dependsOn, reporting: { intervalMs: Number(process.env.REPORT_INTERVAL_MS ?? '2000') } });
const stats = new Stats(service, instance);

// A meshed grpc-js client: the GRPCRoute for `inventory` picks the replica, sets the deadline and retries.
let inventory: InventoryClient | undefined;
const ITEMS = ['sku-1', 'sku-2', 'sku-3'];
let orders = 0;
const rpcs: Record<string, (client: InventoryClient) => Promise<unknown>> = {
  'inventory/Reserve': (client) =>
    new Promise<ReserveReply>((resolve, reject) =>
      client.reserve({ orderId: `${instance}-${++orders}`, sku: ITEMS[orders % ITEMS.length]!, quantity: 1 }, {}, (err, reply) =>
        err ? reject(err) : resolve(reply!),
      ),
    ),
  'inventory/ListStock': (client) =>
    new Promise<StockLevel[]>((resolve, reject) => {
      const levels: StockLevel[] = [];
      client
        .listStock({ skus: ITEMS })
        .on('data', (level: StockLevel) => levels.push(level))
        .on('error', reject)
        .on('end', () => resolve(levels));
    }),
};
for (const call of calls) {
  if (call.kind !== 'grpc') continue;
  if (rpcs[`${call.service}/${call.rpc}`] === undefined) {
    throw new Error(`${service}: CALLS names GRPC ${call.service}/${call.rpc}; this demo knows ${Object.keys(rpcs).join(', ')}`);
  }
  inventory ??= mesh.grpc.client(InventoryClient, 'inventory');
}

await mesh.serve(
  async (req, res) => {
    const start = performance.now();
    try {
      const downstream: unknown[] = [];
      for (const call of calls) {
        if (call.kind === 'grpc') {
          downstream.push(await rpcs[`${call.service}/${call.rpc}`]!(inventory!));
          continue;
        }
        const response = await mesh.fetch(call.url, { method: call.method, body: call.method === 'POST' ? '{}' : undefined });
        const body = (await response.json()) as unknown;
        if (!response.ok) throw new Error(`${call.method} ${call.url} answered ${response.status}`);
        downstream.push(body);
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ service, instance, path: req.url, downstream }));
      stats.record(performance.now() - start, true);
    } catch (e: unknown) {
      const message = e instanceof Error ? `${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}` : String(e);
      res.statusCode = 502;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ service, instance, error: message }));
      stats.record(performance.now() - start, false, message);
    }
  },
  { port: 0 },
);
await mesh.ready();
process.stdout.write(`${JSON.stringify({ type: 'ready', service, instance })}\n`);

const timer = setInterval(() => stats.report(), 1000);
let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  clearInterval(timer);
  await mesh.close(); // deregisters first, then drains in-flight requests
  inventory?.close(); // after the drain: requests in flight still used it
  stats.report();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', () => {}); // the parent decides when we stop
