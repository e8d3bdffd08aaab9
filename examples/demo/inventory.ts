// The demo's gRPC service: demo.inventory.v1.Inventory (proto/inventory.proto) served and registered through mesh.grpc.
// Environment: SERVICE (default inventory), INSTANCE (label), SHED_EVERY (default 25; 0 = never), REPORT_INTERVAL_MS (traffic reports, default 2000), WEFT_CONTROL_PLANE.
import * as grpc from '@grpc/grpc-js';
import { createMesh } from '../../src/index.js';
import { inventoryService, type InventoryHandlers } from './inventory-api.js';
import { Stats } from './stats.js';

const service = process.env.SERVICE ?? 'inventory';
const instance = process.env.INSTANCE ?? `${service}-${process.pid}`;
// Every SHED_EVERY-th first attempt at a Reserve is refused with UNAVAILABLE, as an overloaded replica would: the
// GRPCRoute in mesh/routes.yaml retries UNAVAILABLE on the other replica, so callers never see these (the table shows
// them as this replica's errors). Retries (grpc-previous-rpc-attempts set) are never shed, or two replicas whose
// counters line up could shed both attempts of one call and the demo would show a failure it staged itself.
const shedEvery = Number(process.env.SHED_EVERY ?? '25');
const RESTOCK = 1000;

// Traffic summaries go to the control plane every 2 s (default 10 s) so `weft stat` and the dashboard move quickly.
const mesh = await createMesh({ service, reporting: { intervalMs: Number(process.env.REPORT_INTERVAL_MS ?? '2000') } });
const stats = new Stats(service, instance);
const stock = new Map<string, number>();
let reserves = 0;

const handlers: InventoryHandlers = {
  Reserve(call, callback) {
    const start = performance.now();
    const { orderId, sku, quantity } = call.request;
    if (shedEvery > 0 && ++reserves % shedEvery === 0 && call.metadata.get('grpc-previous-rpc-attempts').length === 0) {
      stats.record(performance.now() - start, false, 'shed a Reserve: UNAVAILABLE, for the caller to retry');
      return callback({ code: grpc.status.UNAVAILABLE, details: `${instance} is shedding load` });
    }
    if (sku === '' || quantity <= 0) {
      stats.record(performance.now() - start, false, `bad Reserve for order ${orderId}`);
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'sku and a positive quantity are required' });
    }
    const left = (stock.get(sku) ?? RESTOCK) - quantity;
    stock.set(sku, left < 0 ? RESTOCK : left); // the demo never runs out: it restocks
    callback(null, { reservationId: `${instance}-${reserves}`, servedBy: instance });
    stats.record(performance.now() - start, true);
  },
  ListStock(call) {
    const start = performance.now();
    for (const sku of call.request.skus) call.write({ sku, available: stock.get(sku) ?? RESTOCK, servedBy: instance });
    call.end();
    stats.record(performance.now() - start, true);
  },
};

const server = mesh.grpc.server(); // a grpc-js Server with grpc.health.v1 and the caller's deadline in handlers
server.addService(inventoryService, handlers);
await mesh.grpc.serve(server, { port: 0 }); // binds, registers under a lease; mesh.close() deregisters and drains
await mesh.ready();
process.stdout.write(`${JSON.stringify({ type: 'ready', service, instance })}\n`);

const timer = setInterval(() => stats.report(), 1000);
let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  clearInterval(timer);
  await mesh.close(); // deregisters first, then lets calls in flight finish
  stats.report();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', () => {}); // the parent decides when we stop
