// A control plane that stops and comes back: clients keep serving on their last good configuration meanwhile,
// servers get their endpoints back into routing, and clients follow the new control plane — with no failed call.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type ControlPlane } from '../../control-plane/src/index.js';
import { createMesh, type Mesh } from '../../src/index.js';
import { serviceYaml, spawnFixture, waitFor, type TestProcess } from './helpers.js';

describe('control plane restart', { timeout: 90_000 }, () => {
  let dir: string;
  let cp: ControlPlane | undefined;
  let mesh: Mesh;
  const servers: TestProcess[] = [];

  const instances = async (n: number): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const res = await mesh.fetch('http://echo/who');
      assert.equal(res.status, 200);
      seen.add(((await res.json()) as { instance: string }).instance);
    }
    return seen;
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-restart-'));
    await writeFile(path.join(dir, 'echo.yaml'), serviceYaml('echo'));
    cp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0 });
    servers.push(spawnFixture('test/integration/fixtures/http-backend.ts', { WEFT_CONTROL_PLANE: cp.xdsUrl, SERVICE: 'echo', INSTANCE: 'a' }));
    await servers[0]!.waitForLine((l) => l.type === 'ready');
    mesh = await createMesh({ service: 'client', controlPlane: cp.xdsUrl, dependsOn: ['echo'] });
    await mesh.ready();
    await waitFor(async () => (await instances(3)).has('a'), 'instance a in routing');
  });

  after(async () => {
    await mesh?.close();
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps routing on the last good configuration while the control plane is down', async () => {
    const { xdsUrl } = cp!;
    await cp!.close();
    cp = undefined;
    const downSince = Date.now();
    while (Date.now() - downSince < 1500) assert.deepEqual([...(await instances(5))], ['a']);
    assert.equal(mesh.status().discovery?.connected, false);
    assert.match(xdsUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('comes back on the same address with no failed call, and clients follow it', async () => {
    const port = Number(new URL(mesh.status().controlPlane).port);
    let failures = 0;
    let calls = 0;
    let running = true;
    const traffic = (async () => {
      while (running) {
        try {
          const res = await mesh.fetch('http://echo/who');
          await res.arrayBuffer();
          if (res.status !== 200) failures++;
        } catch {
          failures++;
        }
        calls++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    cp = await startControlPlane({ configDir: dir, xdsPort: port, adminPort: 0 });
    // The client reconnects and the server's endpoint returns to the new control plane's registry.
    await waitFor(() => mesh.status().discovery?.connected === true, 'the client to reconnect', 15_000);
    await waitFor(async () => {
      const body = (await (await fetch(`${cp!.adminUrl}/v1/endpoints`, { headers: { authorization: `Bearer ${cp!.adminToken}` } })).json()) as unknown;
      return JSON.stringify(body).includes('"echo"');
    }, 'the endpoint to be registered again', 15_000);
    // A server started now registers with the new control plane; the client routes to it too.
    servers.push(spawnFixture('test/integration/fixtures/http-backend.ts', { WEFT_CONTROL_PLANE: cp.xdsUrl, SERVICE: 'echo', INSTANCE: 'b' }));
    await servers[1]!.waitForLine((l) => l.type === 'ready');
    await waitFor(async () => (await instances(6)).size === 2, 'both instances in routing', 10_000);
    running = false;
    await traffic;
    assert.ok(calls > 50, `only ${calls} calls made`);
    assert.equal(failures, 0, `${failures} of ${calls} calls failed across the restart`);
  });
});
