// Long-lived xDS streams rebalanced by a maximum connection age: with a 1 s age, SDK processes are sent a GOAWAY again
// and again while traffic flows, reconnect each time as a routine event (no warning, no backoff), keep serving with
// zero failed requests, still follow config edits, and their registrations stay alive.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type ControlPlane } from '../../control-plane/src/index.js';
import { recordingLogger } from '../../control-plane/src/ca/ca-test-kit.js';
import { createMesh, type Mesh } from '../../src/index.js';
import { serviceYaml, spawnFixture, waitFor, type TestProcess } from './helpers.js';

const ROUTE_TO = (backend: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo-route }
spec:
  parentRefs: [{ kind: Service, name: echo }]
  rules:
    - backendRefs: [{ name: ${backend}, port: 8080 }]
`;
const LEASE_TTL_MS = 2_000;

describe('maximum connection age', { timeout: 120_000 }, () => {
  let dir: string;
  let cp: ControlPlane;
  let mesh: Mesh;
  const logger = recordingLogger();
  const servers: TestProcess[] = [];

  const who = async (): Promise<string> => {
    const res = await mesh.fetch('http://echo/who');
    assert.equal(res.status, 200);
    return ((await res.json()) as { service: string }).service;
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-age-'));
    await writeFile(path.join(dir, 'services.yaml'), `${serviceYaml('echo')}---\n${serviceYaml('echo-v2')}`);
    cp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, stateDir: false, maxConnectionAgeMs: 1_000, maxConnectionAgeGraceMs: 2_000 });
    for (const service of ['echo', 'echo-v2']) {
      const s = spawnFixture('test/integration/fixtures/http-backend.ts', { WEFT_CONTROL_PLANE: cp.xdsUrl, SERVICE: service, LEASE_TTL_MS: String(LEASE_TTL_MS) });
      servers.push(s);
      await s.waitForLine((l) => l.type === 'ready');
    }
    // A cache dir of its own: another test's 'client' cache (another control plane) would be ignored with a warning.
    mesh = await createMesh({ service: 'client', controlPlane: cp.xdsUrl, dependsOn: ['echo'], logger, xdsCache: { dir: await mkdtemp(path.join(tmpdir(), 'weft-mca-cache-')) } });
    await mesh.ready();
    await waitFor(async () => (await who()) === 'echo', 'echo in routing', 15_000);
  });

  after(async () => {
    await mesh?.close();
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reconnects routinely several times under traffic with zero failures, follows edits, keeps registrations', async () => {
    let calls = 0;
    const failures: string[] = [];
    const seen = new Set<string>();
    let running = true;
    const traffic = (async () => {
      while (running) {
        try {
          const res = await mesh.fetch('http://echo/who');
          const body = (await res.json()) as { service: string };
          if (res.status === 200) seen.add(body.service);
          else failures.push(`status ${res.status}`);
        } catch (e: unknown) {
          failures.push(String(e));
        }
        calls++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const recycled = () => logger.find('info', /xDS connection recycled by the control plane/).length;
    const pushes = () => [...cp.pushMetrics.render().matchAll(/^weft_control_plane_xds_pushes_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    try {
      await waitFor(() => recycled() >= 1, 'a first routine reconnect', 60_000);
      const pushedBefore = pushes();
      // At a 1 s age (±10 %), two more recycles take about 2.2 s; the bound is for a loaded machine.
      await waitFor(() => recycled() >= 3, 'three routine reconnects', 60_000);
      // Every process (this one and both servers) reconnected meanwhile, each already holding the current versions.
      assert.equal(pushes(), pushedBefore, 'no re-push on reconnects while nothing changed');
      // Still converged: an edit made now reaches the client over its latest stream.
      const res = await fetch(`${cp.adminUrl}/v1/apply`, { method: 'POST', body: ROUTE_TO('echo-v2'), headers: { authorization: `Bearer ${cp.adminToken}` } });
      assert.equal(res.status, 200, await res.clone().text());
      await waitFor(() => seen.has('echo-v2'), 'the edit to reach the client', 30_000);
      // More ages pass than a lease lasts: the servers' registrations are kept alive across their own reconnects.
      const at = recycled();
      await waitFor(() => recycled() >= at + 2, 'two more reconnects', 60_000);
    } finally {
      running = false;
      await traffic;
    }
    assert.equal(failures.length, 0, `${failures.length} of ${calls} calls failed: ${failures.slice(0, 3).join('; ')}`);
    assert.ok(calls > 20, `only ${calls} calls made`);
    assert.deepEqual(cp.registry.endpoints().map((e) => e.service).sort(), ['echo', 'echo-v2'], 'both registrations alive');
    await waitFor(() => mesh.status().discovery?.connected === true, 'the stream to be up (it may be between two connections)', 10_000);
    const warnings = logger.entries.filter((e) => e.level === 'warn' || e.level === 'error');
    assert.deepEqual(warnings.map((w) => w.message), [], 'a GOAWAY is not a failure: nothing logged as one');
    assert.ok(cp.pushMetrics.status().count >= 1, 'the edit converged on the client');
  });
});
