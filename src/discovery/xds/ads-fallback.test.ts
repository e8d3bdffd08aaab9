// Tests the xDS client's choice of ADS method against a control plane without delta (FakeControlPlane answers it UNIMPLEMENTED).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, isMeshError } from '../../core/errors.js';
import { FakeControlPlane, xdsResource as x } from '../../testing/fake-control-plane.js';
import { resolveMeshOptions } from '../../mesh/options.js';
import { createXdsClient, type XdsProtocol } from './ads-client.js';
import { TYPE_URL } from './protos.js';

const TEST_TIMEOUT_MS = 15_000;

async function setup(t: TestContext, protocol: XdsProtocol | undefined) {
  const cp = await FakeControlPlane.start();
  cp.setResources(TYPE_URL.listener, [x.listener('payments')]);
  cp.setResources(TYPE_URL.routeConfiguration, [x.routeConfig('payments', [x.route('/', { a: 1 })])]);
  cp.setResources(TYPE_URL.cluster, [x.cluster('a')]);
  cp.setResources(TYPE_URL.clusterLoadAssignment, [x.clusterLoadAssignment('a', ['10.0.0.1:80'])]);
  const client = createXdsClient({ server: cp.address, node: { id: 'n1', cluster: 'c' }, initialBackoffMs: 20, maxBackoffMs: 100, ...(protocol ? { protocol } : {}) });
  t.after(async () => {
    await client.close();
    await cp.close();
  });
  return { cp, client };
}

test("'auto' (the default) falls back to State of the World when the server answers delta UNIMPLEMENTED", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t, undefined);
  assert.equal(client.status().protocol, 'delta', 'delta is tried first');
  assert.equal((await client.resolve('payments', 5_000)).status, 'resolved');
  assert.equal(client.status().protocol, 'sotw');
  assert.equal(client.status().connected, true);
  const first = cp.requests[0];
  assert.ok(first?.node !== undefined, 'the first SotW request carries the node');
  assert.equal(cp.openStreams, 1);
});

test("'delta' does not fall back: against a SotW-only server nothing resolves", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t, 'delta');
  assert.equal((await client.resolve('payments', 300)).status, 'pending');
  assert.equal(client.status().protocol, 'delta');
  assert.equal(cp.requests.length, 0, 'no State-of-the-World request was made');
});

test("'sotw' speaks State of the World from the start", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t, 'sotw');
  assert.equal(client.status().protocol, 'sotw');
  assert.equal((await client.resolve('payments', 5_000)).status, 'resolved');
  assert.ok(cp.requests.length > 0);
});

test('an unknown protocol is refused at construction, by createXdsClient and by createMesh options', () => {
  const bad = 'incremental' as XdsProtocol;
  assert.throws(() => createXdsClient({ server: '127.0.0.1:1', node: { id: 'n', cluster: 'c' }, protocol: bad }), (e: unknown) => isMeshError(e, ERROR_CODES.INVALID_ARG) && /options\.protocol/.test(String(e)));
  assert.throws(() => resolveMeshOptions({ service: 's', xds: { protocol: bad } }, {}), (e: unknown) => isMeshError(e, ERROR_CODES.INVALID_ARG) && /xds\.protocol/.test(String(e)));
  assert.equal(resolveMeshOptions({ service: 's' }, {}).xdsProtocol, 'auto');
});
