// Load balancing over real processes: ring hash by header sticks keys to instances, and peak-EWMA sends a slow
// instance (50 ms) far less traffic than round robin does; each policy is applied live through the admin API.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { serviceYaml, spawnFixture, startTestControlPlane, waitFor, type TestControlPlane, type TestProcess } from './helpers.js';

const POLICY = (lb: string) => `apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata:
  name: pool
spec:
  targetRef: { kind: Service, name: pool }
  loadBalancer: ${lb}
`;

describe('load balancing (DestinationPolicy)', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  const servers: TestProcess[] = [];

  async function call(headers: Record<string, string> = {}): Promise<string> {
    const res = await request('http://pool/', { dispatcher: mesh.dispatcher, headers });
    assert.equal(res.statusCode, 200);
    return res.body.text();
  }

  /** Applies `lb` and waits until this client's MeshState uses `kind`. */
  async function use(lb: string, kind: string): Promise<void> {
    const applied = await tcp.apply(POLICY(lb));
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    await waitFor(() => mesh.configDump().clusters['pool:8080']?.lbPolicy === kind, `lbPolicy ${kind}`);
  }

  /** `total` calls from `concurrency` loops; returns calls per instance. */
  async function load(total: number, concurrency: number): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    let issued = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (issued < total) {
          issued++;
          const who = await call();
          counts.set(who, (counts.get(who) ?? 0) + 1);
        }
      }),
    );
    return counts;
  }

  before(async () => {
    tcp = await startTestControlPlane({ 'services.yaml': serviceYaml('pool') }, { leaseTtlMs: 2000 });
    const env = { WEFT_CONTROL_PLANE: tcp.cp.xdsUrl, SERVICE: 'pool' };
    for (const [instance, delay] of [
      ['fast-a', '0'],
      ['fast-b', '0'],
      ['slow', '50'],
    ] as const) {
      servers.push(spawnFixture('test/integration/fixtures/resilience-balance-backend.ts', { ...env, INSTANCE: instance, DELAY_MS: delay }));
    }
    for (const p of servers) await p.waitForLine((l) => l.type === 'ready');
    mesh = await createMesh({ service: 'client', controlPlane: tcp.cp.xdsUrl, dependsOn: ['pool'] });
    await mesh.ready();
    await waitFor(() => mesh.configDump().clusters['pool:8080']?.endpoints.length === 3, 'three endpoints');
  });

  after(async () => {
    await mesh?.close();
    await Promise.all(servers.map((p) => p.stop('SIGKILL')));
    await tcp?.close();
  });

  it('ring hash by header: each key always reaches the same instance, and keys spread over instances', async () => {
    await use('{ type: RingHash, ringHash: { key: { header: x-user } } }', 'ring-hash');
    const owner = new Map<string, string>();
    for (let k = 0; k < 30; k++) {
      for (let i = 0; i < 3; i++) {
        const who = await call({ 'x-user': `user-${k}` });
        const first = owner.get(`user-${k}`);
        if (first === undefined) owner.set(`user-${k}`, who);
        else assert.equal(who, first, `user-${k} moved from ${first} to ${who}`);
      }
    }
    assert.ok(new Set(owner.values()).size >= 2, `30 keys all went to ${[...new Set(owner.values())]}`);
  });

  it('peak-EWMA sends the slow instance far less than round robin does (its third)', async () => {
    await use('{ type: PeakEWMA }', 'peak-ewma');
    await load(60, 6); // warm the latency estimates
    const ewma = await load(600, 6);
    const ewmaSlow = (ewma.get('slow') ?? 0) / 600;
    await use('{ type: RoundRobin }', 'round-robin');
    const rr = await load(300, 6);
    const rrSlow = (rr.get('slow') ?? 0) / 300;
    assert.ok(rrSlow > 0.25, `round robin sent the slow instance ${rrSlow}`);
    assert.ok(ewmaSlow < 0.12, `peak-EWMA sent the slow instance ${ewmaSlow} of calls: ${JSON.stringify([...ewma])}`);
  });
});
