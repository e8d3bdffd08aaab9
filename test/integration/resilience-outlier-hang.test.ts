// One backend of three hangs: per-try timeouts bound every GET, outlier detection (timeouts count as 504) ejects the
// hanging endpoint so later calls are fast again, and non-idempotent POSTs are never sent twice. Real processes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createMesh, ERROR_CODES, findCause, type Mesh } from '../../src/index.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { FakeControlPlane, xdsResource as x } from '../../src/testing/index.js';
import { spawnFixture, type TestProcess } from './helpers.js';

const CLUSTER = 'sticky:80';
const PER_TRY_MS = 200;
const ROUTE_TIMEOUT_MS = 1_000;

describe('one backend of three hangs', { timeout: 90_000 }, () => {
  let cp: FakeControlPlane;
  let mesh: Mesh;
  const backends: TestProcess[] = [];
  const ports: number[] = [];

  before(async () => {
    for (const [instance, hang] of [['a', '0'], ['b', '0'], ['hung', '1']] as const) {
      const p = spawnFixture('test/integration/fixtures/resilience-breaker-outlier-backend.ts', { INSTANCE: instance, HANG: hang });
      backends.push(p);
      ports.push((await p.waitForLine<{ port: number }>((l) => l['type'] === 'ready')).port);
    }
    cp = await FakeControlPlane.start();
    const route = x.route('/', { [CLUSTER]: 1 }, ROUTE_TIMEOUT_MS);
    (route['route'] as Record<string, unknown>)['retry_policy'] = {
      retry_on: '5xx,reset,connect-failure',
      num_retries: { value: 2 },
      per_try_timeout: { nanos: PER_TRY_MS * 1e6 },
    };
    cp.setResources(TYPE_URL.listener, [x.listener('sticky')]);
    cp.setResources(TYPE_URL.routeConfiguration, [x.routeConfig('sticky', [route])]);
    cp.setResources(TYPE_URL.cluster, [
      { ...x.cluster(CLUSTER), outlier_detection: { consecutive_5xx: { value: 3 }, interval: { nanos: 100_000_000 }, base_ejection_time: { seconds: 60 }, max_ejection_percent: { value: 34 } } },
    ]);
    cp.setResources(TYPE_URL.clusterLoadAssignment, [x.clusterLoadAssignment(CLUSTER, ports.map((p) => `127.0.0.1:${p}`))]);
    mesh = await createMesh({ service: 'hang-client', controlPlane: `http://${cp.address}`, dependsOn: ['sticky'] });
    await mesh.ready();
  });

  after(async () => {
    await mesh?.close();
    await cp?.close();
    await Promise.all(backends.map((b) => b.stop()));
  });

  const counts = async (port: number): Promise<Record<string, number>> => {
    const res = await request(`http://127.0.0.1:${port}/__count`);
    return ((await res.body.json()) as { byMethod: Record<string, number> }).byMethod;
  };

  it('never sends a POST twice: the ones that reach the hanging backend fail with the route timeout', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, async () => {
        try {
          const res = await request('http://sticky/pay', { dispatcher: mesh.dispatcher, method: 'POST', body: '{"amount":1}' });
          await res.body.dump();
          return res.statusCode;
        } catch (e: unknown) {
          assert.ok(findCause(e, ERROR_CODES.TIMEOUT), String(e));
          return 'timeout';
        }
      }),
    );
    const posts = await Promise.all(ports.map(async (p) => (await counts(p))['POST'] ?? 0));
    assert.equal(posts.reduce((a, b) => a + b, 0), 6, `each POST sent exactly once (per backend: ${posts.join(', ')})`);
    assert.equal(results.filter((r) => r === 'timeout').length, posts[2], 'the POSTs the hanging backend got failed, none retried');
    assert.equal(results.filter((r) => r === 200).length, posts[0]! + posts[1]!);
  });

  // Counts and orderings, not latencies (speed is for benchmarks): every GET succeeds although one backend never
  // answers, which only the per-try timeout and a retry elsewhere allow; once ejected, the hanging backend gets no call.
  it('bounds every GET by the per-try timeout and ejects the hanging endpoint, which then gets no calls', async () => {
    const ejected = (): string[] => mesh.status().resilience[CLUSTER]?.ejected?.map((e) => e.origin) ?? [];
    const run = async (calls: number, until: () => boolean = () => false): Promise<number> => {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < calls && !until()) {
          next++;
          const res = await request('http://sticky/item', { dispatcher: mesh.dispatcher });
          await res.body.dump();
          assert.equal(res.statusCode, 200, 'a GET failed: the per-try timeout did not cut the hanging attempt');
        }
      };
      await Promise.all(Array.from({ length: 5 }, worker));
      return next;
    };
    // Until the ejection (bounded: 600 calls), then 150 more calls with the hanging backend out.
    const before = await run(600, () => ejected().length > 0);
    assert.deepEqual(ejected(), [`http://127.0.0.1:${ports[2]}`], `ejected after ${before} calls`);
    const hungGets = (await counts(ports[2]!))['GET'] ?? 0;
    assert.equal(await run(150), 150);
    assert.equal((await counts(ports[2]!))['GET'] ?? 0, hungGets, 'no GET reached the hanging endpoint once it was ejected');
    assert.deepEqual(ejected(), [`http://127.0.0.1:${ports[2]}`]);
  });
});
