// Tests the xDS disk cache file: its format (round trip, versions for delta xDS, every reason a file is refused) and
// its writes (atomic temp + rename, private modes, coalesced, failures logged once and counted, never thrown).
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Logger } from '../../core/logger.js';
import {
  cacheFileOf,
  decodeXdsCache,
  defaultCacheDir,
  encodeXdsCache,
  initialResourceVersions,
  XdsDiskCache,
  type CachedXdsResource,
  type XdsCacheIdentity,
} from './disk-cache.js';
import { TYPE_URL } from './protos.js';

const ID: XdsCacheIdentity = { service: 'checkout', nodeId: 'checkout~h~1', controlPlane: '127.0.0.1:15010', locality: { zone: 'z1' } };
const res = (typeUrl: CachedXdsResource['typeUrl'], name: string, version: string, bytes: number[]): CachedXdsResource => ({
  typeUrl, name, version, any: { type_url: typeUrl, value: new Uint8Array(bytes) },
});
const RESOURCES = [res(TYPE_URL.listener, 'payments', '3', [10, 8, 112]), res(TYPE_URL.cluster, 'payments:8080', '4', [0, 255, 7])];

function recorder(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, logger: { debug() {}, info() {}, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m) } };
}

describe('xDS disk cache format', () => {
  it('round-trips resources byte for byte with where and when they came from', () => {
    const decoded = decodeXdsCache(encodeXdsCache(ID, '127.0.0.1:15010', 1234, RESOURCES), { ...ID, nodeId: 'checkout~h~2' });
    assert.ok(decoded.ok);
    assert.equal(decoded.snapshot.writtenAtMs, 1234);
    assert.equal(decoded.snapshot.nodeId, 'checkout~h~1');
    assert.equal(decoded.snapshot.server, '127.0.0.1:15010');
    assert.deepEqual(
      decoded.snapshot.resources.map((r) => [r.typeUrl, r.name, r.version, r.any.type_url, [...r.any.value]]),
      RESOURCES.map((r) => [r.typeUrl, r.name, r.version, r.any.type_url, [...r.any.value]]),
    );
  });

  it('gives name → version per type, for delta xDS initial_resource_versions', () => {
    const versions = initialResourceVersions(RESOURCES);
    assert.deepEqual([...versions.get(TYPE_URL.listener)!], [['payments', '3']]);
    assert.deepEqual([...versions.get(TYPE_URL.cluster)!], [['payments:8080', '4']]);
    assert.equal(versions.get(TYPE_URL.routeConfiguration), undefined);
  });

  it('refuses, with a reason, every file it must not use', () => {
    const text = encodeXdsCache(ID, 'a:1', 1, RESOURCES);
    const body = JSON.parse(text) as Record<string, unknown>;
    const cases: [string, string, RegExp][] = [
      ['truncated', text.slice(0, 40), /not valid JSON, the file is truncated or corrupt/],
      ['empty', '', /not valid JSON/],
      ['altered', text.replace('"version":"3"', '"version":"9"'), /checksum mismatch/],
      ['not a cache', '[1,2]', /not a Weft xDS cache file/],
      ['future', JSON.stringify({ ...body, formatVersion: 2 }), /format version 2, newer than the 1/],
      ['past', JSON.stringify({ ...body, formatVersion: 0 }), /format version 0; this SDK reads only 1/],
      ['other service', encodeXdsCache({ ...ID, service: 'cart' }, 'a:1', 1, []), /written for service 'cart', not 'checkout'/],
      ['other control plane', encodeXdsCache({ ...ID, controlPlane: 'cp:1' }, 'a:1', 1, []), /written for control plane cp:1, not 127\.0\.0\.1:15010/],
      ['other zone', encodeXdsCache({ ...ID, locality: { zone: 'z2' } }, 'a:1', 1, []), /written for locality/],
    ];
    for (const [what, input, reason] of cases) {
      const decoded = decodeXdsCache(input, ID);
      assert.equal(decoded.ok, false, what);
      if (!decoded.ok) assert.match(decoded.reason, reason, what);
    }
    // A well-formed file whose entry is of a type the cache never holds (SDS secrets stay in memory only).
    const secret = encodeXdsCache(ID, 'a:1', 1, [res(TYPE_URL.secret as CachedXdsResource['typeUrl'], 's', '1', [1])]);
    const decoded = decodeXdsCache(secret, ID);
    assert.ok(!decoded.ok && /resources\[0\]\.type_url .* is not a cached xDS type/.test(decoded.reason));
  });

  it('defaults to WEFT_CACHE_DIR, else the XDG state dir, else ~/.local/state', () => {
    assert.equal(defaultCacheDir({ WEFT_CACHE_DIR: '/var/cache/weft' }), '/var/cache/weft');
    assert.equal(defaultCacheDir({ XDG_STATE_HOME: '/s' }), '/s/weft/xds');
    assert.match(defaultCacheDir({}), /\.local\/state\/weft\/xds$|weft-.+\/xds$/);
  });
});

describe('XdsDiskCache writes', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'weft-disk-cache-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  const waitWrites = async (cache: XdsDiskCache, n: number): Promise<void> => {
    for (let i = 0; i < 400 && cache.status(0).writes + cache.status(0).writeFailures < n; i++) await new Promise((r) => setTimeout(r, 10));
  };

  it('writes atomically into a private directory, and a new cache loads what it wrote', async () => {
    const dir = path.join(root, 'a', 'xds');
    const cache = new XdsDiskCache({ dir, identity: ID, logger: recorder().logger, minWriteIntervalMs: 0 });
    cache.save(() => ({ server: 'cp:1', resources: RESOURCES }));
    await waitWrites(cache, 1);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(cacheFileOf(dir, 'checkout'))).mode & 0o777, 0o600);
    // While writes go on, every read of the file sees a whole file (written to a temp file, then renamed).
    for (let i = 0; i < 20; i++) {
      const resources = [...RESOURCES, res(TYPE_URL.clusterLoadAssignment, `e${i}`, String(i), Array.from({ length: 20_000 }, (_, k) => k % 256))];
      cache.save(() => ({ server: 'cp:1', resources }));
      assert.equal(decodeXdsCache(await readFile(cacheFileOf(dir, 'checkout'), 'utf8'), ID).ok, true);
      await new Promise((r) => setImmediate(r));
    }
    await cache.close();
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
    const again = new XdsDiskCache({ dir, identity: ID, logger: recorder().logger });
    const loaded = await again.load();
    assert.equal(loaded?.resources.length, 3);
    assert.equal(loaded?.resources[2]?.name, 'e19', 'close() wrote the latest state');
    assert.equal(again.status(3).servingFromCache, true);
    assert.ok(again.status(0).loaded!.ageMs >= 0);
  });

  it('coalesces a burst of saves into one write per interval, always of the latest state', async () => {
    const dir = path.join(root, 'b');
    const cache = new XdsDiskCache({ dir, identity: ID, logger: recorder().logger, minWriteIntervalMs: 60_000 });
    cache.save(() => ({ server: 'cp:1', resources: [] }));
    await waitWrites(cache, 1);
    for (let i = 0; i < 100; i++) cache.save(() => ({ server: 'cp:1', resources: [res(TYPE_URL.listener, `l${i}`, '1', [1])] }));
    assert.equal(cache.status(0).writes, 1, 'the burst waits for the interval');
    await cache.close(); // flushes the pending one
    assert.equal(cache.status(0).writes, 2);
    const decoded = decodeXdsCache(await readFile(cacheFileOf(dir, 'checkout'), 'utf8'), ID);
    assert.ok(decoded.ok && decoded.snapshot.resources[0]?.name === 'l99');
    cache.save(() => ({ server: 'cp:1', resources: [] }));
    assert.equal(cache.status(0).writes, 2, 'no write after close()');
  });

  it('logs a failing write once, counts every failure, never throws, and recovers', async () => {
    const blocker = path.join(root, 'blocker');
    await writeFile(blocker, 'a file where the directory should be');
    const { logger, warnings } = recorder();
    const cache = new XdsDiskCache({ dir: path.join(blocker, 'xds'), identity: ID, logger, minWriteIntervalMs: 0 });
    for (let n = 1; n <= 3; n++) {
      cache.save(() => ({ server: 'cp:1', resources: RESOURCES }));
      await waitWrites(cache, n);
    }
    assert.equal(cache.status(0).writeFailures, 3);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /xDS disk cache not written/);
    assert.match(cache.status(0).lastError ?? '', /ENOTDIR|EEXIST|not a directory/);
    await rm(blocker);
    cache.save(() => ({ server: 'cp:1', resources: RESOURCES }));
    await waitWrites(cache, 4);
    assert.equal(cache.status(0).writes, 1);
    assert.equal(cache.status(0).lastError, undefined);
    await cache.close();
  });

  it('refuses a directory other users can write to', async () => {
    const dir = path.join(root, 'open');
    await mkdir(dir);
    await chmod(dir, 0o777);
    const cache = new XdsDiskCache({ dir, identity: ID, logger: recorder().logger, minWriteIntervalMs: 0 });
    cache.save(() => ({ server: 'cp:1', resources: RESOURCES }));
    await waitWrites(cache, 1);
    assert.match(cache.status(0).lastError ?? '', /writable by other users/);
    await cache.close();
  });

  it('loads nothing, quietly, when there is no file; warns once naming the file when it is unusable', async () => {
    const dir = path.join(root, 'c');
    const quiet = recorder();
    assert.equal(await new XdsDiskCache({ dir, identity: ID, logger: quiet.logger }).load(), undefined);
    assert.deepEqual(quiet.warnings, []);
    await mkdir(dir, { recursive: true });
    await writeFile(cacheFileOf(dir, 'checkout'), '{"format":"weft.xds-cache","formatVersion":1,"resour');
    const loud = recorder();
    const cache = new XdsDiskCache({ dir, identity: ID, logger: loud.logger });
    assert.equal(await cache.load(), undefined);
    assert.equal(loud.warnings.length, 1);
    assert.ok(loud.warnings[0]!.startsWith(`xDS disk cache ${cacheFileOf(dir, 'checkout')} ignored: not valid JSON`));
    assert.match(cache.status(0).ignored ?? '', /truncated or corrupt/);
  });
});
