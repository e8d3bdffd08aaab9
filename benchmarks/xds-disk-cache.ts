// Benchmark: the xDS disk cache's cost. One atomic write (encode, temp file, fsync, rename) and one start-up load
// (read, parse, checksum, base64) for N cached resources, each against a plain writeFile / readFile + JSON.parse of the
// same text measured in the same run. Usage: node --import tsx benchmarks/xds-disk-cache.ts [--runs 20]
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NOOP_LOGGER } from '../src/core/logger.js';
import { cacheFileOf, encodeXdsCache, XdsDiskCache, type CachedXdsResource } from '../src/discovery/xds/disk-cache.js';
import { CACHED_TYPE_URLS } from '../src/discovery/xds/disk-cache.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
const runs = Number(args.runs);
const identity = { service: 'bench', nodeId: 'bench~1', controlPlane: '127.0.0.1:15010', locality: {} };

/** N resources of 400 bytes each (a typical Weft Listener/Cluster/ClusterLoadAssignment is 200–1,000 bytes). */
function resources(n: number): CachedXdsResource[] {
  return Array.from({ length: n }, (_, i) => {
    const typeUrl = CACHED_TYPE_URLS[i % 4]!;
    return { typeUrl, name: `svc-${i}`, version: String(i), any: { type_url: typeUrl, value: new Uint8Array(randomBytes(400)) } };
  });
}

async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!; // median
}

const dir = await mkdtemp(path.join(tmpdir(), 'weft-bench-cache-'));
const rows: string[][] = [];
try {
  for (const n of [100, 1_000, 4_000]) {
    const list = resources(n);
    const text = encodeXdsCache(identity, '127.0.0.1:15010', Date.now(), list);
    const plain = path.join(dir, 'plain.json');
    const writeBase = await timeMs(() => writeFile(plain, text));
    const write = await timeMs(async () => {
      const cache = new XdsDiskCache({ dir, identity, logger: NOOP_LOGGER, minWriteIntervalMs: 0 });
      cache.save(() => ({ server: '127.0.0.1:15010', resources: list }));
      await cache.close();
    });
    const loadBase = await timeMs(async () => JSON.parse(await readFile(cacheFileOf(dir, 'bench'), 'utf8')));
    const load = await timeMs(() => new XdsDiskCache({ dir, identity, logger: NOOP_LOGGER }).load());
    rows.push([String(n), `${(text.length / 1024).toFixed(0)} KiB`, writeBase.toFixed(2), write.toFixed(2), (write / writeBase).toFixed(1), loadBase.toFixed(2), load.toFixed(2), (load / loadBase).toFixed(1)]);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
const head = ['resources', 'file', 'writeFile ms', 'cache write ms', 'ratio', 'read+parse ms', 'cache load ms', 'ratio'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
console.log(`xDS disk cache: median of ${runs} runs (cache write = encode + temp file + fsync + rename; baseline writeFile of the same text, no fsync)`);
console.log(line(head));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
