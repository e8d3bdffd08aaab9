// The SDK over incremental (delta) xDS against the real control plane: live routing edits, endpoint removal, and a
// reconnect to a restarted control plane that resends nothing the client already holds.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startControlPlane, type ControlPlane } from '../../control-plane/src/control-plane.js';
import { createXdsClient } from '../../src/discovery/xds/ads-client.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { createMesh, type Mesh } from '../../src/index.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

const ROUTE = (backend: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: echo-route
spec:
  parentRefs:
    - kind: Service
      name: echo
  rules:
    - backendRefs:
        - name: ${backend}
          port: 8080
`;
const SERVICES = [serviceYaml('echo'), serviceYaml('echo-v1'), serviceYaml('echo-v2')].join('---\n');

/** An HTTP server on loopback answering every request with its instance name. */
async function backend(instance: string): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ instance }));
  });
  server.keepAliveTimeout = 500;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('the SDK over delta xDS', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  const servers: Server[] = [];
  const leases = new Map<string, string>();

  async function instanceOf(): Promise<string> {
    const res = await request('http://echo/', { dispatcher: mesh.dispatcher });
    assert.equal(res.statusCode, 200);
    return ((await res.body.json()) as { instance: string }).instance;
  }
  async function instances(n: number): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add(await instanceOf());
    return seen;
  }

  before(async () => {
    tcp = await startTestControlPlane({ 'services.yaml': SERVICES, 'route.yaml': ROUTE('echo-v1') });
    for (const [service, instance] of [['echo-v1', 'v1-a'], ['echo-v2', 'v2-a'], ['echo-v2', 'v2-b']] as const) {
      const b = await backend(instance);
      servers.push(b.server);
      const lease = tcp.cp.registry.register({ service, address: '127.0.0.1', port: b.port }, 300_000);
      assert.ok(lease.ok);
      leases.set(instance, lease.value.leaseId);
    }
    mesh = await createMesh({ service: 'client', controlPlane: tcp.cp.xdsUrl, dependsOn: ['echo'], xds: { protocol: 'delta' }, reporting: { enabled: false } });
    await mesh.ready();
    // The registrations above reach the snapshot on the next timer turn (endpoint changes skip the push debounce); ready() may come first.
    await waitFor(async () => (await instanceOf().catch(() => '')) !== '', 'the echo-v1 endpoint routed', 10_000);
  });

  after(async () => {
    await mesh?.close();
    for (const s of servers) s.closeAllConnections(), s.close();
    await tcp?.close();
  });

  it('speaks delta: the control plane serves the client on DeltaAggregatedResources', async () => {
    assert.equal(mesh.status().discovery?.protocol, 'delta');
    const stream = tcp.cp.ads.clients().find((c) => c.service === 'client');
    assert.equal(stream?.protocol, 'delta');
    assert.deepEqual(await instances(5), new Set(['v1-a']));
    assert.equal(tcp.cp.ads.bytesSent().sotw.bytes, 0, 'nothing went over State of the World');
  });

  it('applies a routing edit live', async () => {
    const res = await tcp.apply(ROUTE('echo-v2'));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor(async () => [...(await instances(10))].every((i) => i.startsWith('v2-')), 'every call on echo-v2', 10_000);
    await waitFor(async () => (await instances(20)).size === 2, 'both echo-v2 endpoints in rotation', 10_000);
  });

  it('drops a removed endpoint from routing', async () => {
    assert.ok(tcp.cp.registry.deregister(leases.get('v2-b')!));
    await waitFor(async () => {
      const seen = await instances(20);
      return seen.size === 1 && seen.has('v2-a');
    }, 'only v2-a left', 10_000);
    const types = tcp.cp.ads.clients().find((c) => c.service === 'client')?.types ?? [];
    assert.ok(types.every((t) => t.nack === undefined), `no NACK: ${JSON.stringify(types)}`);
  });

  it("serves a client configured for 'sotw' on State of the World beside the delta ones", async (t) => {
    const sotw = createXdsClient({ server: tcp.cp.xdsAddress, node: { id: 'sotw-1', cluster: 'client' }, protocol: 'sotw' });
    t.after(() => sotw.close());
    assert.equal((await sotw.resolve('echo', 10_000)).status, 'resolved');
    assert.equal(tcp.cp.ads.clients().find((c) => c.nodeId === 'sotw-1')?.protocol, 'sotw');
    assert.ok(tcp.cp.ads.bytesSent().sotw.bytes > 0);
  });
});

describe('delta resync after a control-plane restart', { timeout: 120_000 }, () => {
  let dir = '';
  const planes: ControlPlane[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-delta-'));
    await writeFile(path.join(dir, 'services.yaml'), SERVICES);
    await writeFile(path.join(dir, 'route.yaml'), ROUTE('echo-v1'));
  });
  after(async () => {
    for (const p of planes) await p.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends nothing the client already holds, then only what an edit changed', async (t) => {
    const first = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0 });
    planes.push(first);
    const client = createXdsClient({ server: first.xdsAddress, node: { id: 'resync-1', cluster: 'client' }, protocol: 'delta', initialBackoffMs: 50, maxBackoffMs: 200 });
    t.after(() => client.close());
    assert.equal((await client.resolve('echo', 10_000)).status, 'resolved');
    const held = client.state.get();
    assert.ok(first.ads.bytesSent().delta.bytes > 0);
    await first.close();

    // A restart on the same port with the same configuration (as a replica with the same store would be).
    const port = Number(first.xdsAddress.split(':').at(-1));
    const second = await startControlPlane({ configDir: dir, xdsPort: port, adminPort: 0 });
    planes.push(second);
    const routing = [TYPE_URL.listener, TYPE_URL.routeConfiguration, TYPE_URL.cluster, TYPE_URL.clusterLoadAssignment];
    await waitFor(() => {
      const types = second.ads.clients().find((c) => c.nodeId === 'resync-1')?.types ?? [];
      return routing.every((u) => types.some((x) => x.typeUrl === u && x.subscribed.length > 0 && x.ackedVersion !== ''));
    }, 'the client to resubscribe every routing type on the restarted control plane', 15_000);
    await waitFor(() => client.status().connected, 'the client to see itself connected', 5_000);
    assert.equal(second.ads.bytesSent().delta.responses, 0, 'the reconnect cost no push');
    assert.equal(client.state.get(), held, 'the MeshState was not even recompiled');

    const edit = await fetch(`${second.adminUrl}/v1/apply`, { method: 'POST', body: ROUTE('echo-v2'), headers: { authorization: `Bearer ${second.adminToken}` } });
    assert.equal(edit.status, 200);
    await waitFor(() => client.state.get().targets.get('echo')?.status === 'resolved' && JSON.stringify(client.state.get().targets.get('echo')).includes('echo-v2'), 'the edit to reach the client', 10_000);
    const sent = second.ads.bytesSent().delta.byType;
    assert.equal(sent[TYPE_URL.listener].responses, 0, 'the unchanged Listener was not resent');
    assert.ok(sent[TYPE_URL.routeConfiguration].responses >= 1);
  });
});
