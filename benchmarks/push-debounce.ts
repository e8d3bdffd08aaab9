// Benchmark: what the push debounce saves, and what endpoint changes cost while it waits. Three tables, each with its
// baseline measured in the same run:
// 1. An edit burst: N ADS clients (each ACKing every response) watch one service's routes while E edits are applied,
//    one every --every ms; the default 100 ms quiet period against 0 (one rebuild per timer turn): pushes, rebuilds,
//    convergence (edit to ACK, debounce included) at p50/p99.
// 2. Endpoint changes during constant edit churn (an edit every 20 ms, so edits go out only at the 1 s bound): the time
//    from a registration or deregistration to the EDS push reaching a watcher, against the same with no churn, and
//    against the SDK's 500 ms drain delay.
// 3. Rebuild cost at --services Services / 2 endpoints each: a full translate against the endpoints-only rebuild an
//    endpoint change gets.
// Usage: npm run build && node --import tsx benchmarks/push-debounce.ts [--clients 200] [--edits 50] [--every 20] [--changes 40] [--services 1000]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SnapshotCache, startControlPlane, translate, type ControlPlane } from '../dist/control-plane/src/index.js';
import { translateEndpoints } from '../dist/control-plane/src/translate/index.js';
import { createMeshConfig } from '../dist/control-plane/src/config/mesh-config.js';
import { parseConfigText } from '../dist/control-plane/src/config/parse.js';
import { AdsTestClient, type ReceivedResponse } from '../dist/control-plane/src/server/ads-test-client.js';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    edits: { type: 'string', default: '50' },
    every: { type: 'string', default: '20' },
    changes: { type: 'string', default: '40' },
    services: { type: 'string', default: '1000' },
  },
});
const CLIENTS = Number(args.clients);
const EDITS = Number(args.edits);
const EVERY_MS = Number(args.every);
const CHANGES = Number(args.changes);
const SERVICES = Number(args.services);
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const CLA = EDS;
const SERVICE_YAML = (name: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: http, port: 8080 }]\n`;
const EDIT = (n: number) =>
  `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: pay }\nspec:\n  parentRefs: [{ kind: Service, name: payments }]\n  rules:\n  - matches: [{ headers: [{ name: x-edit, value: '${n}' }] }]\n    backendRefs: [{ name: payments, port: 8080 }]\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const counter = (text: string, name: string): number =>
  [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);

async function withControlPlane<T>(debounceMs: number | undefined, fn: (cp: ControlPlane) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-bench-push-'));
  await writeFile(path.join(dir, 'payments.yaml'), SERVICE_YAML('payments'));
  const cp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, stateDir: false, ...(debounceMs === undefined ? {} : { debounceMs }) });
  try {
    return await fn(cp);
  } finally {
    await cp.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** CLIENTS streams watching `typeUrl`/`names`, each ACKing every response; closed by the returned function. */
async function watchers(cp: ControlPlane, typeUrl: string, names: readonly string[]): Promise<() => void> {
  const clients: AdsTestClient[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const c = new AdsTestClient(cp.xdsAddress);
    clients.push(c);
    c.send({ typeUrl, names, node: { id: `bench-${i}`, cluster: 'checkout' } });
    void (async () => {
      for (;;) {
        const r = await c.next(120_000).catch(() => undefined);
        if (r === undefined) return;
        c.ack(r, names);
      }
    })();
  }
  while (cp.ads.clients().filter((s) => s.types.some((t) => t.ackedVersion !== '')).length < CLIENTS) await sleep(20);
  return () => clients.forEach((c) => c.close());
}

interface BurstRow {
  readonly debounce: string;
  readonly pushes: number;
  readonly rebuilds: number;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
}

/** Table 1: E edits, one every EVERY_MS, to CLIENTS route watchers. */
function editBurst(debounceMs: number | undefined): Promise<BurstRow> {
  return withControlPlane(debounceMs, async (cp) => {
    const close = await watchers(cp, RDS, ['payments']);
    try {
      const before = cp.pushMetrics.render();
      for (let i = 1; i <= EDITS; i++) {
        const r = await cp.store.apply(EDIT(i));
        if (!r.ok) throw new Error('edit refused');
        await sleep(EVERY_MS);
      }
      // Settled: every client ACKed the latest RDS version, and nothing is pending (the 1 s bound has passed).
      await sleep(1_100);
      const version = () => cp.ads.clients()[0]?.types.find((t) => t.typeUrl === RDS)?.sentVersion;
      while (cp.ads.clients().some((s) => s.types.some((t) => t.typeUrl === RDS && (t.ackedVersion !== t.sentVersion || t.sentVersion !== version())))) await sleep(20);
      const after = cp.pushMetrics.render();
      const status = cp.pushMetrics.status();
      return {
        debounce: debounceMs === 0 ? '0 (baseline)' : `${debounceMs ?? 100} ms (default)`,
        pushes: counter(after, 'weft_control_plane_xds_pushes_total') - counter(before, 'weft_control_plane_xds_pushes_total'),
        rebuilds: counter(after, 'weft_control_plane_rebuild_duration_seconds_count') - counter(before, 'weft_control_plane_rebuild_duration_seconds_count'),
        p50Ms: status.p50Ms,
        p99Ms: status.p99Ms,
      };
    } finally {
      close();
    }
  });
}

/** Table 2: CHANGES endpoint changes (register, then deregister, alternately), each timed to the EDS push that shows it. */
function endpointChanges(churn: boolean): Promise<{ readonly label: string; readonly ms: readonly number[]; readonly edits: number }> {
  return withControlPlane(undefined, async (cp) => {
    const c = new AdsTestClient(cp.xdsAddress);
    c.send({ typeUrl: EDS, names: ['payments:8080'], node: { id: 'bench-watch' } });
    c.ack(await c.next(10_000), ['payments:8080']);
    let churning = churn;
    let edits = 0;
    const churner = (async () => {
      while (churning) {
        await cp.store.apply(EDIT(++edits));
        await sleep(20);
      }
    })();
    const ms: number[] = [];
    try {
      await sleep(300);
      let lease: string | undefined;
      for (let i = 0; i < CHANGES; i++) {
        const t0 = performance.now();
        if (lease === undefined) {
          const r = cp.registry.register({ service: 'payments', address: '10.9.0.1', port: 8080 });
          if (!r.ok) throw new Error('register refused');
          lease = r.value.leaseId;
        } else {
          cp.registry.deregister(lease);
          lease = undefined;
        }
        const present = lease !== undefined;
        for (;;) {
          const r: ReceivedResponse = await c.next(10_000);
          c.ack(r, ['payments:8080']);
          if (JSON.stringify(r.resources).includes('10.9.0.1') === present) break;
        }
        ms.push(performance.now() - t0);
        await sleep(37 + (i % 5) * 53); // spread the changes over the churn's 1 s window
      }
    } finally {
      churning = false;
      await churner;
      c.close();
    }
    return { label: churn ? 'during edit churn (an edit every 20 ms)' : 'no edits (baseline)', ms: ms.sort((a, b) => a - b), edits };
  });
}

/** Table 3: one full rebuild against one endpoints-only rebuild, at SERVICES Services and 2 endpoints each (ms, median of 15). */
function rebuildCost(): { readonly fullMs: number; readonly endpointsMs: number } {
  let yaml = '';
  for (let i = 0; i < SERVICES; i++) yaml += `${SERVICE_YAML(`svc-${i}`)}---\n`;
  const parsed = parseConfigText(yaml, 'bench.yaml');
  if (parsed.errors.length > 0) throw new Error('bad bench config');
  const config = createMeshConfig(parsed.resources, 1);
  const endpoint = (k: number) => ({
    leaseId: `lease-${k}`,
    service: `svc-${k % SERVICES}`,
    portName: '',
    address: `10.0.${k >> 8}.${k & 255}`,
    port: 8080,
    nodeId: 'bench',
    locality: { region: '', zone: '', subZone: '' },
    weight: 1,
    labels: {},
    expiresAtMs: Number.MAX_SAFE_INTEGER,
  });
  const all = Array.from({ length: 2 * SERVICES }, (_, k) => endpoint(k));
  const cache = new SnapshotCache();
  const base = translate(config, all);
  cache.set(base);
  const time = (fn: (endpoints: typeof all) => void) => {
    const samples: number[] = [];
    for (let i = 0; i < 15; i++) {
      const endpoints = all.slice(0, all.length - (i % 2)); // one endpoint comes and goes: a real change each time
      const t = performance.now();
      fn(endpoints);
      samples.push(performance.now() - t);
    }
    return samples.sort((a, b) => a - b)[7]!;
  };
  const fullMs = time((endpoints) => cache.set(translate(config, endpoints)));
  const endpointsMs = time((endpoints) => cache.set({ ...base, [CLA]: translateEndpoints(config, endpoints) }));
  return { fullMs, endpointsMs };
}

const burst = [await editBurst(0), await editBurst(undefined)];
const base = burst[0]!;
console.log(`\n1. Edit burst: ${CLIENTS} clients watching one service's routes; ${EDITS} edits, one every ${EVERY_MS} ms (debounce max 1 s)\n`);
console.log('| debounce | pushes | pushes per client | rebuilds | convergence p50 | convergence p99 | pushes vs baseline |');
console.log('|---|---|---|---|---|---|---|');
for (const r of burst) {
  console.log(`| ${r.debounce} | ${r.pushes} | ${(r.pushes / CLIENTS).toFixed(1)} | ${r.rebuilds} | ${r.p50Ms ?? '-'} ms | ${r.p99Ms ?? '-'} ms | ${(r.pushes / base.pushes).toFixed(2)}× |`);
}

const changes = [await endpointChanges(false), await endpointChanges(true)];
const quiet = changes[0]!;
console.log(`\n2. Endpoint changes at the default debounce: ${CHANGES} registrations and deregistrations, each timed to the EDS push showing it (SDK drain delay: 500 ms)\n`);
console.log('| edits meanwhile | change → EDS push p50 | p99 | max | p99 vs baseline |');
console.log('|---|---|---|---|---|');
for (const r of changes) {
  const p99 = percentile(r.ms, 0.99);
  console.log(`| ${r.label}${r.edits > 0 ? `, ${r.edits} edits` : ''} | ${percentile(r.ms, 0.5).toFixed(1)} ms | ${p99.toFixed(1)} ms | ${r.ms.at(-1)!.toFixed(1)} ms | ${(p99 / percentile(quiet.ms, 0.99)).toFixed(2)}× |`);
}

const cost = rebuildCost();
console.log(`\n3. Rebuild cost, ${SERVICES} Services / ${2 * SERVICES} endpoints, one endpoint changed (translate + snapshot cache, median of 15)\n`);
console.log('| rebuild | time | vs full |');
console.log('|---|---|---|');
console.log(`| full translate (baseline; a config edit) | ${cost.fullMs.toFixed(1)} ms | 1.00× |`);
console.log(`| endpoints only (an endpoint change) | ${cost.endpointsMs.toFixed(1)} ms | ${(cost.endpointsMs / cost.fullMs).toFixed(2)}× |`);
