// Zone preference (Service trafficDistribution: PreferClose → Cluster zone_aware_lb_config): a caller in zone a sends
// to the endpoint in zone a, for HTTP and gRPC alike; when that endpoint fails, traffic fails over to zone b without
// a failed call (outlier ejection + the safe-default retry); removing the field spreads calls over every zone, live.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { spawnFixture, startTestControlPlane, waitFor, type TestControlPlane, type TestProcess } from './helpers.js';

const service = (trafficDistribution: boolean) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: zoned }
spec:
  ports: [{ name: http, port: 8080 }]
${trafficDistribution ? '  trafficDistribution: PreferClose\n' : ''}---
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: { name: zoned }
spec:
  targetRef: { kind: Service, name: zoned }
  outlierDetection: { consecutiveGatewayErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50 }
`;

describe('zone preference (trafficDistribution: PreferClose)', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  const procs: Record<string, TestProcess> = {};

  const instances = async (n: number): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await request('http://zoned/', { dispatcher: mesh.dispatcher });
      out.push(((await res.body.json()) as { instance: string }).instance);
    }
    return out;
  };

  before(async () => {
    tcp = await startTestControlPlane({ 'zoned.yaml': service(true) });
    for (const [instance, zone] of [['a1', 'zone-a'], ['b1', 'zone-b'], ['b2', 'zone-b']] as const) {
      procs[instance] = spawnFixture('test/integration/fixtures/http-backend.ts', { WEFT_CONTROL_PLANE: tcp.cp.xdsUrl, SERVICE: 'zoned', INSTANCE: instance, WEFT_ZONE: zone, LEASE_TTL_MS: '30000' });
    }
    await Promise.all(Object.values(procs).map((p) => p.waitForLine((l) => l['type'] === 'ready')));
    mesh = await createMesh({ service: 'caller', controlPlane: tcp.cp.xdsUrl, locality: { zone: 'zone-a' } });
    await waitFor(async () => (await mesh.explain('http://zoned/')).route?.clusters[0]?.endpoints?.length === 3, 'all three endpoints known');
  });

  after(async () => {
    await mesh?.close();
    await Promise.all(Object.values(procs).map((p) => p.stop('SIGKILL')));
    await tcp?.close();
  });

  it('sends every call to the endpoint in the caller zone', async () => {
    assert.deepEqual(new Set(await instances(30)), new Set(['a1']));
  });

  it('spreads over every zone once the Service drops trafficDistribution, live', async () => {
    assert.equal((await tcp.apply(service(false))).status, 200);
    await waitFor(async () => new Set(await instances(12)).size === 3, 'calls reach all three zones');
    assert.equal((await tcp.apply(service(true))).status, 200);
    await waitFor(async () => new Set(await instances(12)).size === 1, 'back to zone a only');
  });

  it('fails over to the other zone when the local endpoint dies, without a failed call', async () => {
    procs['a1']!.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    const seen = await instances(40);
    assert.ok(!seen.includes('a1'));
    assert.deepEqual(new Set(seen), new Set(['b1', 'b2']), 'both zone-b endpoints share the load');
  });
});
