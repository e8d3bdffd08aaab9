// Tests the ADS client against FakeControlPlane on loopback: resolution, ACK/NACK, last good, absent, updates, reconnect, close.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FakeControlPlane, xdsResource as x, type FakeResource } from '../../testing/fake-control-plane.js';
import type { MeshState, Route } from '../mesh-state.js';
import type { NackEvent } from '../discovery.js';
import { createXdsClient, type XdsClient, type XdsClientOptions } from './ads-client.js';
import { TYPE_URL } from './protos.js';

const LDS = TYPE_URL.listener;
const RDS = TYPE_URL.routeConfiguration;
const CDS = TYPE_URL.cluster;
const EDS = TYPE_URL.clusterLoadAssignment;
const TEST_TIMEOUT_MS = 15_000;

async function setup(t: TestContext, cp?: FakeControlPlane, options: Partial<XdsClientOptions> = {}): Promise<{ cp: FakeControlPlane; client: XdsClient }> {
  const server = cp ?? (await FakeControlPlane.start());
  const client = createXdsClient({
    server: server.address,
    node: { id: 'checkout-1', cluster: 'checkout', metadata: { app: 'checkout' }, locality: { zone: 'z1' } },
    initialBackoffMs: 20,
    maxBackoffMs: 100,
    ...options,
  });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  return { cp: server, client };
}

/** Serves payments → one route `prefix` → `clusters`, with one endpoint per cluster. */
function serve(cp: FakeControlPlane, clusters: Record<string, number>, extraClusters: string[] = []): void {
  const all = [...Object.keys(clusters), ...extraClusters];
  cp.setResources(LDS, [x.listener('payments')]);
  cp.setResources(RDS, [x.routeConfig('payments', [x.route('/', clusters)])]);
  cp.setResources(CDS, all.map((c) => x.cluster(c)));
  cp.setResources(EDS, all.map((c, i) => x.clusterLoadAssignment(c, [`10.0.0.${i + 1}:8080`])));
}

/** Resolves when `predicate` holds for the client's MeshState (checked now and on every change). */
function waitForState(client: XdsClient, predicate: (s: MeshState) => boolean, timeoutMs = 5000): Promise<MeshState> {
  if (predicate(client.state.get())) return Promise.resolve(client.state.get());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`state condition not met within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = client.state.onChange((s) => {
      if (!predicate(s)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(s);
    });
  });
}

function routesOf(s: MeshState, target = 'payments'): readonly Route[] {
  const t = s.targets.get(target);
  assert.equal(t?.status, 'resolved');
  return t?.status === 'resolved' ? t.routes.virtualHosts[0]!.routes : [];
}
const clustersOfFirstRoute = (s: MeshState): string[] => {
  const action = routesOf(s)[0]!.action;
  return action.kind === 'forward' ? action.clusters.map((c) => c.cluster) : [];
};

test('resolves the whole LDS → RDS → CDS → EDS chain; only the first request carries the node', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t);
  serve(cp, { 'payments:8080': 3, 'payments-canary:8080': 1 });
  const state = await client.resolve('payments', 5000);
  assert.equal(state.status, 'resolved');
  const mesh = client.state.get();
  assert.deepEqual(clustersOfFirstRoute(mesh), ['payments:8080', 'payments-canary:8080']);
  assert.deepEqual(mesh.clusters.get('payments-canary:8080')?.endpoints.map((e) => `${e.address}:${e.port}`), ['10.0.0.2:8080']);

  const [first, ...rest] = cp.requests;
  assert.equal(first?.type_url, LDS);
  assert.deepEqual(first?.resource_names, ['payments']);
  assert.equal(first?.node?.['id'], 'checkout-1');
  assert.equal(first?.node?.['user_agent_name'], 'weft');
  assert.match(String(first?.node?.['user_agent_version']), /^\d+\.\d+\.\d+/);
  assert.deepEqual(first?.node?.['locality'], { region: '', zone: 'z1', sub_zone: '' });
  assert.ok(rest.length >= 4 && rest.every((r) => r.node === null), 'later requests carry no node');
  assert.deepEqual(cp.requests.find((r) => r.type_url === EDS)?.resource_names, ['payments-canary:8080', 'payments:8080']);
  assert.equal(client.status().connected, true);
});

test('every response is ACKed with its version and nonce', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t);
  serve(cp, { a: 1 });
  await client.resolve('payments', 5000);
  for (const response of cp.responses) {
    const ack = await cp.waitForRequest((r) => r.type_url === response.type_url && r.response_nonce === response.nonce);
    assert.equal(ack.version_info, response.version_info, `${response.type_url} ACK version`);
    assert.equal(ack.error_detail, null);
  }
  const status = client.status();
  assert.deepEqual(status.types.map((s) => s.ackedVersion), ['1', '1', '1', '1']);
  assert.deepEqual(status.types.find((s) => s.typeUrl === CDS)?.subscribed, ['a']);
});

test('a new target is subscribed at once, with the latest LDS version and nonce', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t);
  serve(cp, { a: 1 });
  await client.resolve('payments', 5000);
  const lastLds = cp.responses.filter((r) => r.type_url === LDS).at(-1)!;
  const from = cp.requests.length;
  assert.deepEqual(await client.resolve('orders', 5000), { status: 'absent' });
  const request = await cp.waitForRequest((r) => r.type_url === LDS && r.resource_names.length === 2, { from });
  assert.deepEqual(request.resource_names, ['orders', 'payments']);
  assert.equal(request.response_nonce, lastLds.nonce);
  assert.equal(request.version_info, lastLds.version_info);
});

test('an invalid update is NACKed with error_detail and the last good routes stay in use', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t);
  serve(cp, { a: 1 }, ['b']);
  await client.resolve('payments', 5000);
  const nacks: NackEvent[] = [];
  client.onNack((e) => nacks.push(e));
  const before = client.state.get();

  const badRoute = { match: { safe_regex: { regex: '/v1/(' } }, route: { cluster: 'b' } };
  cp.setResources(RDS, [x.routeConfig('payments', [badRoute])]);
  const response = cp.responses.filter((r) => r.type_url === RDS).at(-1)!;
  const nack = await cp.waitForRequest((r) => r.response_nonce === response.nonce && r.type_url === RDS);
  assert.equal(nack.version_info, '1', 'a NACK carries the previous good version');
  assert.equal(nack.error_detail?.code, 3);
  assert.match(nack.error_detail?.message ?? '', /^resource 'payments': virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex: regex '\/v1\/\(': a group that is never closed/);
  assert.equal(client.state.get(), before, 'the MeshState is untouched');
  assert.deepEqual(clustersOfFirstRoute(client.state.get()), ['a'], 'still routes the old way');
  await waitUntil(() => nacks.length === 1);
  assert.equal(nacks[0]?.version, '2');
  const rdsStatus = client.status().types.find((s) => s.typeUrl === RDS)!;
  assert.equal(rdsStatus.ackedVersion, '1');
  assert.equal(rdsStatus.lastNack?.nonce, response.nonce);

  cp.setResources(RDS, [x.routeConfig('payments', [x.route('/', { b: 1 })])]);
  const fixed = await waitForState(client, (s) => clustersOfFirstRoute(s)[0] === 'b');
  assert.ok(fixed.clusters.has('b'));
  const goodResponse = cp.responses.filter((r) => r.type_url === RDS).at(-1)!;
  const ack = await cp.waitForRequest((r) => r.response_nonce === goodResponse.nonce && r.type_url === RDS);
  assert.equal(ack.version_info, '3');
  assert.equal(ack.error_detail, null);
  assert.equal(client.status().types.find((s) => s.typeUrl === RDS)?.lastNack, undefined, 'a good response clears lastNack');
});

test('a valid and an invalid resource in one response: the valid one is applied (gRFC A46)', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t);
  serve(cp, { a: 1, b: 1 });
  await client.resolve('payments', 5000);
  cp.setResources(CDS, [{ ...x.cluster('a'), connect_timeout: { seconds: 2 } }, { ...x.cluster('b'), lb_policy: 'MAGLEV' } as FakeResource]);
  const response = cp.responses.filter((r) => r.type_url === CDS).at(-1)!;
  const nack = await cp.waitForRequest((r) => r.response_nonce === response.nonce && r.type_url === CDS);
  assert.equal(nack.error_detail?.message, "resource 'b': lb_policy: MAGLEV is not supported (ROUND_ROBIN, RANDOM, LEAST_REQUEST, RING_HASH)");
  assert.equal(nack.version_info, '1');
  const state = await waitForState(client, (s) => s.clusters.get('a')?.connectTimeoutMs === 2000);
  assert.equal(state.clusters.get('b')?.connectTimeoutMs, 5000, 'b keeps its last good value');
});

test('a target whose listener is refused with no last good value resolves to error', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t);
  cp.setResources(LDS, [{ '@type': LDS, name: 'payments' }]);
  const state = await client.resolve('payments', 5000);
  assert.equal(state.status, 'error');
  assert.match(state.status === 'error' ? state.message : '', /resource 'payments': api_listener: not set/);
});

test('an unknown listener is absent; it resolves once the server creates it', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t);
  serve(cp, { a: 1 });
  assert.deepEqual(await client.resolve('nope', 5000), { status: 'absent' });
  cp.setResources(LDS, [x.listener('payments'), x.listener('nope', 'payments')]);
  await waitForState(client, (s) => s.targets.get('nope')?.status === 'resolved');
});

/** Serves two targets, payments → cluster pay and orders → cluster ord, each with one endpoint. */
function serveTwo(cp: FakeControlPlane): void {
  cp.setResources(LDS, [x.listener('payments'), x.listener('orders')]);
  cp.setResources(RDS, [x.routeConfig('payments', [x.route('/', { pay: 1 })]), x.routeConfig('orders', [x.route('/', { ord: 1 })])]);
  cp.setResources(CDS, [x.cluster('pay'), x.cluster('ord')]);
  cp.setResources(EDS, [x.clusterLoadAssignment('pay', ['10.0.0.1:8080']), x.clusterLoadAssignment('ord', ['10.0.0.2:8080'])]);
}

/** Records every moment the state said `orders`, or its cluster `ord`, does not exist (absent, or known with no endpoints). */
function watchForAbsentOrders(client: XdsClient): string[] {
  const seen: string[] = [];
  client.state.onChange((s) => {
    if (s.targets.get('orders')?.status === 'absent') seen.push(`target orders absent at generation ${s.generation}`);
    const ord = s.clusters.get('ord');
    if (ord?.endpointsKnown === true && ord.endpoints.length === 0) seen.push(`cluster ord without endpoints at generation ${s.generation}`);
  });
  return seen;
}

// The SotW start-up race: a subscription widened while the answer to the narrower request is in flight. That answer
// lacks the new name because the server had not seen it yet; it must not read as "does not exist".
for (const [held, short] of [[LDS, 'LDS'], [CDS, 'CDS']] as const) {
  test(`a ${short} answer that crosses a wider request does not make the new name absent; the answer to it brings it`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const { cp, client } = await setup(t);
    serveTwo(cp);
    const absent = watchForAbsentOrders(client);
    const release = cp.holdResponses(held);
    const payments = client.resolve('payments', 10_000);
    await cp.waitForRequest((r) => r.type_url === held && r.resource_names.length === 1, { timeoutMs: 10_000 });
    const orders = client.resolve('orders', 10_000);
    await cp.waitForRequest((r) => r.type_url === held && r.resource_names.length === 2, { timeoutMs: 10_000 });
    release(); // the answer to [one name] now arrives after [both] was sent, then the answer to [both]
    assert.equal((await payments).status, 'resolved');
    assert.equal((await orders).status, 'resolved');
    const first = cp.responses.find((r) => r.type_url === held)!;
    assert.equal(first.names.length, 1, 'the crossing answer carried only the first name (the race did happen)');
    assert.deepEqual(absent, [], 'orders was never reported absent');
    assert.deepEqual(client.state.get().clusters.get('ord')?.endpoints.map((e) => e.address), ['10.0.0.2']);
  });
}

test('a name the server does not have still ends absent, after the answer to a request naming it', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t);
  serve(cp, { a: 1 });
  const release = cp.holdResponses(LDS);
  const payments = client.resolve('payments', 10_000);
  await cp.waitForRequest((r) => r.type_url === LDS && r.resource_names.length === 1, { timeoutMs: 10_000 });
  const nope = client.resolve('nope', 10_000);
  await cp.waitForRequest((r) => r.type_url === LDS && r.resource_names.length === 2, { timeoutMs: 10_000 });
  release();
  assert.equal((await payments).status, 'resolved');
  assert.deepEqual(await nope, { status: 'absent' });
  const answers = cp.responses.filter((r) => r.type_url === LDS);
  assert.ok(answers.length >= 2, 'the answer to the request naming it was sent');
});

test('createXdsClient refuses a resourceTimeoutMs that is not a usable timer delay', () => {
  for (const bad of [0, -1, Number.NaN, Infinity, 2 ** 31]) {
    assert.throws(() => createXdsClient({ server: '127.0.0.1:1', node: { id: 'n', cluster: 'c' }, resourceTimeoutMs: bad }), /WEFT_ERR_INVALID_ARG|resourceTimeoutMs must be/);
  }
});

test('a Listener the server never answers for ends absent after resourceTimeoutMs (the does-not-exist timer)', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t, undefined, { resourceTimeoutMs: 300 });
  serve(cp, { a: 1 });
  assert.equal((await client.resolve('payments', 5000)).status, 'resolved');
  cp.holdResponses(LDS); // never released: the server reads the request naming nope and stays silent
  const startedMs = Date.now();
  assert.deepEqual(await client.resolve('nope', 10_000), { status: 'absent' });
  assert.ok(Date.now() - startedMs >= 250, 'not before the timeout: no answer said so');
  assert.equal(client.state.get().targets.get('payments')?.status, 'resolved', 'a held Listener is not timed out');
});

test('a Listener received and then left out of a later LDS response is removed at once', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t);
  serve(cp, { a: 1 });
  cp.setResources(LDS, [x.listener('payments'), x.listener('orders', 'payments')]);
  assert.equal((await client.resolve('payments', 5000)).status, 'resolved');
  assert.equal((await client.resolve('orders', 5000)).status, 'resolved');
  cp.setResources(LDS, [x.listener('payments')]); // a push (new version) without orders: deleted
  await waitForState(client, (s) => s.targets.get('orders')?.status === 'absent');
  assert.equal(client.state.get().targets.get('payments')?.status, 'resolved');
});

test('resolve returns pending after its timeout when the server has nothing', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { client } = await setup(t);
  assert.deepEqual(await client.resolve('payments', 50), { status: 'pending' });
});

test('an update pushed later changes the state; unreferenced clusters are unsubscribed', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t);
  serve(cp, { a: 1 }, ['b']);
  await client.resolve('payments', 5000);
  const generation = client.state.get().generation;
  cp.setResources(EDS, [x.clusterLoadAssignment('a', ['10.9.9.9:80', '10.9.9.8:80']), x.clusterLoadAssignment('b', ['10.0.0.2:8080'])]);
  const updated = await waitForState(client, (s) => s.clusters.get('a')?.endpoints.length === 2);
  assert.ok(updated.generation > generation);

  const from = cp.requests.length;
  cp.setResources(RDS, [x.routeConfig('payments', [x.route('/', { b: 1 })])]);
  await waitForState(client, (s) => clustersOfFirstRoute(s)[0] === 'b' && !s.clusters.has('a'));
  const cds = await cp.waitForRequest((r) => r.type_url === CDS && r.resource_names.join() === 'b', { from });
  assert.equal(cds.error_detail, null);
  await cp.waitForRequest((r) => r.type_url === EDS && r.resource_names.join() === 'b', { from });
});

test('reconnects after the server restarts on the same port, keeping state meanwhile and resubscribing', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const first = await FakeControlPlane.start();
  const { client } = await setup(t, first);
  serve(first, { a: 1 });
  await client.resolve('payments', 5000);
  const resolved = client.state.get();
  await first.close();
  await waitUntil(() => !client.status().connected);
  assert.equal(client.state.get(), resolved, 'the last good state is kept while disconnected');
  assert.equal(client.state.get().targets.get('payments')?.status, 'resolved');

  const second = await FakeControlPlane.start({ port: first.port });
  t.after(() => second.close());
  second.setResources(LDS, [x.listener('payments')]);
  second.setResources(RDS, [x.routeConfig('payments', [x.route('/', { a: 1 })])]);
  second.setResources(CDS, [x.cluster('a')]);
  second.setResources(EDS, [x.clusterLoadAssignment('a', ['10.7.7.7:80'])]);
  const hello = await second.waitForRequest((r) => r.type_url === LDS);
  assert.equal(hello.node?.['id'], 'checkout-1', 'a new stream starts with the node');
  assert.equal(hello.version_info, '1', 'and the last accepted version');
  assert.equal(hello.response_nonce, '');
  assert.deepEqual(hello.resource_names, ['payments']);
  await waitForState(client, (s) => s.clusters.get('a')?.endpoints[0]?.address === '10.7.7.7');
  assert.equal(client.status().connected, true);
});

test('close() leaves no handles behind: a process using the client exits by itself', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  // The server lives in this process and stays up, so only the client's own handles can keep the child alive.
  const cp = await FakeControlPlane.start();
  t.after(() => cp.close());
  serve(cp, { a: 1 });
  const clientModule = fileURLToPath(new URL('./ads-client.ts', import.meta.url));
  const script = `
    import { createXdsClient } from ${JSON.stringify(clientModule)};
    const client = createXdsClient({ server: ${JSON.stringify(cp.address)}, node: { id: 'n', cluster: 'c' } });
    const state = await client.resolve('payments', 5000);
    await client.close();
    console.log(state.status);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  assert.equal(out.trim(), 'resolved');
  assert.equal(code, 0, 'the process exited on its own after close() (killed means a handle was left)');
  await waitUntil(() => cp.openStreams === 0); // and the server saw the stream end
});

/** Polls `condition` every 5 ms (for facts with no event, like the connection flag), failing after `timeoutMs`. */
async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('watchSecret subscribes to an SDS Secret, hands over each accepted version, and keeps the last good on a NACK', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { cp, client } = await setup(t);
  const { testRoot } = await import('../../../control-plane/src/ca/ca-test-kit.js');
  const SDS = TYPE_URL.secret;
  const bundle = (pem: string) => ({ '@type': SDS, name: 'weft-trust-bundle', validation_context: { trusted_ca: { inline_string: pem } } });
  const a = testRoot('weft.local', 'A');
  const b = testRoot('weft.local', 'B');
  cp.setResources(SDS, [bundle(a.pem)]);
  const seen: string[][] = [];
  let wake: () => void = () => {};
  const sub = client.watchSecret('weft-trust-bundle', (s) => {
    seen.push([...s.fingerprints]);
    wake();
  });
  const next = () => new Promise<void>((resolve) => (wake = resolve));
  await next();
  assert.deepEqual(seen, [[a.cert.fingerprint256]]);
  assert.deepEqual(client.status().types.find((x) => x.typeUrl === SDS)?.subscribed, ['weft-trust-bundle']);

  const changed = next();
  cp.setResources(SDS, [bundle(a.pem + b.pem)]);
  await changed;
  assert.deepEqual(seen.at(-1), [a.cert.fingerprint256, b.cert.fingerprint256]);

  cp.setResources(SDS, [bundle('not a certificate')]);
  const nack = await cp.waitForRequest((r) => r.type_url === SDS && r.error_detail !== null);
  assert.match(nack.error_detail!.message, /no PEM "CERTIFICATE" block/);
  assert.equal(seen.length, 2, 'the refused version is not handed over; the last good stays');

  sub.dispose();
  await cp.waitForRequest((r) => r.type_url === SDS && r.resource_names.length === 0);
});
