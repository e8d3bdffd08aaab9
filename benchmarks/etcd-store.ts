// Benchmark: what the etcd store costs an edit. Apply latency on a directory store (the baseline) and on an etcd store,
// and the time from an apply on replica A to replica B's store holding it (through etcd's watch), as a table.
// Usage: node --import tsx benchmarks/etcd-store.ts [--edits 50]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startControlPlane, type ControlPlane } from '../control-plane/src/index.js';
import { startEtcd } from '../test/integration/etcd.js';

const { values: args } = parseArgs({ options: { edits: { type: 'string', default: '50' } } });
const edits = Number(args.edits);
const service = (i: number) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: bench-${i} }
spec:
  ports: [{ name: http, port: 80 }]
`;

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function applyLatencies(cp: ControlPlane, until?: ControlPlane): Promise<{ apply: number[]; propagate: number[] }> {
  const apply: number[] = [];
  const propagate: number[] = [];
  for (let i = 0; i < edits; i++) {
    const seen = until === undefined ? undefined : new Promise<number>((resolve) => {
      const sub = until.store.onChange((c) => {
        if (c.resources.some((r) => r.metadata.name === `bench-${i}`)) {
          sub.dispose();
          resolve(performance.now());
        }
      });
    });
    const t0 = performance.now();
    const r = await cp.store.apply(service(i));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    apply.push(performance.now() - t0);
    if (seen !== undefined) propagate.push((await seen) - t0);
  }
  return { apply, propagate };
}

const dir = await mkdtemp(path.join(tmpdir(), 'weft-bench-'));
const dirCp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, stateDir: false });
const base = await applyLatencies(dirCp);
await dirCp.close();
await rm(dir, { recursive: true, force: true });

const etcd = await startEtcd();
const a = await startControlPlane({ store: `${etcd.endpoint}/bench`, xdsPort: 0, adminPort: 0 });
const b = await startControlPlane({ store: `${etcd.endpoint}/bench`, xdsPort: 0, adminPort: 0 });
const onEtcd = await applyLatencies(a, b);
await Promise.all([a.close(), b.close()]);
await etcd.stop();

const row = (name: string, xs: number[]) => [name, percentile(xs, 50).toFixed(1), percentile(xs, 99).toFixed(1), (percentile(xs, 50) / percentile(base.apply, 50)).toFixed(2)];
const rows = [
  ['measure', 'p50 ms', 'p99 ms', 'p50 vs dir apply'],
  row('apply, directory store (baseline)', base.apply),
  row('apply, etcd store', onEtcd.apply),
  row('apply on A -> in B\'s store (etcd)', onEtcd.propagate),
];
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
console.log(`${edits} edits, one Service each, Node ${process.version}`);
for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
