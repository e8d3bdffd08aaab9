// Benchmark: what the push debounce saves during a rollout. N ADS clients (each ACKing every response) watch one
// service's endpoints while R instances register, one every --every ms; compared with debounce 0 (one rebuild per
// timer turn, the behaviour before the debounce), measured in the same run: pushes sent, rebuilds, and the
// convergence time (change to ACK, debounce included) at p50/p99.
// Usage: npm run build && node --import tsx benchmarks/push-debounce.ts [--clients 200] [--registrations 50] [--every 20]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../dist/control-plane/src/index.js';
import { AdsTestClient } from '../dist/control-plane/src/server/ads-test-client.js';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    registrations: { type: 'string', default: '50' },
    every: { type: 'string', default: '20' },
  },
});
const CLIENTS = Number(args.clients);
const REGISTRATIONS = Number(args.registrations);
const EVERY_MS = Number(args.every);
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const NAMES = ['payments:8080'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row {
  readonly debounce: string;
  readonly pushes: number;
  readonly rebuilds: number;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
}

const counter = (text: string, name: string): number =>
  [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);

async function run(debounceMs: number): Promise<Row> {
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-bench-push-'));
  await writeFile(path.join(dir, 'payments.yaml'), 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: payments }\nspec:\n  ports: [{ name: http, port: 8080 }]\n');
  const cp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, stateDir: false, debounceMs, debounceMaxMs: 1_000 });
  const clients: AdsTestClient[] = [];
  try {
    for (let i = 0; i < CLIENTS; i++) {
      const c = new AdsTestClient(cp.xdsAddress);
      clients.push(c);
      c.send({ typeUrl: EDS, names: NAMES, node: { id: `bench-${i}`, cluster: 'checkout' } });
      void (async () => {
        for (;;) {
          const r = await c.next(120_000).catch(() => undefined);
          if (r === undefined) return;
          c.ack(r, NAMES);
        }
      })();
    }
    while (cp.ads.clients().filter((s) => s.types.some((t) => t.ackedVersion !== '')).length < CLIENTS) await sleep(20);
    const before = cp.pushMetrics.render();
    for (let i = 0; i < REGISTRATIONS; i++) {
      cp.registry.register({ service: 'payments', address: `10.8.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 8080 });
      await sleep(EVERY_MS);
    }
    // Settled: every client ACKed the latest EDS version, and no rebuild is pending.
    await sleep(debounceMs + 1_100);
    const version = () => cp.ads.clients()[0]?.types.find((t) => t.typeUrl === EDS)?.sentVersion;
    while (cp.ads.clients().some((s) => s.types.some((t) => t.typeUrl === EDS && (t.ackedVersion !== t.sentVersion || t.sentVersion !== version())))) await sleep(20);
    const after = cp.pushMetrics.render();
    const status = cp.pushMetrics.status();
    return {
      debounce: debounceMs === 0 ? '0 (baseline)' : `${debounceMs} ms`,
      pushes: counter(after, 'weft_control_plane_xds_pushes_total') - counter(before, 'weft_control_plane_xds_pushes_total'),
      rebuilds: counter(after, 'weft_control_plane_rebuild_duration_seconds_count') - counter(before, 'weft_control_plane_rebuild_duration_seconds_count'),
      p50Ms: status.p50Ms,
      p99Ms: status.p99Ms,
    };
  } finally {
    for (const c of clients) c.close();
    await cp.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const rows = [await run(0), await run(100)];
const base = rows[0]!;
console.log(`${CLIENTS} clients watching one service; ${REGISTRATIONS} registrations, one every ${EVERY_MS} ms (debounce max 1 s)\n`);
console.log('| debounce | pushes | pushes per client | rebuilds | convergence p50 | convergence p99 | pushes vs baseline |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.debounce} | ${r.pushes} | ${(r.pushes / CLIENTS).toFixed(1)} | ${r.rebuilds} | ${r.p50Ms ?? '-'} ms | ${r.p99Ms ?? '-'} ms | ${(r.pushes / base.pushes).toFixed(2)}× |`);
}
