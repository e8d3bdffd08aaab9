// Tests the mesh Dispatcher against real loopback servers and a fake Discovery: routing, balancing, failures, swaps.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, Dispatcher, fetch, getGlobalDispatcher, request, setGlobalDispatcher } from 'undici';
import { findCause, isMeshError, ERROR_CODES } from '../../core/errors.js';
import { MeshDispatcher } from './dispatcher.js';
import { FakeDiscovery, cluster, resolvedTarget, route, startEcho, type EchoServer } from './test-kit.js';
import { seededRandom as seeded } from '../../testing/seeded-random.js';

async function get(d: Dispatcher, url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ id: string; host: string; url: string }> {
  const res = await request(url, { dispatcher: d, headers, method: method as 'GET' });
  assert.equal(res.statusCode, 200);
  return (await res.body.json()) as { id: string; host: string; url: string };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e: unknown) {
    return e;
  }
  assert.fail('expected the call to fail');
}

describe('MeshDispatcher', { timeout: 20_000 }, () => {
  let a: EchoServer;
  let b: EchoServer;
  let c: EchoServer;
  const closers: (() => Promise<unknown>)[] = [];

  before(async () => {
    [a, b, c] = await Promise.all([startEcho('a'), startEcho('b'), startEcho('c')]);
  });
  after(async () => {
    await Promise.all(closers.map((f) => f()));
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  function mesh(discovery: FakeDiscovery, extra: Partial<ConstructorParameters<typeof MeshDispatcher>[0]> = {}): MeshDispatcher {
    const d = new MeshDispatcher({ discovery, pool: { keepAliveTimeoutMs: 500 }, ...extra });
    closers.push(() => d.close());
    return d;
  }

  it('routes by exact path, separated prefix, header and method, and keeps the logical host header', async () => {
    const discovery = new FakeDiscovery(
      {
        payments: resolvedTarget('payments', [
          route('HTTPRoute/p/rules/0/matches/0', { path: { kind: 'exact', value: '/exact', ignoreCase: false }, clusters: ['a'] }),
          route('HTTPRoute/p/rules/1/matches/0', { path: { kind: 'separated-prefix', value: '/api', ignoreCase: false }, clusters: ['b'] }),
          route('HTTPRoute/p/rules/2/matches/0', {
            headers: [{ name: 'x-canary', match: { kind: 'exact', value: 'yes', ignoreCase: false }, invert: false }],
            clusters: ['b'],
          }),
          route('HTTPRoute/p/rules/3/matches/0', {
            headers: [{ name: ':method', match: { kind: 'exact', value: 'POST', ignoreCase: false }, invert: false }],
            clusters: ['c'],
          }),
          route('HTTPRoute/p/rules/4/matches/0', { clusters: ['a'] }),
        ]),
      },
      [cluster('a', [a.port]), cluster('b', [b.port]), cluster('c', [c.port])],
    );
    const d = mesh(discovery);
    assert.equal((await get(d, 'http://payments/exact')).id, 'a');
    assert.equal((await get(d, 'http://payments/api')).id, 'b');
    assert.equal((await get(d, 'http://payments/api/x?q=1')).id, 'b');
    assert.equal((await get(d, 'http://payments/apix')).id, 'a', '/apix is not under the /api path element');
    assert.equal((await get(d, 'http://payments/other', { 'X-Canary': 'yes' })).id, 'b');
    assert.equal((await get(d, 'http://payments/other', {}, 'POST')).id, 'c');
    const echoed = await get(d, 'http://payments/exact');
    assert.equal(echoed.host, 'payments');
    assert.equal(echoed.url, '/exact');
  });

  it('splits by weight within 5 points over 1000 calls (seeded RNG) and round-robins endpoints in order', async () => {
    const discovery = new FakeDiscovery(
      { split: resolvedTarget('split', [route('r', { clusters: [{ cluster: 'one', weight: 80 }, { cluster: 'two', weight: 20 }] })]) },
      [cluster('one', [a.port]), cluster('two', [b.port])],
    );
    const d = mesh(discovery, { random: seeded(42) });
    const counts = new Map<string, number>();
    const N = 1000;
    for (let batch = 0; batch < N / 100; batch++) {
      const ids = await Promise.all(Array.from({ length: 100 }, () => get(d, 'http://split/').then((r) => r.id)));
      for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const shareA = (counts.get('a') ?? 0) / N;
    assert.ok(Math.abs(shareA - 0.8) < 0.05, `80/20 split gave ${shareA} to 'one'`);

    const rr = new FakeDiscovery({ rr: resolvedTarget('rr', [route('r', { clusters: ['abc'] })]) }, [cluster('abc', [a.port, b.port, c.port])]);
    const d2 = mesh(rr);
    const order: string[] = [];
    for (let i = 0; i < 9; i++) order.push((await get(d2, 'http://rr/')).id);
    assert.deepEqual(order, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('honours endpoint weights in round robin', async () => {
    const discovery = new FakeDiscovery({ w: resolvedTarget('w', [route('r', { clusters: ['w'] })]) }, [
      cluster('w', [{ port: a.port, weight: 3 }, { port: b.port, weight: 1 }]),
    ]);
    const d = mesh(discovery);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await get(d, 'http://w/')).id);
    assert.equal(ids.filter((x) => x === 'a').length, 6);
    assert.equal(ids.filter((x) => x === 'b').length, 2);
  });

  it('passes IP literals through without asking discovery, and absent hosts through the pass-through dispatcher', async () => {
    const discovery = new FakeDiscovery({ 'not-mesh': { status: 'absent' } }, []);
    const agent = new Agent();
    const seen: string[] = [];
    const passThrough = agent.compose((dispatch) => (opts, handler) => {
      seen.push(String(opts.origin));
      return dispatch({ ...opts, origin: `http://127.0.0.1:${c.port}` }, handler);
    });
    closers.push(() => agent.close());
    const d = mesh(discovery, { passThrough });
    assert.equal((await get(d, `http://127.0.0.1:${a.port}/direct`)).id, 'c', 'went through the pass-through dispatcher');
    assert.deepEqual(discovery.resolved, [], 'an IP literal is never resolved');
    assert.equal((await get(d, 'http://not-mesh/x')).id, 'c');
    assert.deepEqual(seen, [`http://127.0.0.1:${a.port}`, 'http://not-mesh']);

    const plain = mesh(new FakeDiscovery());
    assert.equal((await get(plain, `http://127.0.0.1:${a.port}/direct`)).id, 'a');
  });

  it('passes dotted hosts outside meshDomains through without a lookup, and routes those inside', async () => {
    const dotted = 'echo.default.svc.cluster.local';
    const targets = { [dotted]: resolvedTarget(dotted, [route('r', { clusters: ['echo:80'] })]) };
    const agent = new Agent();
    const seen: string[] = [];
    const passThrough = agent.compose((dispatch) => (opts, handler) => {
      seen.push(String(opts.origin));
      return dispatch({ ...opts, origin: `http://127.0.0.1:${c.port}` }, handler);
    });
    closers.push(() => agent.close());

    const outside = new FakeDiscovery(targets, [cluster('echo:80', [a.port])]);
    const d = mesh(outside, { passThrough });
    // Even though discovery knows the dotted name, it is not consulted: the name is outside meshDomains.
    assert.equal((await get(d, `http://${dotted}/x`)).id, 'c', 'passed through');
    assert.equal((await get(d, 'http://api.example.com/x')).id, 'c');
    assert.deepEqual(outside.resolved, [], 'no control-plane lookup for dotted names by default');
    assert.deepEqual(seen, [`http://${dotted}`, 'http://api.example.com']);

    const inside = new FakeDiscovery(targets, [cluster('echo:80', [a.port])]);
    const routed = mesh(inside, { passThrough, meshDomains: ['.svc.cluster.local'] });
    assert.equal((await get(routed, `http://${dotted}/x`)).id, 'a', 'routed by the mesh');
    assert.equal((await get(routed, 'http://api.example.com/x')).id, 'c');
  });

  it('fails with typed errors: no route (404), no endpoints (503), refused config', async () => {
    const discovery = new FakeDiscovery(
      {
        strict: resolvedTarget('strict', [route('HTTPRoute/s/rules/0/matches/0', { path: { kind: 'exact', value: '/only', ignoreCase: false }, clusters: ['a'] })]),
        empty: resolvedTarget('empty', [route('HTTPRoute/e/rules/0/matches/0', { clusters: ['none'] })]),
        broken: { status: 'error', message: "resource 'broken': route: bad regex" },
      },
      [cluster('a', [a.port]), cluster('none', [])],
    );
    const d = mesh(discovery);
    const noRoute = await failure(request('http://strict/elsewhere', { dispatcher: d }));
    assert.ok(isMeshError(noRoute, ERROR_CODES.NO_ROUTE), String(noRoute));
    assert.equal(noRoute.details.authority, 'strict');
    assert.equal(noRoute.details.status, 404);

    const noEndpoints = await failure(request('http://empty/', { dispatcher: d }));
    assert.ok(isMeshError(noEndpoints, ERROR_CODES.NO_ENDPOINTS), String(noEndpoints));
    assert.deepEqual(
      [noEndpoints.details.authority, noEndpoints.details.route, noEndpoints.details.cluster],
      ['empty', 'HTTPRoute/e/rules/0/matches/0', 'none'],
    );

    const rejected = await failure(request('http://broken/', { dispatcher: d }));
    assert.ok(isMeshError(rejected, ERROR_CODES.CONFIG_REJECTED));
    assert.match(rejected.message, /bad regex/);

    const viaFetch = await failure(fetch('http://strict/elsewhere', { dispatcher: d }));
    assert.ok(findCause(viaFetch, ERROR_CODES.NO_ROUTE), 'fetch rejects with the MeshError as cause');
  });

  it('fails a call that exceeds the route timeout with WEFT_ERR_TIMEOUT, in bounds', async () => {
    const discovery = new FakeDiscovery({ slow: resolvedTarget('slow', [route('HTTPRoute/slow/rules/0/matches/0', { clusters: ['a'], timeoutMs: 150 })]) }, [
      cluster('a', [a.port]),
    ]);
    const d = mesh(discovery);
    const started = Date.now();
    const err = await failure(request('http://slow/', { dispatcher: d, headers: { 'x-test-delay-ms': '3000' } }));
    const elapsedMs = Date.now() - started;
    assert.ok(isMeshError(err, ERROR_CODES.TIMEOUT), String(err));
    assert.equal(err.details.timeoutMs, 150);
    assert.equal(err.details.cluster, 'a');
    // Not before the 150 ms timeout, and before the backend would have answered (3 s): bounds 20× apart, so a loaded
    // machine does not fail them; how close to 150 ms it fires is no property of this test.
    assert.ok(elapsedMs >= 140 && elapsedMs < 3000, `timed out after ${elapsedMs} ms`);
    // A fast call on the same route is unaffected.
    assert.equal((await get(d, 'http://slow/')).id, 'a');
  });

  it('times out a call still queued for a busy connection at once, and the busy call is unaffected', async () => {
    const discovery = new FakeDiscovery(
      {
        busy: resolvedTarget('busy', [
          route('HTTPRoute/busy/rules/0/matches/0', { path: { kind: 'exact', value: '/slow', ignoreCase: false }, clusters: ['a'] }),
          route('HTTPRoute/busy/rules/1/matches/0', { clusters: ['a'], timeoutMs: 100 }),
        ]),
      },
      [cluster('a', [a.port])],
    );
    const d = mesh(discovery, { pool: { connections: 1, keepAliveTimeoutMs: 500 } });
    let slowDone = false;
    const slow = get(d, 'http://busy/slow', { 'x-test-delay-ms': '3000' }).finally(() => (slowDone = true));
    await new Promise((r) => setTimeout(r, 20));
    const err = await failure(request('http://busy/queued', { dispatcher: d }));
    assert.ok(isMeshError(err, ERROR_CODES.TIMEOUT), String(err));
    // An ordering, not a time window: it failed while the busy call still held the only connection (3 s).
    assert.equal(slowDone, false, 'the queued call failed when its timeout passed, not when the connection freed');
    assert.equal((await slow).url, '/slow');
    assert.equal(a.seen.filter((s) => s.url === '/queued').length, 0, 'the timed-out call is never sent');
  });

  it('queues the first calls to an unknown authority until discovery answers, then routes them', async () => {
    const discovery = new FakeDiscovery({}, []);
    const d = mesh(discovery);
    const calls = [get(d, 'http://late/1'), get(d, 'http://late/2')];
    await new Promise((r) => setTimeout(r, 20));
    discovery.publish({ late: resolvedTarget('late', [route('r', { clusters: ['a'] })]) }, [cluster('a', [a.port])]);
    const results = await Promise.all(calls);
    assert.deepEqual(results.map((r) => r.url), ['/1', '/2']);
    assert.deepEqual(discovery.resolved, ['late']);
  });

  it('fails queued calls with WEFT_ERR_CONFIG_TIMEOUT when discovery does not answer, and bounds the queue', async () => {
    const discovery = new FakeDiscovery({}, []);
    const d = mesh(discovery, { resolveTimeoutMs: 100, maxPendingPerAuthority: 2 });
    const p1 = failure(request('http://never/', { dispatcher: d }));
    const p2 = failure(request('http://never/', { dispatcher: d }));
    const full = await failure(request('http://never/', { dispatcher: d }));
    assert.ok(isMeshError(full, ERROR_CODES.QUEUE_FULL), String(full));
    for (const e of await Promise.all([p1, p2])) assert.ok(isMeshError(e, ERROR_CODES.CONFIG_TIMEOUT), String(e));
    // The next call asks again.
    const again = await failure(request('http://never/', { dispatcher: d }));
    assert.ok(isMeshError(again, ERROR_CODES.CONFIG_TIMEOUT));
    assert.equal(discovery.resolved.length, 2);
  });

  it('lets in-flight calls finish across a state swap, sends new calls to the new endpoints and closes left pools', async () => {
    const routes = { svc: resolvedTarget('svc', [route('r', { clusters: ['svc'] })]) };
    const discovery = new FakeDiscovery(routes, [cluster('svc', [a.port])]);
    const d = mesh(discovery);
    const inFlight = Array.from({ length: 5 }, () => get(d, 'http://svc/', { 'x-test-delay-ms': '200' }));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(d.poolOrigins(), [`http://127.0.0.1:${a.port}`]);
    discovery.publish(routes, [cluster('svc', [b.port])]);
    assert.deepEqual(d.poolOrigins(), [], 'the pool of the endpoint that left is closed at once');
    const next = await get(d, 'http://svc/');
    assert.equal(next.id, 'b');
    const finished = await Promise.all(inFlight);
    assert.deepEqual(finished.map((r) => r.id), ['a', 'a', 'a', 'a', 'a']);
    assert.deepEqual(d.poolOrigins(), [`http://127.0.0.1:${b.port}`]);
  });

  it('serves fetch and request with one dispatcher, and fails after close()', async () => {
    const discovery = new FakeDiscovery({ svc: resolvedTarget('svc', [route('r', { clusters: ['svc'] })]) }, [cluster('svc', [a.port])]);
    const d = new MeshDispatcher({ discovery });
    const res = await fetch('http://svc/fetched', { dispatcher: d, method: 'POST', body: 'hello' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: 'a', method: 'POST', url: '/fetched', host: 'svc' });
    assert.equal((await get(d, 'http://svc/requested')).url, '/requested');
    await d.close();
    await d.close();
    const err = await failure(request('http://svc/', { dispatcher: d }));
    assert.ok(isMeshError(err, ERROR_CODES.CLOSED));
  });

  it('works behind compose(): interceptors see the logical origin, and close() still reaches the dispatcher', async () => {
    const discovery = new FakeDiscovery({ svc: resolvedTarget('svc', [route('r', { clusters: ['svc'] })]) }, [cluster('svc', [a.port])]);
    const d = new MeshDispatcher({ discovery });
    const seen: string[] = [];
    const composed = d.compose((dispatch) => (opts, handler) => {
      seen.push(String(opts.origin));
      return dispatch(opts, handler);
    });
    assert.equal((await get(composed, 'http://svc/composed')).url, '/composed');
    assert.deepEqual(seen, ['http://svc']);
    await composed.close();
    assert.ok(isMeshError(await failure(request('http://svc/', { dispatcher: d })), ERROR_CODES.CLOSED));
  });

  it('routes undici calls without a dispatcher option once installed with setGlobalDispatcher, and passes others through', async () => {
    const discovery = new FakeDiscovery({ svc: resolvedTarget('svc', [route('r', { clusters: ['svc'] })]) }, [cluster('svc', [b.port])]);
    const d = mesh(discovery);
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(d);
    try {
      const routed = await request('http://svc/global');
      assert.equal(((await routed.body.json()) as { id: string }).id, 'b');
      const direct = await request(`http://127.0.0.1:${c.port}/`);
      assert.equal(((await direct.body.json()) as { id: string }).id, 'c');
    } finally {
      setGlobalDispatcher(previous);
    }
  });

  it('answers direct-response routes locally', async () => {
    const direct = {
      name: 'HTTPRoute/d/rules/0/matches/0',
      path: { kind: 'prefix' as const, value: '/', ignoreCase: false },
      headers: [],
      queryParams: [],
      action: { kind: 'direct' as const, status: 418, body: 'teapot' },
    };
    const discovery = new FakeDiscovery({ tea: resolvedTarget('tea', [direct]) }, []);
    const d = mesh(discovery);
    const res = await request('http://tea/', { dispatcher: d });
    assert.equal(res.statusCode, 418);
    assert.equal(await res.body.text(), 'teapot');
    const f = await fetch('http://tea/', { dispatcher: d });
    assert.equal(f.status, 418);
    assert.equal(await f.text(), 'teapot');
  });
});
