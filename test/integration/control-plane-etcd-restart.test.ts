// etcd itself killed and restarted under meshed HTTP and gRPC traffic, with three control-plane replicas on it and
// workloads registered through etcd leases. Asserted: no call fails (every replica keeps serving its last snapshot and
// its last known endpoints); an edit while etcd is down is refused with WEFT_ERR_STORE_UNAVAILABLE (HTTP 503) and
// nothing changes; once etcd is back an edit is accepted, reaches every replica and every client; the workloads'
// leases outlive the outage (one Register each, kept alive through failed keep-alives); every replica is still listed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReplicaMesh, routesYaml, startReplicaMesh } from './replica-chaos-kit.js';
import { waitFor } from './helpers.js';

/** How long etcd stays down (ms): longer than a workload's keep-alive interval (its 10 s lease TTL / 3). */
const OUTAGE_MS = 5_000;

describe('etcd restarted under traffic, three replicas on it', { timeout: 200_000 }, () => {
  let m: ReplicaMesh;

  before(async () => {
    // No replica is killed here, so they run in this process: three fewer processes starting on a loaded machine.
    m = await startReplicaMesh({ h1: 'echo', h2: 'echo-v2', g1: 'gecho', g2: 'gecho-v2' }, 2, 'in-process');
  });

  after(async () => {
    await m?.close();
  });

  it('keeps every call succeeding; edits are refused while etcd is down and accepted after; leases are kept', { timeout: 150_000 }, async (t) => {
    const traffic = m.startTraffic();
    await new Promise((r) => setTimeout(r, 1_000));
    m.etcd.kill();
    const downAtMs = Date.now();
    const refused = await m.live[1]!.admin('POST', '/v1/apply', routesYaml('v2', m.edits + 1));
    assert.equal(refused.status, 503, `an edit while etcd is down: ${JSON.stringify(refused.body)}`);
    assert.equal((refused.body as { code?: string }).code, 'WEFT_ERR_STORE_UNAVAILABLE', JSON.stringify(refused.body));
    for (let i = 0; i < ReplicaMesh.REPLICAS; i++) await m.holdsLastEdit(i, 'the refused edit changed nothing');
    await new Promise((r) => setTimeout(r, Math.max(0, downAtMs + OUTAGE_MS - Date.now())));
    await m.etcd.restart();
    const downForMs = Date.now() - downAtMs;

    // Accepted again once the replica's etcd client reconnects (its per-host breaker half-opens within 2 s).
    await waitFor(async () => (await m.live[2]!.admin('POST', '/v1/apply', routesYaml('v2', m.edits + 1))).status === 200, 'an edit once etcd is back', 60_000, 250);
    m.edits++;
    for (let i = 0; i < ReplicaMesh.REPLICAS; i++) await m.holdsLastEdit(i, 'after the etcd restart');
    await m.converged('v2', 'after the etcd restart');
    const { ok, failures } = await traffic.stop();
    t.diagnostic(`etcd down for ${downForMs} ms; ${ok} calls succeeded, ${failures.length} failed`);
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${ok + failures.length} calls failed`);
    assert.ok(ok > 100, `only ${ok} calls made`);
    await m.leasesAndPresenceHold('after the etcd restart');
  });
});
