// Tests serving with registration and drain: deregister first, keep serving with `connection: close`, finish in-flight.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { isMeshError, ERROR_CODES } from '../../core/errors.js';
import { RegistryClient } from '../../discovery/registration.js';
import { startFakeRegistry } from '../../discovery/registration-test-kit.js';
import { serveHttp } from './serve.js';

describe('serveHttp', { timeout: 20_000 }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const f of cleanups.reverse()) await f();
  });

  it('registers the bound port, then on close deregisters first, drains, and lets a slow in-flight request finish', async () => {
    const registry = await startFakeRegistry();
    cleanups.push(() => registry.close());
    const client = new RegistryClient({ server: registry.address });
    cleanups.push(() => client.close());
    const agent = new Agent({ keepAliveTimeout: 10_000 });
    cleanups.push(() => agent.close());

    const events: string[] = [];
    const handler: http.RequestListener = (req, res) => {
      const delayMs = Number(req.headers['x-delay-ms'] ?? 0);
      if (req.url === '/slow') res.on('finish', () => events.push('slow sent'));
      setTimeout(() => res.end(`done ${req.url}`), delayMs);
    };
    const served = await serveHttp(handler, { port: 0, portName: 'http' }, {
      service: 'payments',
      nodeId: 'node-1',
      register: (ep, ttlMs) => client.register(ep, ttlMs ?? 10_000),
      drain: { drainDelayMs: 150, drainTimeoutMs: 3_000 },
    });
    assert.ok(served.port > 0);
    assert.equal(served.address, '127.0.0.1');
    assert.equal(await served.registration!.registered(), true);
    const endpoint = registry.calls[0]!.request['endpoint'] as Record<string, unknown>;
    assert.deepEqual([endpoint['service'], endpoint['address'], endpoint['port'], endpoint['port_name'], endpoint['node_id']], [
      'payments',
      '127.0.0.1',
      served.port,
      'http',
      'node-1',
    ]);

    const origin = `http://127.0.0.1:${served.port}`;
    const warm = await request(`${origin}/warm`, { dispatcher: agent });
    assert.equal(warm.headers.connection, 'keep-alive');
    await warm.body.text();

    const slow = request(`${origin}/slow`, { dispatcher: agent, headers: { 'x-delay-ms': '400' } }).then(async (r) => ({
      status: r.statusCode,
      connection: r.headers.connection,
      body: await r.body.text(),
      at: Date.now(),
    }));
    await new Promise((r) => setTimeout(r, 50));
    const closing = served.close().then(() => events.push('closed'));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(registry.calls.at(-1)!.method, 'Deregister', 'deregistered before anything else');
    assert.equal(registry.leases.size, 0);
    assert.equal(served.server.listening, true, 'still serving during the drain delay');

    const during = await request(`${origin}/during`, { dispatcher: agent });
    assert.equal(during.headers.connection, 'close', 'responses during the drain ask callers to reconnect elsewhere');
    assert.equal(await during.body.text(), 'done /during');

    const finished = await slow;
    assert.deepEqual([finished.status, finished.body, finished.connection], [200, 'done /slow', 'close']);
    await closing;
    assert.deepEqual(events, ['slow sent', 'closed'], 'close() waited for the in-flight request');
    assert.equal(served.server.listening, false);
    await served.close(); // idempotent
  });

  it('cuts requests still running after the drain timeout, serves an existing http.Server, and refuses bad options', async () => {
    const server = http.createServer((_req, res) => setTimeout(() => res.end('late'), 5_000).unref());
    const served = await serveHttp(server, { port: 0 }, { service: 's', nodeId: 'n', register: () => undefined, drain: { drainDelayMs: 0, drainTimeoutMs: 100 } });
    assert.equal(served.server, server);
    assert.equal(served.registration, undefined);
    const pending = request(`http://127.0.0.1:${served.port}/`).then(
      () => 'answered',
      () => 'cut',
    );
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await served.close();
    assert.ok(Date.now() - started < 1_000);
    assert.equal(await pending, 'cut');

    await assert.rejects(
      serveHttp(() => {}, { port: -1 }, { service: 's', nodeId: 'n', register: () => undefined }),
      (e: unknown) => isMeshError(e, ERROR_CODES.INVALID_ARG),
    );
  });
});
