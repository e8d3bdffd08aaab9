// `npm run demo`: starts a Weft control plane on the demo's YAML, four services (frontend, catalog, payments with a v2
// canary, and inventory over gRPC) and a traffic generator, and prints what each service sees until Ctrl-C (or --duration).
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../../control-plane/src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string' }, // seconds; default: until Ctrl-C
    'xds-port': { type: 'string', default: '15010' },
    'admin-port': { type: 'string', default: '15000' },
    rate: { type: 'string', default: '40' },
  },
});
const durationS = args.duration === undefined ? undefined : Number(args.duration);

// The control plane writes `weft apply` edits into its config dir: give it a copy, not the repo's files.
const configDir = await mkdtemp(path.join(tmpdir(), 'weft-demo-'));
await cp(path.join(here, 'mesh'), configDir, { recursive: true });
const controlPlane = await startControlPlane({
  configDir,
  xdsPort: Number(args['xds-port']),
  adminPort: Number(args['admin-port']),
}).catch(async (e: unknown) => {
  await rm(configDir, { recursive: true, force: true });
  console.error(`demo: cannot start the control plane: ${e instanceof Error ? e.message : String(e)}`);
  console.error('demo: if a port is busy, pick others: npm run demo -- --xds-port 0 --admin-port 0');
  process.exit(1);
});
console.log(`Weft control plane: xDS ${controlPlane.xdsUrl}, admin ${controlPlane.adminUrl}, config ${configDir}`);
// The admin API wants the operator token the control plane wrote to its state dir; the CLI reads it from this file.
console.log('Try, in another terminal:');
console.log(`  export WEFT_ADMIN=${controlPlane.adminUrl} WEFT_ADMIN_TOKEN_FILE=${controlPlane.adminTokenFile ?? ''}`);
console.log('  npm run weft -- get routes');
console.log('  npm run weft -- status');
console.log('  npm run weft -- stat           # or: top, and dashboard for the browser\n');

interface Row {
  service: string;
  instance: string;
  requests: number;
  ok: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  lastError: string;
}
const rows = new Map<string, Row>();
const children: { name: string; child: ChildProcess }[] = [];
let ticker: NodeJS.Timeout | undefined;

// Ctrl-C works from here on, during start-up too: no child is left running without its parent.
let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(ticker);
  console.log('\nstopping: the traffic stops, then services deregister and drain, then the control plane stops');
  // Traffic first (its calls in flight finish): with traffic still flowing, a call could find every replica of a
  // callee already deregistered, and fail for a reason that is only the demo stopping everything at once.
  await stopChildren(children.filter((c) => c.name === 'loadgen'));
  await stopChildren(children.filter((c) => c.name !== 'loadgen'));
  printTable('final');
  await controlPlane.close();
  await rm(configDir, { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

/** Sends SIGTERM (SIGKILL after 15 s) to each of `which`; resolves once all have exited. */
function stopChildren(which: { child: ChildProcess }[]): Promise<unknown> {
  return Promise.all(
    which.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

/**
 * Starts one demo process with a bootstrap token for its service (it enrols and gets a SPIFFE certificate, renewed in
 * the background); resolves when it reports that it is ready (certificate, serving, registered, dependencies resolved).
 */
async function start(name: string, env: Record<string, string>, script = 'service.ts'): Promise<void> {
  const { token } = await controlPlane.tokens.create({ service: env['SERVICE'] ?? name, ttlMs: 600_000 });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, script)], {
    env: { ...process.env, WEFT_CONTROL_PLANE: controlPlane.xdsUrl, WEFT_TOKEN: token, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push({ name, child });
  return new Promise((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { type: string } & Row;
        if (msg.type === 'stats') rows.set(msg.instance, msg);
        if (msg.type === 'ready') resolve();
      } catch {
        console.log(`[${name}] ${line}`);
      }
    });
    child.on('exit', (code, signal) => {
      resolve();
      if (!stopping) console.error(`[${name}] exited (${code ?? signal}) before the demo stopped`);
    });
  });
}

// No start-up ordering is needed for correctness (each process waits for its own configuration); the traffic
// generator waits for the services only so that the first requests don't meet a service with no endpoints yet.
await Promise.all([
  start('payments-1', { SERVICE: 'payments', INSTANCE: 'payments-v1-a' }),
  start('payments-2', { SERVICE: 'payments', INSTANCE: 'payments-v1-b' }),
  start('payments-v2', { SERVICE: 'payments-v2', INSTANCE: 'payments-v2-a' }),
  // inventory speaks gRPC (proto/inventory.proto): catalog streams stock levels from it, frontend reserves stock.
  start('inventory-1', { SERVICE: 'inventory', INSTANCE: 'inventory-a' }, 'inventory.ts'),
  start('inventory-2', { SERVICE: 'inventory', INSTANCE: 'inventory-b' }, 'inventory.ts'),
  start('catalog', { SERVICE: 'catalog', INSTANCE: 'catalog-a', CALLS: JSON.stringify(['GRPC inventory/ListStock']) }),
  start('frontend', {
    SERVICE: 'frontend',
    INSTANCE: 'frontend-a',
    CALLS: JSON.stringify(['GET http://catalog/items', 'GRPC inventory/Reserve', 'POST http://payments/charge']),
  }),
]);

function printTable(title: string): void {
  const header = ['instance', 'service', 'requests', 'ok', 'errors', 'p50 ms', 'p99 ms', 'last error'];
  const body = [...rows.values()]
    .sort((a, b) => a.instance.localeCompare(b.instance))
    .map((r) => [r.instance, r.service, r.requests, r.ok, r.errors, r.p50Ms, r.p99Ms, r.lastError.slice(0, 60)].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  console.log(`\n${title}\n${fmt(header)}\n${body.map(fmt).join('\n')}`);
}

if (!stopping) {
  const loadgen = start('loadgen', { RATE: String(args.rate) }, 'traffic.ts');
  const started = Date.now();
  ticker = setInterval(() => printTable(`after ${Math.round((Date.now() - started) / 1000)} s`), 2000);
  // --duration counts traffic time: from the moment the generator is ready (its start-up took over 6 s on a busy CI machine).
  if (durationS !== undefined) void loadgen.then(() => setTimeout(() => void stop(), durationS * 1000));
}
