// End to end over real processes: control plane, registered HTTP servers, and a meshed client routing by Gateway API rules.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { serviceYaml, spawnFixture, startTestControlPlane, waitFor, type TestControlPlane, type TestProcess } from './helpers.js';

const ROUTE = (v1: number, v2: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: echo-split
spec:
  parentRefs:
    - kind: Service
      name: echo
  rules:
    - matches:
        - path: { type: PathPrefix, value: /v2-only }
      backendRefs:
        - name: echo-v2
          port: 8080
    - matches:
        - headers:
            - name: x-canary
              value: "yes"
      backendRefs:
        - name: echo-v2
          port: 8080
    - matches:
        - path: { type: Exact, value: /delete-me }
          method: DELETE
      backendRefs:
        - name: echo-v2
          port: 8080
    - backendRefs:
        - name: echo-v1
          port: 8080
          weight: ${v1}
        - name: echo-v2
          port: 8080
          weight: ${v2}
`;

interface Reply {
  service: string;
  instance: string;
  path: string;
  host: string;
}

describe('HTTP routing through the control plane', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  const servers: TestProcess[] = [];
  const ports: number[] = [];

  async function call(path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
    const res = await request(`http://echo${path}`, { dispatcher: mesh.dispatcher, method: (init.method ?? 'GET') as 'GET', headers: init.headers });
    assert.equal(res.statusCode, 200, `status for ${path}`);
    return (await res.body.json()) as Reply;
  }

  async function spread(n: number): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await call('/split');
      counts[r.service] = (counts[r.service] ?? 0) + 1;
    }
    return counts;
  }

  before(async () => {
    tcp = await startTestControlPlane({
      'services.yaml': [serviceYaml('echo'), serviceYaml('echo-v1'), serviceYaml('echo-v2')].join('---\n'),
      'route.yaml': ROUTE(80, 20),
    });
    const env = { WEFT_CONTROL_PLANE: tcp.cp.xdsUrl, LEASE_TTL_MS: '1000' };
    for (const [service, instance] of [
      ['echo-v1', 'v1-a'],
      ['echo-v1', 'v1-b'],
      ['echo-v2', 'v2-a'],
    ] as const) {
      const p = spawnFixture('test/integration/fixtures/http-backend.ts', { ...env, SERVICE: service, INSTANCE: instance });
      servers.push(p);
    }
    for (const p of servers) ports.push((await p.waitForLine<{ port: number }>((l) => l.type === 'ready')).port);
    mesh = await createMesh({ service: 'client', controlPlane: tcp.cp.xdsUrl, dependsOn: ['echo'] });
    await mesh.ready();
    // All three endpoints are routable once EDS has them.
    await waitFor(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) seen.add((await call('/split')).instance);
      return seen.size === 3;
    }, 'all three endpoints in rotation');
  });

  after(async () => {
    await mesh?.close();
    await Promise.all(servers.map((p) => p.stop('SIGKILL')));
    await tcp?.close();
  });

  it('routes by path prefix on path-element boundaries', async () => {
    assert.equal((await call('/v2-only')).service, 'echo-v2');
    assert.equal((await call('/v2-only/deeper')).service, 'echo-v2');
    // /v2-onlyx is not under the /v2-only prefix: it falls to the weighted catch-all, where v1 dominates.
    const counts: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const s = (await call('/v2-onlyx')).service;
      counts[s] = (counts[s] ?? 0) + 1;
    }
    assert.ok((counts['echo-v1'] ?? 0) > 15, `expected /v2-onlyx to reach v1 mostly, got ${JSON.stringify(counts)}`);
  });

  it('routes by header and by method + exact path', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await call('/any', { headers: { 'x-canary': 'yes' } })).service, 'echo-v2');
    for (let i = 0; i < 10; i++) assert.equal((await call('/delete-me', { method: 'DELETE' })).service, 'echo-v2');
  });

  it('keeps the logical authority as the Host header', async () => {
    assert.equal((await call('/host')).host, 'echo');
  });

  it('splits traffic by weight within tolerance', async () => {
    const counts = await spread(400);
    const v2 = counts['echo-v2'] ?? 0;
    // 20 % of 400 = 80; binomial sd ≈ 8; allow ±4 sd.
    assert.ok(v2 >= 48 && v2 <= 112, `echo-v2 got ${v2}/400 (expected about 80): ${JSON.stringify(counts)}`);
  });

  it('explains which route, cluster and endpoint a request gets', async () => {
    const explanation = await mesh.explain('http://echo/any', { headers: { 'x-canary': 'yes' } });
    const text = JSON.stringify(explanation);
    assert.match(text, /HTTPRoute\/echo-split\/rules\/1/);
    assert.match(text, /echo-v2:8080/);
  });

  it('applies a live edit to every request within a second, with no failed request', async () => {
    let failures = 0;
    let running = true;
    const traffic = (async () => {
      while (running) {
        try {
          await call('/split');
        } catch {
          failures++;
        }
      }
    })();
    const res = await tcp.apply(ROUTE(0, 100));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor(async () => {
      for (let i = 0; i < 20; i++) if ((await call('/split')).service !== 'echo-v2') return false;
      return true;
    }, 'all traffic on echo-v2', 5000, 10);
    running = false;
    await traffic;
    assert.equal(failures, 0);
    // How fast is measured in benchmarks/convergence.ts; here the bound is waitFor's (5 s).
    const back = await tcp.apply(ROUTE(80, 20));
    assert.equal(back.status, 200);
  });

  it('refuses a bad file whole, says where and why, and keeps serving the last good config', async () => {
    const bad = `${serviceYaml('extra')}---
${ROUTE(80, 20).replace('weight: 20', 'weight: -5')}`;
    const res = await tcp.apply(bad);
    assert.equal(res.status, 400);
    const text = JSON.stringify(res.body);
    assert.match(text, /HTTPRoute\/echo-split/);
    assert.match(text, /backendRefs\[1\]\.weight/);
    // Nothing from the refused file was stored: the valid Service in it was not applied either.
    const services = (await tcp.admin('GET', '/v1/resources?kind=Service')).body;
    assert.doesNotMatch(JSON.stringify(services), /"extra"/);
    assert.equal((await call('/v2-only')).service, 'echo-v2');
  });

  it('drops a killed server from routing once its lease expires', async () => {
    const victimPort = ports[1]!; // v1-b
    const endpointPorts = async () =>
      (await mesh.explain('http://echo/split')).route?.clusters.flatMap((c) => c.endpoints.map((e) => e.port)) ?? [];
    // The previous test's last edit (back to the 80/20 split) may still be in the control plane's push debounce.
    await waitFor(async () => (await endpointPorts()).includes(victimPort), 'the victim routed', 5000);
    const killedAt = Date.now();
    await servers[1]!.stop('SIGKILL'); // no deregistration: only the lease can remove it
    // The lease TTL is 1 s (renewed every ~333 ms): it must leave routing within a few seconds.
    await waitFor(async () => !(await endpointPorts()).includes(victimPort), 'the killed endpoint to leave routing', 5000);
    const goneAfterMs = Date.now() - killedAt;
    assert.ok(goneAfterMs >= 300, `removed after ${goneAfterMs} ms: too soon for a 1 s lease, something else removed it`);
    assert.deepEqual((await endpointPorts()).sort(), [ports[0]!, ports[2]!].sort());
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) seen.add((await call('/split')).instance);
    assert.ok(!seen.has('v1-b'));
    assert.ok(seen.has('v1-a') && seen.has('v2-a'));
  });
});
