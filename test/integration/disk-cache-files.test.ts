// Bad xDS disk cache files: corrupt, truncated, foreign or future-format files are ignored with one clear warning that
// names the file and the reason, start-up goes on as with no cache (and the file is written whole again); a cached
// resource that no longer validates is dropped with a warning instead of being served; and live resources replace
// cached ones once the control plane is back.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startControlPlane } from '../../control-plane/src/index.js';
import { createMesh, type Logger } from '../../src/index.js';
import { cacheFileOf, decodeXdsCache, encodeXdsCache, XDS_CACHE_FORMAT_VERSION } from '../../src/discovery/xds/disk-cache.js';
import { protos, TYPE_URL } from '../../src/discovery/xds/protos.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

type Logged = { message: string; fields: Record<string, unknown> | undefined };
function recordingLogger(): { logger: Logger; warnings: Logged[] } {
  const warnings: Logged[] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (message, fields) => void warnings.push({ message, fields }), error: (message, fields) => void warnings.push({ message, fields }) };
  return { logger, warnings };
}

describe('xDS disk cache files', { timeout: 90_000 }, () => {
  let tcp: TestControlPlane;
  let dir: string;
  let good: string;
  const identity = () => ({ service: 'reader', nodeId: 'n', controlPlane: new URL(tcp.cp.xdsUrl).host, locality: {} });

  before(async () => {
    tcp = await startTestControlPlane({ 'echo.yaml': serviceYaml('echo') });
    dir = await mkdtemp(path.join(tmpdir(), 'weft-cache-files-'));
    // A good file, written by a mesh the control plane served.
    const mesh = await createMesh({ service: 'reader', controlPlane: tcp.cp.xdsUrl, dependsOn: ['echo'], xdsCache: { dir } });
    await mesh.ready();
    await mesh.close();
    good = await readFile(cacheFileOf(dir, 'reader'), 'utf8');
    assert.equal(decodeXdsCache(good, identity()).ok, true);
  });

  after(async () => {
    await tcp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const bad: [string, () => string, RegExp][] = [
    ['truncated file', () => good.slice(0, Math.floor(good.length / 2)), /not valid JSON, the file is truncated or corrupt/],
    ['corrupt file (a flipped byte that still parses)', () => good.replace(/"value":"(.)/, (_m, c: string) => `"value":"${c === 'A' ? 'B' : 'A'}`), /checksum mismatch, the file is corrupt/],
    ['foreign file (another service)', () => encodeXdsCache({ ...identity(), service: 'other' }, 'x:1', Date.now(), []), /written for service 'other', not 'reader'/],
    ['foreign file (another control plane)', () => encodeXdsCache({ ...identity(), controlPlane: '10.0.0.1:15010' }, 'x:1', Date.now(), []), /written for control plane 10\.0\.0\.1:15010/],
    ['file from a future format version', () => good.replace(`"formatVersion":${XDS_CACHE_FORMAT_VERSION}`, '"formatVersion":99'), /format version 99, newer than the 1 this SDK reads/],
    ['JSON file that is not a cache at all', () => '{"hello":"world"}', /not a Weft xDS cache file/],
  ];
  for (const [what, content, reason] of bad) {
    it(`ignores a ${what} with one warning, starts live and writes the file whole again`, async () => {
      const file = cacheFileOf(dir, 'reader');
      await writeFile(file, content());
      const { logger, warnings } = recordingLogger();
      const mesh = await createMesh({ service: 'reader', controlPlane: tcp.cp.xdsUrl, dependsOn: ['echo'], xdsCache: { dir }, logger });
      try {
        await mesh.ready();
        const cacheWarnings = warnings.filter((w) => w.message.startsWith('xDS disk cache'));
        assert.equal(cacheWarnings.length, 1, JSON.stringify(cacheWarnings));
        assert.ok(cacheWarnings[0]!.message.startsWith(`xDS disk cache ${file} ignored: `));
        assert.match(cacheWarnings[0]!.message, reason);
        assert.equal(cacheWarnings[0]!.fields?.['file'], file);
        const cache = mesh.status().discovery?.cache;
        assert.match(cache?.ignored ?? '', reason);
        assert.equal(cache?.servingFromCache, false);
        assert.equal(mesh.status().discovery?.connected, true);
      } finally {
        await mesh.close();
      }
      assert.equal(decodeXdsCache(await readFile(file, 'utf8'), identity()).ok, true);
    });
  }

  it('drops a cached resource that no longer validates, with a warning, instead of serving it', async () => {
    const deadCp = '127.0.0.1:1'; // nothing listens: the cache is all there is
    const listener = protos().encode('envoy.config.listener.v3.Listener', { name: 'echo' }); // no api_listener: refused
    const deadDir = path.join(dir, 'dead');
    await mkdir(deadDir, { mode: 0o700 });
    await writeFile(
      cacheFileOf(deadDir, 'reader'),
      encodeXdsCache({ ...identity(), controlPlane: deadCp }, deadCp, Date.now(), [
        { typeUrl: TYPE_URL.listener, name: 'echo', version: '7', any: { type_url: TYPE_URL.listener, value: listener } },
      ]),
    );
    const { logger, warnings } = recordingLogger();
    const mesh = await createMesh({ service: 'reader', controlPlane: `http://${deadCp}`, xdsCache: { dir: deadDir }, logger, resolveTimeoutMs: 200 });
    try {
      const explained = await mesh.explain('http://echo/');
      assert.notEqual(explained.decision, 'forward');
      const dropped = warnings.filter((w) => w.message.startsWith('xDS disk cache: a cached resource no longer validates'));
      assert.equal(dropped.length, 1, JSON.stringify(warnings));
      assert.equal(dropped[0]!.fields?.['name'], 'echo');
      assert.equal(mesh.status().discovery?.cache?.loaded?.resources, 1);
      assert.equal(mesh.status().discovery?.cache?.servingFromCache, false);
      assert.notEqual(mesh.configDump().targets['echo']?.status, 'resolved');
    } finally {
      await mesh.close();
    }
  });

  it('serves from the file while the control plane is down, and live resources replace it when it is back', async () => {
    const configDir = await mkdtemp(path.join(tmpdir(), 'weft-cache-back-'));
    const cacheDir = path.join(configDir, 'cache');
    await writeFile(path.join(configDir, 'echo.yaml'), [serviceYaml('echo'), serviceYaml('comeback')].join('---\n'));
    let cp = await startControlPlane({ configDir, xdsPort: 0, adminPort: 0 });
    const port = Number(new URL(cp.xdsUrl).port);
    const options = { service: 'comeback', controlPlane: cp.xdsUrl, dependsOn: ['echo'], xdsCache: { dir: cacheDir, readyWaitMs: 100 } };
    const routesOf = (m: { configDump(): { targets: Record<string, { routes?: readonly string[] }> } }) => m.configDump().targets['echo']?.routes ?? [];
    try {
      const first = await createMesh(options);
      await first.serve((_req, res) => res.end('ok'), { port: 0 }); // so its inbound policy is in the file too
      await first.ready();
      const liveRoutes = routesOf(first);
      await first.close();
      await cp.close();
      const mesh = await createMesh(options);
      try {
        // Serving too: its registration cannot complete now and must not hold ready() up; it completes later.
        const served = await mesh.serve((_req, res) => res.end('ok'), { port: 0 });
        await mesh.ready(); // no control plane: the file
        assert.notEqual(served.registration?.status().state, 'registered');
        assert.deepEqual(routesOf(mesh), liveRoutes);
        assert.equal(mesh.status().discovery?.cache?.servingFromCache, true);
        // Back, with an edit the file cannot know.
        await writeFile(
          path.join(configDir, 'route.yaml'),
          `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo-canary }
spec:
  parentRefs: [{ kind: Service, name: echo }]
  rules:
    - matches: [{ headers: [{ name: x-canary, value: "yes" }] }]
      backendRefs: [{ name: echo, port: 8080 }]
`,
        );
        cp = await startControlPlane({ configDir, xdsPort: port, adminPort: 0 });
        await waitFor(() => mesh.status().discovery?.cache?.servingFromCache === false, 'live resources to replace every cached one', 30_000);
        await waitFor(() => routesOf(mesh).some((r) => r.includes('echo-canary')), 'the edit', 30_000);
        assert.equal(mesh.status().discovery?.connected, true);
        await waitFor(() => served.registration?.status().state === 'registered', 'the deferred registration', 30_000);
      } finally {
        await mesh.close();
      }
    } finally {
      await cp.close();
      await rm(configDir, { recursive: true, force: true });
    }
  });
});
