// The SDK over State of the World against the real control plane at start-up: several targets subscribed at once
// (dependsOn) are never read as absent while the answers to the narrower requests cross the wider ones, so the first
// calls after ready() succeed; a name the control plane lacks still ends absent.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createXdsClient, type XdsClient } from '../../src/discovery/xds/ads-client.js';
import type { MeshState } from '../../src/discovery/mesh-state.js';
import { createMesh } from '../../src/index.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

const SERVICES = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];

/** Every moment `client`'s state said a target does not exist, or a cluster has no endpoints. */
function recordAbsences(client: XdsClient): string[] {
  const seen: string[] = [];
  const check = (s: MeshState): void => {
    for (const [name, t] of s.targets) if (t.status === 'absent') seen.push(`target ${name} absent (generation ${s.generation})`);
    for (const [name, c] of s.clusters) if (c.endpointsKnown && c.endpoints.length === 0) seen.push(`cluster ${name} without endpoints (generation ${s.generation})`);
  };
  client.state.onChange(check);
  return seen;
}

describe('the SDK over State of the World at start-up', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  const servers: Server[] = [];
  let nodes = 0;
  const sotwClient = (): XdsClient => createXdsClient({ server: tcp.cp.xdsAddress, node: { id: `sotw-${++nodes}`, cluster: 'client' }, protocol: 'sotw' });

  before(async () => {
    tcp = await startTestControlPlane({ 'services.yaml': SERVICES.map((s) => serviceYaml(s)).join('---\n') });
    for (const service of SERVICES) {
      const server = createServer((_req, res) => res.end(service));
      server.keepAliveTimeout = 500;
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
      const lease = tcp.cp.registry.register({ service, address: '127.0.0.1', port: (server.address() as AddressInfo).port }, 300_000);
      assert.ok(lease.ok);
    }
    // The registrations are in the control plane's snapshot (its push pipeline runs on a later turn): read, not assumed.
    const probe = createXdsClient({ server: tcp.cp.xdsAddress, node: { id: 'probe', cluster: 'probe' }, protocol: 'delta' });
    try {
      for (const service of SERVICES) await probe.resolve(service, 30_000);
      await waitFor(() => [...probe.state.get().clusters.values()].filter((c) => c.endpoints.length === 1).length === SERVICES.length, 'every endpoint in the snapshot', 30_000);
    } finally {
      await probe.close();
    }
  });

  after(async () => {
    for (const s of servers) s.closeAllConnections(), s.close();
    await tcp?.close();
  });

  it('resolves targets subscribed in one turn without ever reading one, or its cluster, as absent', async (t) => {
    for (let round = 0; round < 5; round++) {
      const client = sotwClient();
      t.after(() => client.close());
      const absences = recordAbsences(client);
      // One turn: each resolve() sends a wider LDS request before the answer to the first can be read.
      const states = await Promise.all(SERVICES.map((s) => client.resolve(s, 30_000)));
      assert.deepEqual(states.map((s) => s.status), SERVICES.map(() => 'resolved'));
      await waitFor(() => [...client.state.get().clusters.values()].filter((c) => c.endpoints.length === 1).length === SERVICES.length, 'every cluster with its endpoint', 30_000);
      assert.deepEqual(absences, [], `round ${round}: nothing read as absent`);
      assert.equal(client.status().protocol, 'sotw');
      await client.close();
    }
  });

  it('still reads a name the control plane lacks as absent, after the answer to the request naming it', async (t) => {
    const client = sotwClient();
    t.after(() => client.close());
    const [alpha, nope] = await Promise.all([client.resolve('alpha', 30_000), client.resolve('no-such-service', 30_000)]);
    assert.equal(alpha.status, 'resolved');
    assert.deepEqual(nope, { status: 'absent' });
  });

  it('a mesh on SotW with several dependsOn: every first call after ready() succeeds', async (t) => {
    for (let round = 0; round < 3; round++) {
      const mesh = await createMesh({
        service: `client-${round}`, controlPlane: tcp.cp.xdsUrl, dependsOn: SERVICES, xds: { protocol: 'sotw' }, reporting: { enabled: false }, xdsCache: false,
        ready: { timeoutMs: 30_000 },
      });
      t.after(() => mesh.close());
      await mesh.ready();
      const bodies = await Promise.all(SERVICES.map(async (s) => (await mesh.fetch(`http://${s}/`)).text()));
      assert.deepEqual(bodies, SERVICES, `round ${round}: each service answered the first call`);
      assert.equal(mesh.status().discovery?.protocol, 'sotw');
      await mesh.close();
    }
  });
});
