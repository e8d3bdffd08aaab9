// Circuit breaking over real processes: max_requests 2 on a slow backend fails the extra calls fast with a typed error,
// and calls succeed again once the load drops. The client is a real mesh fed real xDS (circuit_breakers) by a fake ADS server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { ERROR_CODES, findCause, createMesh, type Mesh } from '../../src/index.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { FakeControlPlane, xdsResource as x } from '../../src/testing/index.js';
import { spawnFixture, waitFor, type TestProcess } from './helpers.js';

const CLUSTER = 'slow:80';
const NARROW = 'narrow:80';

describe('circuit breaking (max_requests) against a slow backend', { timeout: 60_000 }, () => {
  let cp: FakeControlPlane;
  let mesh: Mesh;
  let backend: TestProcess;

  before(async () => {
    backend = spawnFixture('test/integration/fixtures/resilience-breaker-outlier-backend.ts', { INSTANCE: 'slow-1' });
    const { port } = await backend.waitForLine<{ port: number }>((l) => l['type'] === 'ready');
    cp = await FakeControlPlane.start();
    cp.setResources(TYPE_URL.listener, [x.listener('slow'), x.listener('narrow')]);
    cp.setResources(TYPE_URL.routeConfiguration, [
      x.routeConfig('slow', [x.route('/', { [CLUSTER]: 1 })]),
      x.routeConfig('narrow', [x.route('/', { [NARROW]: 1 })]),
    ]);
    cp.setResources(TYPE_URL.cluster, [
      { ...x.cluster(CLUSTER), circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_requests: { value: 2 } }] } },
      {
        ...x.cluster(NARROW),
        circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_connections: { value: 1 }, max_pending_requests: { value: 1 } }] },
      },
    ]);
    cp.setResources(TYPE_URL.clusterLoadAssignment, [
      x.clusterLoadAssignment(CLUSTER, [`127.0.0.1:${port}`]),
      x.clusterLoadAssignment(NARROW, [`127.0.0.1:${port}`]),
    ]);
    mesh = await createMesh({ service: 'breaker-client', controlPlane: `http://${cp.address}`, dependsOn: ['slow', 'narrow'] });
    await mesh.ready();
  });

  after(async () => {
    await mesh?.close();
    await cp?.close();
    await backend?.stop();
  });

  async function call(delayMs: number, host = 'slow'): Promise<{ ok: true; ms: number } | { ok: false; error: unknown; ms: number }> {
    const start = performance.now();
    try {
      const res = await request(`http://${host}/work`, { dispatcher: mesh.dispatcher, headers: { 'x-test-delay-ms': String(delayMs) } });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
      return { ok: true, ms: performance.now() - start };
    } catch (error: unknown) {
      return { ok: false, error, ms: performance.now() - start };
    }
  }

  it('fails the calls past max_requests fast with WEFT_ERR_OVERLOADED naming the threshold, then recovers', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => call(600)));
    const ok = results.filter((r) => r.ok);
    const failed = results.filter((r): r is { ok: false; error: unknown; ms: number } => !r.ok);
    assert.equal(ok.length, 2, 'exactly max_requests calls went through');
    assert.equal(failed.length, 8);
    // Fast = refused before either admitted call came back from the 600 ms backend (an ordering, not a time window).
    const firstAdmittedMs = Math.min(...ok.map((r) => r.ms));
    for (const f of failed) {
      const e = findCause(f.error, ERROR_CODES.OVERLOADED);
      assert.ok(e, `typed error, got ${String(f.error)}`);
      assert.equal(e.details['reason'], 'max_requests');
      assert.equal(e.details['cluster'], CLUSTER);
      assert.ok(f.ms < firstAdmittedMs, `failed fast (${f.ms.toFixed(0)} ms, admitted calls took ${firstAdmittedMs.toFixed(0)} ms), without waiting for the slow backend`);
    }
    const status = mesh.status().resilience[CLUSTER]?.circuitBreaker;
    assert.equal(status?.overflows.max_requests, 8, 'mesh.status() counts the refusals');
    assert.equal(status?.thresholds.maxRequests, 2);
    assert.equal(status?.activeRequests, 0, 'nothing left in flight');
    // Load has dropped: every call is admitted again.
    const again = await Promise.all([call(0), call(0)]);
    assert.ok(again.every((r) => r.ok), 'calls succeed again after the load drops');
  });

  it('applies an edited max_requests live, without restart', async () => {
    cp.setResources(TYPE_URL.cluster, [
      { ...x.cluster(CLUSTER), circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_requests: { value: 4 } }] } },
      {
        ...x.cluster(NARROW),
        circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_connections: { value: 1 }, max_pending_requests: { value: 1 } }] },
      },
    ]);
    await waitFor(() => mesh.status().resilience[CLUSTER]?.circuitBreaker?.thresholds.maxRequests === 4, 'the new limit');
    const results = await Promise.all(Array.from({ length: 10 }, () => call(400)));
    assert.equal(results.filter((r) => r.ok).length, 4);
  });

  it('max_connections 1 and max_pending_requests 1: one call runs, one waits for the connection, the third fails fast', async () => {
    // A call is pending from dispatch until undici writes it on a connection (as in Envoy, connecting included), so
    // the calls are spaced a little: the first is written, the second waits for the single connection, the third fails.
    assert.ok((await call(0, 'narrow')).ok);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const first = call(400, 'narrow');
    await sleep(50);
    const second = call(400, 'narrow');
    await sleep(50);
    const results = await Promise.all([first, second, call(400, 'narrow')]);
    assert.equal(results.filter((r) => r.ok).length, 2, 'the running call and the one queued behind it succeed');
    const failed = results.find((r): r is { ok: false; error: unknown; ms: number } => !r.ok);
    assert.equal(findCause(failed?.error, ERROR_CODES.OVERLOADED)?.details['reason'], 'max_pending_requests');
    const queued = results.filter((r) => r.ok).map((r) => r.ms).sort((a, b) => a - b);
    assert.ok(queued[1]! >= 650, `the second call waited for the single connection (${queued[1]!.toFixed(0)} ms)`);
  });
});
