// createMesh reports its golden metrics to the control plane: two real meshes (a caller and a server) on a real control
// plane, and /v1/stats counts exactly the calls made; mesh.close() stops the reports.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import type { StatsView } from '../../control-plane/src/admin/stats-routes.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

describe('traffic reports from createMesh', { timeout: 60_000 }, () => {
  let tcp: TestControlPlane;
  let server: Mesh;
  let client: Mesh;
  const stats = async (query = '') => (await tcp.admin('GET', `/v1/stats${query}`)).body as unknown as StatsView;

  before(async () => {
    tcp = await startTestControlPlane({ 'services.yaml': serviceYaml('payments') });
    server = await createMesh({ service: 'payments', controlPlane: tcp.cp.xdsUrl, reporting: { intervalMs: 200 } });
    await server.serve((req, res) => {
      res.statusCode = req.url === '/fail' ? 503 : 200;
      res.end('ok');
    }, { port: 0 });
    await server.ready();
    client = await createMesh({ service: 'checkout', controlPlane: tcp.cp.xdsUrl, dependsOn: ['payments'], reporting: { intervalMs: 200 } });
    await client.ready();
  });
  after(async () => {
    await client?.close();
    await server?.close();
    await tcp?.close();
  });

  it('counts every call on both sides, failures included, within a few report intervals', async () => {
    for (let i = 0; i < 40; i++) {
      const res = await client.fetch(i % 10 === 0 ? 'http://payments/fail' : 'http://payments/ok');
      await res.text();
    }
    await waitFor(async () => (await stats()).edges.some((e) => e.source === 'checkout' && e.destination === 'payments' && e.requests === 40), 'the caller\'s 40 calls in /v1/stats', 10_000, 100);
    await waitFor(async () => (await stats()).services.some((s) => s.service === 'payments' && s.requests === 40), 'the server\'s 40 requests in /v1/stats', 10_000, 100);
    const body = await stats();
    const edge = body.edges.find((e) => e.source === 'checkout' && e.destination === 'payments')!;
    assert.equal(edge.failures, 4, '503s are failures');
    assert.equal(edge.successRate, 0.9);
    const payments = body.services.find((s) => s.service === 'payments')!;
    assert.equal(payments.meshed, 1);
    // Loopback calls take milliseconds; a unit slip (s or µs for ms) is 1000× off, so a bound far from the expected
    // value catches it without asserting speed (which benchmarks measure).
    assert.ok(payments.p50Ms !== undefined && payments.p50Ms > 0 && payments.p50Ms < 10_000, JSON.stringify(payments));
    const instance = body.instances.find((i) => i.nodeId === server.nodeId)!;
    assert.match(instance.instance, /^127\.0\.0\.1:\d+$/, 'the address it serves on');
  });

  it('stops reporting on mesh.close()', async () => {
    await client.close();
    const last = (await stats()).instances.find((i) => i.nodeId === client.nodeId)!.lastReportAtMs;
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await stats()).instances.find((i) => i.nodeId === client.nodeId)!.lastReportAtMs, last);
  });
});
