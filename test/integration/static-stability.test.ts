// Static stability: the control plane runs as its own process and is killed. A meshed client process restarted
// meanwhile starts from its xDS disk cache and serves the cached policy (HTTP and gRPC, canary routes included, so it
// is the cached routing and not a fallback). Corrupt files: disk-cache-files.test.ts.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnFixture, type TestProcess } from './helpers.js';
import { startStaticWorld, type StaticWorld } from './static-stability-kit.js';

interface ClientReady {
  readonly calls: { httpDefault: string; httpCanary: string; grpcDefault: string; grpcCanary: string };
  readonly connected: boolean;
  readonly cache: { file: string; servingFromCache: boolean; resourcesFromCache: number; writes: number; loaded?: { ageMs: number; resources: number }; ignored?: string };
}
type LogLine = { type?: string; message?: string; file?: string };

const CACHED_POLICY = { httpDefault: 'h1', httpCanary: 'h2', grpcDefault: 'g1', grpcCanary: 'g2' };

describe('static stability: the xDS disk cache', { timeout: 110_000 }, () => {
  let world: StaticWorld;
  let cacheDir: string;
  const clients: TestProcess[] = [];

  const startClient = (): TestProcess => {
    const c = spawnFixture('test/integration/fixtures/static-client.ts', { WEFT_CONTROL_PLANE: world.cp.xdsUrl, CACHE_DIR: cacheDir });
    clients.push(c);
    return c;
  };
  const cacheFile = (): string => path.join(cacheDir, 'static-client.xds-cache.json');

  before(async () => {
    cacheDir = path.join(await mkdtemp(path.join(tmpdir(), 'weft-static-cache-')), 'xds');
    world = await startStaticWorld();
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.stop('SIGKILL')));
    await world?.close();
    await rm(path.dirname(cacheDir), { recursive: true, force: true });
  });

  it('writes the last good resources to a private file while the control plane serves', async () => {
    const first = startClient();
    const ready = await first.waitForLine<ClientReady>((l) => l['type'] === 'ready');
    assert.deepEqual(ready.calls, CACHED_POLICY);
    assert.equal(ready.connected, true);
    assert.equal(ready.cache.servingFromCache, false);
    await first.stop(); // SIGTERM: mesh.close() writes the latest accepted state
    assert.equal((await stat(cacheFile())).mode & 0o777, 0o600);
    assert.equal((await stat(cacheDir)).mode & 0o777, 0o700);
    const body = JSON.parse(await readFile(cacheFile(), 'utf8')) as { service: string; resources: { type_url: string; name: string }[] };
    assert.equal(body.service, 'static-client');
    for (const name of ['web', 'echo']) assert.ok(body.resources.some((r) => r.type_url.endsWith('Listener') && r.name === name), `Listener ${name} cached`);
  });

  it('restarted with every control plane down, starts from disk and serves the cached policy (HTTP and gRPC)', async () => {
    await world.killCp();
    const second = startClient();
    const ready = await second.waitForLine<ClientReady>((l) => l['type'] === 'ready');
    // The canary rules send x-canary: yes to v2: only the cached routes can know that.
    assert.deepEqual(ready.calls, CACHED_POLICY);
    assert.equal(ready.connected, false);
    assert.equal(ready.cache.servingFromCache, true);
    assert.ok(ready.cache.resourcesFromCache >= 8, `resources from cache: ${ready.cache.resourcesFromCache}`);
    assert.ok(ready.cache.loaded !== undefined && ready.cache.loaded.ageMs >= 0);
    assert.ok((second.lines as LogLine[]).some((l) => l.message?.startsWith('weft: ready on the last good configuration from the disk cache')));
    await second.stop('SIGKILL');
  });
});
