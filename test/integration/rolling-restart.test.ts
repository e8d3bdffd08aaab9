// A rolling restart of every backend under steady load: each old instance deregisters and drains before it exits,
// and its replacement registers first, so not one call fails.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { serviceYaml, spawnFixture, startTestControlPlane, waitFor, type TestControlPlane, type TestProcess } from './helpers.js';

describe('rolling restart under load', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  const live: TestProcess[] = [];

  const start = async (instance: string): Promise<TestProcess> => {
    const p = spawnFixture('test/integration/fixtures/http-backend.ts', { WEFT_CONTROL_PLANE: tcp.cp.xdsUrl, SERVICE: 'echo', INSTANCE: instance });
    await p.waitForLine((l) => l.type === 'ready');
    return p;
  };

  before(async () => {
    tcp = await startTestControlPlane({ 'echo.yaml': serviceYaml('echo') });
    for (const name of ['a1', 'b1', 'c1']) live.push(await start(name));
    mesh = await createMesh({ service: 'client', controlPlane: tcp.cp.xdsUrl, dependsOn: ['echo'] });
    await mesh.ready();
    await waitFor(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) seen.add(((await (await mesh.fetch('http://echo/')).json()) as { instance: string }).instance);
      return seen.size === 3;
    }, 'three instances in rotation');
  });

  after(async () => {
    await mesh?.close();
    await Promise.all(live.map((p) => p.stop('SIGKILL')));
    await tcp?.close();
  });

  it('replaces all three instances one by one with zero failed calls', async () => {
    let ok = 0;
    const failures: string[] = [];
    const served = new Set<string>();
    let running = true;
    const worker = async () => {
      while (running) {
        try {
          const res = await mesh.fetch('http://echo/work');
          const body = (await res.json()) as { instance: string };
          if (res.status === 200) {
            ok++;
            served.add(body.instance);
          } else failures.push(`status ${res.status}`);
        } catch (e: unknown) {
          failures.push(e instanceof Error ? `${e.message}: ${String((e as { cause?: unknown }).cause)}` : String(e));
        }
      }
    };
    const workers = Array.from({ length: 8 }, () => worker());
    try {
      for (const [i, next] of ['a2', 'b2', 'c2'].entries()) {
        const replacement = await start(next); // registered before the old one leaves
        const old = live[i]!;
        live[i] = replacement;
        await old.stop('SIGTERM'); // deregister, drain, exit
        assert.equal(old.child.exitCode, 0, `instance ${i} did not exit cleanly`);
      }
      await waitFor(() => served.has('c2'), 'the last replacement to serve', 5000);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${ok + failures.length} calls failed`);
    assert.ok(ok > 200, `only ${ok} calls made`);
    for (const name of ['a2', 'b2', 'c2']) assert.ok(served.has(name), `${name} never served`);
  });
});
