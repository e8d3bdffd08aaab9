// Circuit breaking over real processes: max_requests 2 on a slow backend fails the extra calls fast with a typed error,
// and calls succeed again once the load drops. The client is a real mesh fed real xDS (circuit_breakers) by a fake ADS server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { ERROR_CODES, findCause, createMesh, type Mesh } from '../../src/index.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { FakeControlPlane, xdsResource as x } from '../../src/testing/index.js';
import { spawnFixture, type TestProcess } from './helpers.js';

const CLUSTER = 'slow:80';

describe('circuit breaking (max_requests) against a slow backend', { timeout: 60_000 }, () => {
  let cp: FakeControlPlane;
  let mesh: Mesh;
  let backend: TestProcess;

  before(async () => {
    backend = spawnFixture('test/integration/fixtures/resilience-breaker-outlier-backend.ts', { INSTANCE: 'slow-1' });
    const { port } = await backend.waitForLine<{ port: number }>((l) => l['type'] === 'ready');
    cp = await FakeControlPlane.start();
    cp.setResources(TYPE_URL.listener, [x.listener('slow')]);
    cp.setResources(TYPE_URL.routeConfiguration, [x.routeConfig('slow', [x.route('/', { [CLUSTER]: 1 })])]);
    cp.setResources(TYPE_URL.cluster, [
      { ...x.cluster(CLUSTER), circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_requests: { value: 2 } }] } },
    ]);
    cp.setResources(TYPE_URL.clusterLoadAssignment, [x.clusterLoadAssignment(CLUSTER, [`127.0.0.1:${port}`])]);
    mesh = await createMesh({ service: 'breaker-client', controlPlane: `http://${cp.address}`, dependsOn: ['slow'] });
    await mesh.ready();
  });

  after(async () => {
    await mesh?.close();
    await cp?.close();
    await backend?.stop();
  });

  async function call(delayMs: number): Promise<{ ok: true; ms: number } | { ok: false; error: unknown; ms: number }> {
    const start = performance.now();
    try {
      const res = await request('http://slow/work', { dispatcher: mesh.dispatcher, headers: { 'x-test-delay-ms': String(delayMs) } });
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
    for (const f of failed) {
      const e = findCause(f.error, ERROR_CODES.OVERLOADED);
      assert.ok(e, `typed error, got ${String(f.error)}`);
      assert.equal(e.details['reason'], 'max_requests');
      assert.equal(e.details['cluster'], CLUSTER);
      assert.ok(f.ms < 300, `failed fast (${f.ms.toFixed(0)} ms), without waiting for the slow backend`);
    }
    const status = mesh.status().resilience[CLUSTER]?.circuitBreaker;
    assert.equal(status?.overflows.max_requests, 8, 'mesh.status() counts the refusals');
    assert.equal(status?.thresholds.maxRequests, 2);
    assert.equal(status?.activeRequests, 0, 'nothing left in flight');
    // Load has dropped: every call is admitted again.
    const again = await Promise.all([call(0), call(0)]);
    assert.ok(again.every((r) => r.ok), 'calls succeed again after the load drops');
  });
});
