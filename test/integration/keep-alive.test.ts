// The keep-alive rule: a meshed client stops reusing an idle connection a margin before the server would close it,
// so a request is never written to a connection the server is closing (the keep-alive race); servers Weft creates
// keep idle connections longer than any Weft client does.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { KEEP_ALIVE_MARGIN_MS, MAX_CLIENT_IDLE_TIMEOUT_MS } from '../../src/client/http/pools.js';
import { DEFAULT_SERVER_KEEP_ALIVE_TIMEOUT_MS } from '../../src/server/http/serve.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('keep-alive: the client closes idle connections before the server does', { timeout: 60_000 }, () => {
  let tcp: TestControlPlane;
  let server: Mesh;
  let client: Mesh;
  /** Every connection the server accepted, with who closed it first and when. */
  const sockets: { socket: Socket; closedBy?: 'client' | 'server'; idleSinceMs: number; closedAfterIdleMs?: number }[] = [];

  before(async () => {
    tcp = await startTestControlPlane({ 'services.yaml': serviceYaml('idle') });
    server = await createMesh({ service: 'idle', controlPlane: tcp.cp.xdsUrl });
    // Advertises `Keep-Alive: timeout=3`: a client keeping the margin reuses a connection for at most 1 s of idleness.
    const served = await server.serve((_req, res) => res.end('ok'), { port: 0, keepAliveTimeoutMs: 3_000 });
    served.server.on('connection', (socket: Socket) => {
      const entry: (typeof sockets)[number] = { socket, idleSinceMs: performance.now() };
      sockets.push(entry);
      socket.on('end', () => (entry.closedBy ??= 'client')); // the client's FIN arrived first
      socket.on('close', () => {
        entry.closedBy ??= 'server';
        entry.closedAfterIdleMs = performance.now() - entry.idleSinceMs;
      });
    });
    served.server.on('request', (_req, res) => res.once('finish', () => {
      for (const s of sockets) if (!s.socket.destroyed) s.idleSinceMs = performance.now();
    }));
    await served.registration?.registered();
    client = await createMesh({ service: 'caller', controlPlane: tcp.cp.xdsUrl, dependsOn: ['idle'] });
    await client.ready();
    await waitFor(async () => (await request('http://idle/', { dispatcher: client.dispatcher }).then((r) => r.body.text())) === 'ok', 'idle reachable');
  });

  after(async () => {
    await client?.close();
    await server?.close();
    await tcp?.close();
  });

  it('keeps the rule in its constants: client idle < the server keep-alive Weft servers use', () => {
    assert.ok(MAX_CLIENT_IDLE_TIMEOUT_MS < DEFAULT_SERVER_KEEP_ALIVE_TIMEOUT_MS);
    assert.ok(KEEP_ALIVE_MARGIN_MS >= 1_000, 'Keep-Alive: timeout is in whole seconds, so the margin must cover rounding');
  });

  it('reuses a connection idle for less than timeout − margin, and closes it itself before the server would', async () => {
    const call = async () => {
      const res = await request('http://idle/', { dispatcher: client.dispatcher });
      assert.equal(await res.body.text(), 'ok');
    };
    await sleep(1_500); // let the warm-up connection go (client side, after 1 s)
    const before = sockets.length;
    await call();
    await sleep(400);
    await call();
    assert.equal(sockets.length, before + 1, 'a connection idle for 0.4 s is reused');
    const first = sockets[sockets.length - 1]!;
    await sleep(1_400); // past 3 s − 2 s margin: the client must already have closed it
    await waitFor(() => first.closedBy !== undefined, 'the idle connection closed');
    // Had the client not closed it before the server's 3 s, the server would have: who closed it is the property.
    assert.equal(first.closedBy, 'client', `the client closed the idle connection, not the server (after ${first.closedAfterIdleMs?.toFixed(0)} ms idle)`);
    await call();
    assert.equal(sockets.length, before + 2, 'the next call opened a new connection instead of racing the server');
  });
});
