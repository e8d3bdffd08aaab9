// Fault injection end to end over real processes: a control plane, a registered backend process, and a meshed client.
// An abort fault answers a share of calls locally (the backend never sees them), a header-gated delay holds only the
// calls that carry the header, and edits to a FaultInjection apply to the next calls without a restart.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createMesh, formatExplanation, type Mesh } from '../../src/index.js';
import { serviceYaml, spawnFixture, startTestControlPlane, waitFor, type TestControlPlane, type TestProcess } from './helpers.js';

const FAULT = (name: string, spec: string) => `apiVersion: weft.dev/v1alpha1
kind: FaultInjection
metadata:
  name: ${name}
spec:
${spec}`;

const REF = (name: string) => `      filters:
        - type: ExtensionRef
          extensionRef: { group: weft.dev, kind: FaultInjection, name: ${name} }
`;

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: fault-echo
spec:
  parentRefs:
    - kind: Service
      name: fault-echo
  rules:
    - matches: [{ path: { type: PathPrefix, value: /abort } }]
      backendRefs: [{ name: fault-echo, port: 8080 }]
${REF('half-503')}    - matches: [{ path: { type: PathPrefix, value: /delay } }]
      backendRefs: [{ name: fault-echo, port: 8080 }]
      timeouts: { request: 2s }
${REF('chaos-delay')}    - backendRefs: [{ name: fault-echo, port: 8080 }]
`;

describe('fault injection (HTTP, real processes)', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  let backend: TestProcess;

  async function call(path: string, headers: Record<string, string> = {}): Promise<{ status: number; meshError: unknown; body: string }> {
    const res = await request(`http://fault-echo${path}`, { dispatcher: mesh.dispatcher, headers });
    return { status: res.statusCode, meshError: res.headers['x-mesh-error'], body: await res.body.text() };
  }

  async function stats(): Promise<Record<string, number>> {
    return JSON.parse((await call('/stats')).body) as Record<string, number>;
  }

  before(async () => {
    tcp = await startTestControlPlane({
      'services.yaml': serviceYaml('fault-echo'),
      'faults.yaml': [
        FAULT('half-503', '  abort: { httpStatus: 503, percentage: 50 }\n'),
        FAULT('chaos-delay', '  delay: { fixedDelay: 1s }\n  headers: [{ name: x-chaos, value: "on" }]\n'),
      ].join('---\n'),
      'route.yaml': ROUTE,
    });
    backend = spawnFixture('test/integration/fixtures/resilience-fault-backend.ts', { WEFT_CONTROL_PLANE: tcp.cp.xdsUrl, SERVICE: 'fault-echo', LEASE_TTL_MS: '1000' });
    await backend.waitForLine((l) => l.type === 'ready');
    mesh = await createMesh({ service: 'fault-client', controlPlane: tcp.cp.xdsUrl, dependsOn: ['fault-echo'] });
    await mesh.ready();
    await waitFor(async () => (await call('/stats')).status === 200, 'the backend is routable');
  });

  after(async () => {
    await mesh?.close();
    await backend?.stop('SIGKILL');
    await tcp?.close();
  });

  it('aborts about half the calls locally with 503; the backend sees exactly the others', async () => {
    const n = 400;
    let injected = 0;
    let passed = 0;
    for (let i = 0; i < n; i++) {
      const r = await call('/abort');
      if (r.status === 503) {
        assert.equal(r.meshError, 'fault-injected');
        assert.equal(r.body, 'fault filter abort');
        injected++;
      } else {
        assert.equal(r.status, 200);
        passed++;
      }
    }
    // Binomial(400, 0.5): sd = 10; accept ±4 sd.
    assert.ok(injected >= 160 && injected <= 240, `injected ${injected}/${n}`);
    assert.equal((await stats())['/abort'], passed, 'the backend received only the calls that were not aborted');
  });

  it('shows the fault of the matched route in explain()', async () => {
    const text = formatExplanation(await mesh.explain('http://fault-echo/abort'));
    assert.match(text, /fault: abort 503 for 50% of calls/);
    assert.doesNotMatch(formatExplanation(await mesh.explain('http://fault-echo/other')), /fault:/);
  });

  // Not delayed = a plain call started after an x-chaos one still finishes first (an ordering with the 1 s delay as
  // margin, not a wall-clock bound that a loaded machine breaks); delayed = not before the 1 s passed.
  it('delays by 1 s only the calls with x-chaos: on', async () => {
    for (let i = 0; i < 2; i++) {
      const order: string[] = [];
      const t = performance.now();
      const chaos = call('/delay', { 'x-chaos': 'on' }).then((r) => {
        order.push('x-chaos');
        return { status: r.status, ms: performance.now() - t };
      });
      const plain = call('/delay').then((r) => {
        order.push('plain');
        return r.status;
      });
      const [delayed, plainStatus] = await Promise.all([chaos, plain]);
      assert.equal(delayed.status, 200);
      assert.equal(plainStatus, 200);
      assert.ok(delayed.ms >= 995, `x-chaos call took ${delayed.ms.toFixed(1)} ms`);
      assert.deepEqual(order, ['plain', 'x-chaos'], 'the plain call, started second, was not held');
    }
    assert.equal((await stats())['/delay'], 4, 'delayed calls are still delivered');
  });

  it('lets the caller abort during an injected delay: it fails at once and is never sent', async () => {
    // The abort error itself shows the call failed on the caller's signal; the count shows it was never sent.
    await assert.rejects(
      request('http://fault-echo/delay', { dispatcher: mesh.dispatcher, headers: { 'x-chaos': 'on' }, signal: AbortSignal.timeout(50) }),
      (e: Error) => e.name === 'TimeoutError' || e.name === 'AbortError' || /abort/i.test(e.message),
    );
    await new Promise((r) => setTimeout(r, 1_250)); // past the delay: a leaked timer would send the call now
    assert.equal((await stats())['/delay'], 4, 'the aborted call never reached the backend');
  });

  it('applies an edit of the FaultInjection to the next calls, with no restart', async () => {
    const res = await tcp.apply(FAULT('half-503', '  abort: { httpStatus: 429, percentage: 100 }\n'));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor(async () => (await call('/abort')).status === 429, 'the edited fault (429, 100 %) in use');
    for (let i = 0; i < 20; i++) assert.equal((await call('/abort')).status, 429);
    const off = await tcp.apply(FAULT('half-503', '  abort: { httpStatus: 429, percentage: 0 }\n'));
    assert.equal(off.status, 200, JSON.stringify(off.body));
    await waitFor(async () => (await call('/abort')).status === 200, 'the fault switched off');
    for (let i = 0; i < 20; i++) assert.equal((await call('/abort')).status, 200);
  });
});
