// A control plane killed (SIGKILL, its own process) under steady HTTP and gRPC load: no request fails while it is
// down, and when it is back (on the same address) the client reconnects and converges to an edit made meanwhile.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startControlPlane, type ControlPlane } from '../../control-plane/src/index.js';
import { createMesh, type Mesh } from '../../src/index.js';
import { EchoClient, say, type EchoClientInstance } from '../../src/testing/index.js';
import { waitFor } from './helpers.js';
import { startStaticWorld, type StaticWorld } from './static-stability-kit.js';

describe('a control plane killed under load', { timeout: 110_000 }, () => {
  let world: StaticWorld;
  let cacheDir: string;
  let mesh: Mesh;
  let client: EchoClientInstance;
  let restarted: ControlPlane | undefined;

  before(async () => {
    cacheDir = await mkdtemp(path.join(tmpdir(), 'weft-killed-cache-'));
    world = await startStaticWorld();
    mesh = await createMesh({ service: 'loader', controlPlane: world.cp.xdsUrl, dependsOn: ['web', 'echo'], xdsCache: { dir: cacheDir } });
    await mesh.ready();
    client = mesh.grpc.client(EchoClient, 'echo');
  });

  after(async () => {
    client?.close();
    await mesh?.close();
    await restarted?.close();
    await world?.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('fails no HTTP or gRPC request, then reconnects and converges to a new edit', async () => {
    const failures: string[] = [];
    const seen = { http: new Map<string, number>(), grpc: new Map<string, number>() };
    let calls = 0;
    let running = true;
    const worker = async (kind: 'http' | 'grpc'): Promise<void> => {
      while (running) {
        try {
          const who =
            kind === 'http'
              ? ((await (await mesh.fetch('http://web/who')).json()) as { instance: string }).instance
              : (await say(client, { text: 'x' }, { metadata: new grpc.Metadata(), deadlineMs: 10_000 })).server;
          seen[kind].set(who, (seen[kind].get(who) ?? 0) + 1);
        } catch (e: unknown) {
          failures.push(`${kind}: ${e instanceof Error ? e.message : String(e)}`);
        }
        calls++;
      }
    };
    const workers = [worker('http'), worker('http'), worker('grpc'), worker('grpc')];
    const callsMore = async (n: number, what: string): Promise<void> => {
      const target = calls + n;
      await waitFor(() => calls >= target, what, 60_000);
    };
    try {
      await callsMore(100, 'load before the kill');
      const port = Number(new URL(world.cp.xdsUrl).port);
      await world.killCp();
      await waitFor(() => mesh.status().discovery?.connected === false, 'the client to see the control plane gone', 30_000);
      await callsMore(300, 'load while the control plane is down');
      assert.equal(mesh.status().discovery?.connected, false, 'still down during that load');
      // Edited while down; back on the same address: plain HTTP calls now go to web-v2.
      await world.writeRoutes('web-v2');
      // In this process (a second process start costs a loaded machine many seconds); the kill above was of a real one.
      restarted = await startControlPlane({ configDir: world.configDir, xdsPort: port, adminPort: 0 });
      await waitFor(() => mesh.status().discovery?.connected === true, 'the client to reconnect', 30_000);
      const before = seen.http.get('h2') ?? 0;
      await waitFor(() => (seen.http.get('h2') ?? 0) > before + 20, 'plain HTTP calls to follow the edit to web-v2', 30_000);
      await callsMore(50, 'load after the edit');
    } finally {
      running = false;
      await Promise.all(workers);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${calls} calls failed`);
    assert.ok((seen.grpc.get('g1') ?? 0) > 0 && (seen.http.get('h1') ?? 0) > 0, 'both protocols carried load');
  });
});
