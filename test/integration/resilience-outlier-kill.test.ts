// One of three backends is killed under steady load: retries (route retry_policy) and outlier detection together keep
// ≥ 99.9 % of idempotent calls succeeding, and the dead endpoint is ejected. Real processes; xDS from a fake ADS server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { FakeControlPlane, xdsResource as x } from '../../src/testing/index.js';
import { spawnFixture, type TestProcess } from './helpers.js';

const CLUSTER = 'steady:80';
const TOTAL_CALLS = 3_000;
const CONCURRENCY = 10;

describe('one backend of three killed under load', { timeout: 90_000 }, () => {
  let cp: FakeControlPlane;
  let mesh: Mesh;
  const backends: TestProcess[] = [];
  const ports: number[] = [];

  before(async () => {
    for (const instance of ['a', 'b', 'c']) {
      const p = spawnFixture('test/integration/fixtures/resilience-breaker-outlier-backend.ts', { INSTANCE: instance });
      backends.push(p);
      ports.push((await p.waitForLine<{ port: number }>((l) => l['type'] === 'ready')).port);
    }
    cp = await FakeControlPlane.start();
    const route = x.route('/', { [CLUSTER]: 1 });
    (route['route'] as Record<string, unknown>)['retry_policy'] = { retry_on: 'connect-failure,reset,5xx', num_retries: { value: 2 } };
    cp.setResources(TYPE_URL.listener, [x.listener('steady')]);
    cp.setResources(TYPE_URL.routeConfiguration, [x.routeConfig('steady', [route])]);
    cp.setResources(TYPE_URL.cluster, [
      { ...x.cluster(CLUSTER), outlier_detection: { consecutive_5xx: { value: 5 }, interval: { nanos: 200_000_000 }, base_ejection_time: { seconds: 30 }, max_ejection_percent: { value: 34 } } },
    ]);
    cp.setResources(TYPE_URL.clusterLoadAssignment, [x.clusterLoadAssignment(CLUSTER, ports.map((p) => `127.0.0.1:${p}`))]);
    mesh = await createMesh({ service: 'steady-client', controlPlane: `http://${cp.address}`, dependsOn: ['steady'] });
    await mesh.ready();
  });

  after(async () => {
    await mesh?.close();
    await cp?.close();
    await Promise.all(backends.map((b) => b.stop()));
  });

  it('keeps ≥ 99.9 % of GETs succeeding and ejects the dead endpoint', async () => {
    let next = 0;
    let ok = 0;
    const failures: string[] = [];
    const killAt = Math.floor(TOTAL_CALLS / 3);
    const worker = async (): Promise<void> => {
      while (next < TOTAL_CALLS) {
        const i = next++;
        if (i === killAt) backends[2]!.child.kill('SIGKILL');
        try {
          const res = await request('http://steady/item', { dispatcher: mesh.dispatcher, headers: { 'x-test-delay-ms': '2' } });
          await res.body.dump();
          if (res.statusCode === 200) ok++;
          else failures.push(`status ${res.statusCode}`);
        } catch (e: unknown) {
          failures.push(String((e as { code?: string }).code ?? e));
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const rate = ok / TOTAL_CALLS;
    assert.ok(rate >= 0.999, `success ${(rate * 100).toFixed(2)} % (${failures.length} failed: ${failures.slice(0, 5).join(', ')})`);
    const ejected = mesh.status().resilience[CLUSTER]?.ejected ?? [];
    assert.deepEqual(ejected.map((e) => e.origin), [`http://127.0.0.1:${ports[2]}`], 'the dead endpoint is ejected');
  });
});
