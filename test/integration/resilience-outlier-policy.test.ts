// Outlier detection configured the operator's way: a DestinationPolicy applied to the real control plane reaches a
// meshed client as Envoy outlier_detection, and the client ejects the one registered backend that answers 503.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { serviceYaml, spawnFixture, startTestControlPlane, waitFor, type TestControlPlane, type TestProcess } from './helpers.js';

const POLICY = `apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata:
  name: shaky
spec:
  targetRef: { kind: Service, name: shaky }
  outlierDetection:
    consecutive5xx: 3
    interval: 100ms
    baseEjectionTime: 1500ms
    maxEjectionPercent: 50
`;

describe('DestinationPolicy outlierDetection through the real control plane', { timeout: 90_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  const backends: TestProcess[] = [];

  before(async () => {
    tcp = await startTestControlPlane({ 'services.yaml': serviceYaml('shaky'), 'policy.yaml': POLICY });
    for (const [instance, status] of [['ok-1', '200'], ['ok-2', '200'], ['bad', '503']] as const) {
      const p = spawnFixture('test/integration/fixtures/resilience-outlier-mesh-backend.ts', {
        SERVICE: 'shaky',
        INSTANCE: instance,
        STATUS: status,
        WEFT_CONTROL_PLANE: tcp.cp.xdsUrl,
      });
      backends.push(p);
      await p.waitForLine((l) => l['type'] === 'ready');
    }
    mesh = await createMesh({ service: 'shaky-client', controlPlane: tcp.cp.xdsUrl, dependsOn: ['shaky'] });
    await mesh.ready();
    await waitFor(async () => (await mesh.explain('http://shaky/')).route?.clusters[0]?.endpoints.length === 3, 'three endpoints', 15_000);
  });

  after(async () => {
    await mesh?.close();
    await Promise.all(backends.map((b) => b.stop()));
    await tcp?.close();
  });

  it('ejects the backend that answers 503, so calls stop failing, and reports it in status and explain', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await request('http://shaky/', { dispatcher: mesh.dispatcher });
      await res.body.dump();
      statuses.push(res.statusCode);
    }
    assert.equal(statuses.filter((s) => s === 503).length, 3, `exactly consecutive5xx failures, then ejected: ${statuses.join(',')}`);
    const cluster = Object.values(mesh.status().resilience)[0];
    assert.equal(cluster?.ejected?.length, 1);
    assert.equal(cluster?.ejected?.[0]?.reason, 'consecutive-5xx');
    const explained = await mesh.explain('http://shaky/');
    assert.equal(explained.route?.clusters[0]?.endpoints.filter((e) => e.ejected !== undefined).length, 1);
  });
});
