// Property-based test of the ADS client over a real stream (FakeControlPlane on loopback): a mutated update of any
// resource type, or garbage bytes in its place, is NACKed with the error in the message and the last good
// MeshState kept, or accepted whole; the client never crashes and answers every response.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { FakeControlPlane, xdsResource as x, type FakeResource } from '../../testing/fake-control-plane.js';
import { fuzzParams, mutateAll, mutationsOf } from '../../../test/fuzz/kit.js';
import { createXdsClient, type XdsClient } from './ads-client.js';
import { protos, TYPE_URL, type ResourceTypeUrl } from './protos.js';

const GOOD: Readonly<Record<string, FakeResource>> = {
  [TYPE_URL.listener]: x.listener('payments'),
  [TYPE_URL.routeConfiguration]: x.routeConfig('payments', [x.route('/', { a: 3, b: 1 }, 1500)]),
  [TYPE_URL.cluster]: x.cluster('a'),
  [TYPE_URL.clusterLoadAssignment]: x.clusterLoadAssignment('a', ['10.0.0.1:8080', { address: 'fd00::1', port: 8081, weight: 2 }]),
};
const B = [x.cluster('b'), x.clusterLoadAssignment('b', ['10.0.0.2:8080'])] as const;

/** A mutated copy of one good resource, sent as its type's whole response (as a control plane would). */
const update = fc.constantFrom(...Object.keys(GOOD)).chain((typeUrl) =>
  fc.oneof(
    { weight: 4, arbitrary: mutationsOf(GOOD[typeUrl], 3).map((list) => ({ typeUrl, kind: 'proto' as const, resource: mutateAll(GOOD[typeUrl]!, list) })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 120 }).map((bytes) => ({ typeUrl, kind: 'bytes' as const, bytes })) },
  ),
);

describe('ADS client: mutated updates over a real stream (fuzz)', () => {
  let cp: FakeControlPlane;
  let client: XdsClient;
  let version = 100;

  before(async () => {
    cp = await FakeControlPlane.start();
    client = createXdsClient({ server: cp.address, node: { id: 'fuzz-1', cluster: 'fuzz' }, initialBackoffMs: 20, maxBackoffMs: 100 });
  });
  after(async () => {
    await client.close();
    await cp.close();
  });

  /** Serves the good chain and waits until the client resolved it. */
  async function serveGood(): Promise<void> {
    cp.setResources(TYPE_URL.listener, [GOOD[TYPE_URL.listener]!]);
    cp.setResources(TYPE_URL.routeConfiguration, [GOOD[TYPE_URL.routeConfiguration]!]);
    cp.setResources(TYPE_URL.cluster, [GOOD[TYPE_URL.cluster]!, B[0]]);
    cp.setResources(TYPE_URL.clusterLoadAssignment, [GOOD[TYPE_URL.clusterLoadAssignment]!, B[1]]);
    await client.resolve('payments', 30_000);
    // Wait until each push above is answered, so none lands in the middle of the next input.
    for (const typeUrl of Object.keys(GOOD)) {
      const last = cp.responses.filter((r) => r.type_url === typeUrl).at(-1);
      if (last !== undefined) await cp.waitForRequest((r) => r.response_nonce === last.nonce, { timeoutMs: 30_000 });
    }
    const s = client.state.get();
    assert.equal(s.targets.get('payments')?.status, 'resolved');
    assert.equal(s.clusters.get('a')?.endpoints.length, 2);
  }

  it('every mutated response is ACKed or NACKed with a clear message; a NACK keeps the last good MeshState', async () => {
    await serveGood();
    let nacked = 0;
    await fc.assert(
      fc.asyncProperty(update, async (u) => {
        const typeUrl = u.typeUrl as ResourceTypeUrl;
        const siblings = typeUrl === TYPE_URL.cluster ? [B[0]] : typeUrl === TYPE_URL.clusterLoadAssignment ? [B[1]] : [];
        let resources: { type_url: string; value: Uint8Array }[];
        if (u.kind === 'bytes') resources = [{ type_url: typeUrl, value: u.bytes }];
        else {
          const nameField = typeUrl === TYPE_URL.clusterLoadAssignment ? 'cluster_name' : 'name';
          // A renamed resource is another resource (and its original absent, a legitimate change): keep names.
          if (u.resource[nameField] !== GOOD[typeUrl]![nameField]) return;
          try {
            resources = [protos().toAny({ ...u.resource, '@type': typeUrl })];
          } catch {
            return; // not encodable: no server can send it
          }
        }
        const before = client.state.get();
        const nonce = `fuzz-${++version}`;
        const from = cp.requests.length;
        cp.sendRaw({ version_info: String(version), type_url: typeUrl, nonce, resources: [...resources, ...siblings.map((r) => protos().toAny(r))] });
        const answer = await cp.waitForRequest((r) => r.response_nonce === nonce, { from, timeoutMs: 30_000 });
        if (answer.error_detail !== null && answer.error_detail !== undefined) {
          nacked++;
          assert.equal(answer.error_detail.code, 3, 'a NACK is INVALID_ARGUMENT');
          assert.match(answer.error_detail.message, /resource ('.*'|index \d+): \S/s);
          assert.notEqual(answer.version_info, String(version), 'a NACK carries the last good version, not the refused one');
          assert.equal(client.state.get(), before, 'a NACKed update leaves the MeshState as it was');
        }
        await serveGood(); // back to the good chain for the next input (it may have been changed by an accepted one)
      }),
      fuzzParams(40),
    );
    assert.ok(nacked > 0, 'some mutated updates were refused (the property checked something)');
  });
});
