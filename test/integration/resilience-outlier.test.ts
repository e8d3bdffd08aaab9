// Outlier detection over real processes: of three backends one always answers 503; after consecutive 5xx it is ejected
// (no traffic, explain() shows it), and it comes back after base_ejection_time. xDS from a fake ADS server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { FakeControlPlane, xdsResource as x } from '../../src/testing/index.js';
import { spawnFixture, waitFor, type TestProcess } from './helpers.js';

const CLUSTER = 'flaky:80';
const BASE_EJECTION_MS = 1_500;

describe('outlier detection: one of three backends answers 503', { timeout: 60_000 }, () => {
  let cp: FakeControlPlane;
  let mesh: Mesh;
  const backends: TestProcess[] = [];
  const ports: number[] = [];

  before(async () => {
    for (const [instance, status] of [['good-1', '200'], ['good-2', '200'], ['bad', '503']] as const) {
      const p = spawnFixture('test/integration/fixtures/resilience-breaker-outlier-backend.ts', { INSTANCE: instance, STATUS: status });
      backends.push(p);
      ports.push((await p.waitForLine<{ port: number }>((l) => l['type'] === 'ready')).port);
    }
    cp = await FakeControlPlane.start();
    cp.setResources(TYPE_URL.listener, [x.listener('flaky')]);
    cp.setResources(TYPE_URL.routeConfiguration, [x.routeConfig('flaky', [x.route('/', { [CLUSTER]: 1 })])]);
    cp.setResources(TYPE_URL.cluster, [
      {
        ...x.cluster(CLUSTER),
        outlier_detection: {
          consecutive_5xx: { value: 3 },
          interval: { nanos: 100_000_000 },
          base_ejection_time: { seconds: Math.floor(BASE_EJECTION_MS / 1000), nanos: (BASE_EJECTION_MS % 1000) * 1e6 },
          max_ejection_percent: { value: 50 },
        },
      },
    ]);
    cp.setResources(TYPE_URL.clusterLoadAssignment, [x.clusterLoadAssignment(CLUSTER, ports.map((p) => `127.0.0.1:${p}`))]);
    mesh = await createMesh({ service: 'outlier-client', controlPlane: `http://${cp.address}`, dependsOn: ['flaky'] });
    await mesh.ready();
  });

  after(async () => {
    await mesh?.close();
    await cp?.close();
    await Promise.all(backends.map((b) => b.stop()));
  });

  const badCount = async (): Promise<number> => {
    const res = await request(`http://127.0.0.1:${ports[2]}/__count`);
    return ((await res.body.json()) as { seen: number }).seen;
  };

  async function call(): Promise<number> {
    const res = await request('http://flaky/x', { dispatcher: mesh.dispatcher });
    await res.body.dump();
    return res.statusCode;
  }

  it('ejects the 503 backend after 3 consecutive 5xx, sends it nothing while ejected, and takes it back', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push(await call()); // round robin: the bad one gets 3 of 9
    assert.equal(statuses.filter((s) => s === 503).length, 3);
    assert.equal(await badCount(), 3);

    const explained = await mesh.explain('http://flaky/x');
    const cluster = explained.route!.clusters[0]!;
    const bad = cluster.endpoints.find((e) => e.port === ports[2])!;
    assert.equal(bad.ejected?.reason, 'consecutive-5xx', JSON.stringify(cluster));
    assert.ok(cluster.endpoints.filter((e) => e.ejected === undefined).length === 2);

    assert.deepEqual(
      mesh.status().resilience[CLUSTER]?.ejected?.map((e) => [e.origin, e.reason]),
      [[`http://127.0.0.1:${ports[2]}`, 'consecutive-5xx']],
      'mesh.status() lists the ejection',
    );
    const ejectedAt = Date.now();
    for (let i = 0; i < 30; i++) assert.equal(await call(), 200, 'only healthy endpoints while ejected');
    if (Date.now() - ejectedAt < BASE_EJECTION_MS) assert.equal(await badCount(), 3, 'no traffic to the ejected endpoint');

    // It comes back after base_ejection_time (returned at the first 100 ms sweep after it).
    await waitFor(async () => (await mesh.explain('http://flaky/x')).route!.clusters[0]!.endpoints.every((e) => e.ejected === undefined), 'the endpoint to return', 5_000);
    assert.ok(Date.now() - ejectedAt >= BASE_EJECTION_MS - 200, 'not before its ejection time');
    for (let i = 0; i < 3; i++) await call();
    assert.ok((await badCount()) > 3, 'traffic reaches it again');
  });
});
