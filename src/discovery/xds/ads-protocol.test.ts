// Tests protocol edge cases of the ADS client: malformed responses are NACKed per resource, one compile per response.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { FakeControlPlane, xdsResource as x } from '../../testing/fake-control-plane.js';
import { createXdsClient, type XdsClient } from './ads-client.js';
import { protos, TYPE_URL } from './protos.js';

const TEST_TIMEOUT_MS = 15_000;

async function resolvedClient(t: TestContext, clusters: string[]): Promise<{ cp: FakeControlPlane; client: XdsClient }> {
  const cp = await FakeControlPlane.start();
  const client = createXdsClient({ server: cp.address, node: { id: 'n1', cluster: 'c' }, initialBackoffMs: 20 });
  t.after(async () => {
    await client.close();
    await cp.close();
  });
  cp.setResources(TYPE_URL.listener, [x.listener('payments')]);
  cp.setResources(TYPE_URL.routeConfiguration, [x.routeConfig('payments', [x.route('/', Object.fromEntries(clusters.map((c) => [c, 1])))])]);
  cp.setResources(TYPE_URL.cluster, clusters.map((c) => x.cluster(c)));
  cp.setResources(TYPE_URL.clusterLoadAssignment, clusters.map((c) => x.clusterLoadAssignment(c, ['10.0.0.1:80'])));
  assert.equal((await client.resolve('payments', 5000)).status, 'resolved');
  return { cp, client };
}

test('a resource of the wrong type or with undecodable bytes is NACKed by index; the rest still applies', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await resolvedClient(t, ['a']);
  const before = client.state.get();
  cp.sendRaw({
    version_info: '7',
    type_url: TYPE_URL.cluster,
    nonce: 'n-bad',
    resources: [protos().toAny(x.listener('a')), { type_url: TYPE_URL.cluster, value: Buffer.from([0xff, 0xff, 0xff]) }, protos().toAny(x.cluster('a'))],
  });
  const nack = await cp.waitForRequest((r) => r.response_nonce === 'n-bad');
  assert.equal(nack.version_info, '1');
  const lines = nack.error_detail?.message.split('\n') ?? [];
  assert.equal(lines.length, 2);
  assert.equal(lines[0], `resource index 0: type '${TYPE_URL.listener}' does not match the response type '${TYPE_URL.cluster}'`);
  assert.match(lines[1]!, /^resource index 1: cannot be decoded: /);
  assert.equal(client.state.get(), before, 'cluster a arrived unchanged and stays; nothing was dropped');
  assert.deepEqual(nack.resource_names, ['a']);
});

test('one response that changes several resources publishes one new MeshState', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await resolvedClient(t, ['a', 'b', 'c']);
  const generations: number[] = [];
  client.state.onChange((s) => generations.push(s.generation));
  const start = client.state.get().generation;
  cp.setResources(
    TYPE_URL.clusterLoadAssignment,
    ['a', 'b', 'c'].map((c) => x.clusterLoadAssignment(c, ['10.0.0.2:80'])),
  );
  const response = cp.responses.at(-1)!;
  await cp.waitForRequest((r) => r.response_nonce === response.nonce);
  assert.deepEqual(generations, [start + 1]);
  assert.ok([...client.state.get().clusters.values()].every((c) => c.endpoints[0]?.address === '10.0.0.2'));
});

test('a response for a type never requested is neither applied nor ACKed', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const cp = await FakeControlPlane.start();
  const client = createXdsClient({ server: cp.address, node: { id: 'n1', cluster: 'c' } });
  t.after(async () => {
    await client.close();
    await cp.close();
  });
  assert.deepEqual(await client.resolve('payments', 50), { status: 'pending' });
  await cp.waitForRequest((r) => r.type_url === TYPE_URL.listener);
  cp.sendRaw({ version_info: '1', type_url: TYPE_URL.cluster, nonce: 'unasked', resources: [protos().toAny(x.cluster('a'))] });
  cp.setResources(TYPE_URL.listener, [x.listener('payments')]); // a later response proves the first was processed
  await cp.waitForRequest((r) => r.type_url === TYPE_URL.routeConfiguration);
  assert.equal(cp.requests.some((r) => r.response_nonce === 'unasked'), false);
  assert.equal(client.configDump().types.find((d) => d.typeUrl === TYPE_URL.cluster)?.resources.length, 0);
});

test('configDump shows the accepted resources with their versions', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { client } = await resolvedClient(t, ['a']);
  const dump = client.configDump();
  assert.deepEqual(dump.types.map((d) => [d.typeUrl, d.version, d.resources.map((r) => r.name)]), [
    [TYPE_URL.listener, '1', ['payments']],
    [TYPE_URL.routeConfiguration, '1', ['payments']],
    [TYPE_URL.cluster, '1', ['a']],
    [TYPE_URL.clusterLoadAssignment, '1', ['a']],
  ]);
  assert.equal(dump.types[2]!.resources[0]!.resource['lb_policy'], 'ROUND_ROBIN');
});
