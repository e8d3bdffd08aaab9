// Tests the retry layer through the real MeshDispatcher against loopback sockets: how undici reports a refused
// connection, a connection reset after the request was sent, and a server that answers 503, and what is retried.
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { RetryPolicy, Route } from '../../discovery/mesh-state.js';
import { MeshDispatcher } from './dispatcher.js';
import { FakeDiscovery, cluster, resolvedTarget, route } from './test-kit.js';

interface Recorder {
  readonly port: number;
  readonly seen: { method: string; attempt: string | undefined; timeout: string | undefined; body: string }[];
  close(): Promise<void>;
}

/** An HTTP server answering `status` (or what x-test-status says), recording each request's mesh headers. */
async function httpServer(status = 200): Promise<Recorder> {
  const seen: Recorder['seen'] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', attempt: req.headers['x-weft-attempt'] as string | undefined, timeout: req.headers['x-weft-timeout-ms'] as string | undefined, body });
      res.statusCode = Number(req.headers['x-test-status'] ?? status);
      res.end(`from ${(server.address() as AddressInfo).port}`);
    });
  });
  server.keepAliveTimeout = 500;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

/** A TCP server that reads the request and then resets the connection without answering. */
async function resetServer(): Promise<{ port: number; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server = net.createServer((socket) => {
    socket.once('data', () => {
      hits++;
      socket.resetAndDestroy();
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, hits: () => hits, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A loopback port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function withRetry(r: Route, retry: RetryPolicy | undefined): Route {
  if (r.action.kind !== 'forward' || retry === undefined) return r;
  return { ...r, action: { ...r.action, retry } };
}

const POLICY: RetryPolicy = {
  conditions: ['5xx'],
  retriableStatusCodes: [],
  numRetries: 2,
  perTryTimeoutMs: undefined,
  baseIntervalMs: 1,
  maxIntervalMs: 5,
  retryNonIdempotent: false,
};

describe('retry layer on real sockets', { timeout: 30_000 }, () => {
  let ok: Recorder;
  let failing: Recorder;
  let reset: Awaited<ReturnType<typeof resetServer>>;
  let dead: number;
  const dispatchers: MeshDispatcher[] = [];

  before(async () => {
    [ok, failing, reset, dead] = await Promise.all([httpServer(200), httpServer(503), resetServer(), deadPort()]);
  });
  after(async () => {
    await Promise.all(dispatchers.map((d) => d.close()));
    await Promise.all([ok.close(), failing.close(), reset.close()]);
  });

  function mesh(ports: number[], retry?: RetryPolicy, timeoutMs?: number): MeshDispatcher {
    const discovery = new FakeDiscovery(
      { svc: resolvedTarget('svc', [withRetry(route('r', { clusters: ['svc:80'], ...(timeoutMs ? { timeoutMs } : {}) }), retry)]) },
      [cluster('svc:80', ports)],
    );
    const d = new MeshDispatcher({ discovery, pool: { keepAliveTimeoutMs: 500 } });
    dispatchers.push(d);
    return d;
  }

  it('safe default: a refused connection (ECONNREFUSED, never sent) is retried on the other endpoint, POST too', async () => {
    const d = mesh([dead, ok.port]);
    const before = ok.seen.length;
    for (let i = 0; i < 10; i++) {
      const res = await request('http://svc/x', { dispatcher: d, method: i % 2 ? 'POST' : 'GET', body: i % 2 ? `p${i}` : null });
      assert.equal(res.statusCode, 200);
      await res.body.text();
    }
    const seen = ok.seen.slice(before);
    assert.equal(seen.length, 10, 'each call reached the live endpoint exactly once');
    assert.ok(seen.some((s) => s.attempt === '2'), 'refused calls arrive as attempt 2');
    assert.ok(seen.filter((s) => s.method === 'POST').every((s) => s.body.startsWith('p')), 'POST bodies were replayed');
  });

  it('safe default: a reset after the request was written is NOT retried (the server may have acted on it)', async () => {
    const d = mesh([reset.port]);
    const hits = reset.hits();
    await assert.rejects(request('http://svc/x', { dispatcher: d, method: 'POST', body: 'pay' }), (e: unknown) => {
      assert.match(String((e as { code?: string }).code), /UND_ERR_SOCKET|ECONNRESET/);
      return true;
    });
    assert.equal(reset.hits() - hits, 1);
  });

  it('with a policy: a reset GET is retried; a 503 is retried up to num_retries and the last 503 is delivered', async () => {
    const d = mesh([reset.port, ok.port], { ...POLICY, conditions: ['reset'] });
    for (let i = 0; i < 4; i++) {
      const res = await request('http://svc/x', { dispatcher: d });
      assert.equal(res.statusCode, 200);
      await res.body.text();
    }
    const f = mesh([failing.port], POLICY);
    const before = failing.seen.length;
    const res = await request('http://svc/x', { dispatcher: f });
    assert.equal(res.statusCode, 503);
    assert.match(await res.body.text(), /^from /);
    assert.deepEqual(failing.seen.slice(before).map((s) => s.attempt), [undefined, '2', '3']);
  });

  it('with a policy: POST to a 503 backend is not retried; with the opt-in it is', async () => {
    const before = failing.seen.length;
    const res = await request('http://svc/x', { dispatcher: mesh([failing.port], POLICY), method: 'POST', body: 'once' });
    assert.equal(res.statusCode, 503);
    await res.body.text();
    assert.equal(failing.seen.length - before, 1);
    const res2 = await request('http://svc/x', { dispatcher: mesh([failing.port], { ...POLICY, retryNonIdempotent: true }), method: 'POST', body: 'again' });
    assert.equal(res2.statusCode, 503);
    await res2.body.text();
    assert.deepEqual(failing.seen.slice(before + 1).map((s) => s.body), ['again', 'again', 'again']);
  });

  it('sends the remaining route deadline in x-weft-timeout-ms', async () => {
    const before = ok.seen.length;
    const res = await request('http://svc/x', { dispatcher: mesh([ok.port], undefined, 300) });
    await res.body.text();
    const t = Number(ok.seen[before]!.timeout);
    assert.ok(t > 200 && t <= 300, `x-weft-timeout-ms ${t}`);
  });
});
