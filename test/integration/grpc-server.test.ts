// mesh.grpc.server(): grpc.health.v1 that follows the drain, reflection when asked, the caller's deadline inside the
// handler (inherited by the HTTP and gRPC calls it makes through the mesh), and a rolling restart of gRPC backends
// under load with zero failed calls.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createMesh, currentDeadline, type Mesh } from '../../src/index.js';
import { addEchoService, EchoClient, echoService, say, type EchoReply } from '../../src/testing/index.js';
import { serviceYaml, spawnFixture, startTestControlPlane, waitFor, type TestControlPlane, type TestProcess } from './helpers.js';

const require = createRequire(import.meta.url);

const CONFIG = {
  'services.yaml': [serviceYaml('health', 'GRPC', 50051), serviceYaml('edge', 'GRPC', 50051), serviceYaml('inner', 'HTTP', 8080), serviceYaml('roll', 'GRPC', 50051)].join('---\n'),
};

/** A client of grpc.health.v1 built from the grpc-health-check package's own proto. */
function healthClient(port: number): grpc.Client & { check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void } {
  const loader = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
  const { protoPath } = require('grpc-health-check') as { protoPath: string };
  const def = loader.loadSync(protoPath, { keepCase: true, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: new (addr: string, creds: grpc.ChannelCredentials) => ReturnType<typeof healthClient> } } } };
  return new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

describe('mesh.grpc.server', { timeout: 180_000 }, () => {
  let tcp: TestControlPlane;
  const meshes: Mesh[] = [];
  const procs: TestProcess[] = [];

  const newMesh = async (service: string, drainDelayMs = 100): Promise<Mesh> => {
    const m = await createMesh({ service, controlPlane: tcp.cp.xdsUrl, drain: { drainDelayMs, drainTimeoutMs: 2_000 } });
    meshes.push(m);
    return m;
  };

  before(async () => {
    tcp = await startTestControlPlane(CONFIG);
  });

  after(async () => {
    await Promise.all(meshes.map((m) => m.close()));
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await tcp?.close();
  });

  it('serves grpc.health.v1: SERVING while registered, NOT_SERVING once close() starts draining', async () => {
    const m = await newMesh('health', 400);
    const server = m.grpc.server();
    addEchoService(server, 'h');
    const served = await m.grpc.serve(server, { port: 0 });
    const health = healthClient(served.port);
    const check = (service: string) => new Promise<string>((resolve, reject) => health.check({ service }, (err, res) => (err ? reject(err) : resolve(res!.status))));
    assert.equal(await check(''), 'SERVING');
    assert.equal(await check('health'), 'SERVING', 'the mesh service name is a health service too');
    const closing = served.close();
    await waitFor(async () => (await check('')) === 'NOT_SERVING', 'NOT_SERVING during the drain delay', 2_000);
    await closing;
    health.close();
  });

  it('serves reflection when asked, with the package definition it was given', async () => {
    const loader = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
    const { protoPath } = require('grpc-health-check') as { protoPath: string };
    const m = await newMesh('health');
    const server = m.grpc.server({ reflection: loader.loadSync(protoPath) });
    const served = await m.grpc.serve(server, { port: 0 });
    const def = loader.loadSync(require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto'), { keepCase: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: new (a: string, c: grpc.ChannelCredentials) => grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, { list_services_response?: { service: { name: string }[] } }> } } } } };
    const client = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${served.port}`, grpc.credentials.createInsecure());
    const call = client.ServerReflectionInfo();
    const reply = new Promise<{ list_services_response?: { service: { name: string }[] } }>((resolve, reject) => {
      call.once('data', resolve);
      call.once('error', reject);
    });
    call.write({ list_services: '' });
    const names = (await reply).list_services_response?.service.map((s) => s.name) ?? [];
    call.end();
    client.close();
    assert.ok(names.includes('grpc.health.v1.Health'), `listed: ${names.join(', ')}`);
    await served.close();
  });

  it("gives the handler the caller's deadline, and calls it makes through the mesh inherit what is left", async () => {
    // inner: an HTTP service answering with the deadline header it received.
    const inner = await newMesh('inner');
    await (await inner.serve((req, res) => res.end(String(req.headers['x-weft-timeout-ms'] ?? 'none')), { port: 0 })).registration?.registered();
    // edge: a gRPC service whose handler reads currentDeadline() and calls inner over HTTP and health over gRPC.
    const edge = await newMesh('edge');
    const echoBackend = await newMesh('health');
    const echoServer = echoBackend.grpc.server();
    addEchoService(echoServer, 'nested');
    await (await echoBackend.grpc.serve(echoServer, { port: 0 })).registration?.registered();
    const nested = edge.grpc.client(EchoClient, 'health');
    const server = edge.grpc.server();
    server.addService(
      { Say: echoService.Say },
      {
        Say: (call: grpc.ServerUnaryCall<unknown, EchoReply>, cb: grpc.sendUnaryData<unknown>) => {
          const seen = currentDeadline()?.remainingMs();
          void (async () => {
            const httpDeadline = await (await edge.fetch('http://inner/')).text();
            const grpcDeadline = (await say(nested, {})).deadlineMs;
            cb(null, { server: 'edge', seen, httpDeadline, grpcDeadline });
          })().catch((e: unknown) => cb(e as grpc.ServiceError));
        },
      },
    );
    await (await edge.grpc.serve(server, { port: 0 })).registration?.registered();
    const caller = await newMesh('caller');
    const client = caller.grpc.client(EchoClient, 'edge');
    const reply = (await say(client, {}, { deadlineMs: 1_500 })) as unknown as { seen: number; httpDeadline: string; grpcDeadline: number };
    client.close();
    nested.close();
    // The handler sees what is left of the caller's 1.5 s, and each nested hop gets what is left then: never more than
    // the handler had (+1 for rounding to whole ms), never nothing. Orderings, not wall-clock windows, so a loaded
    // machine that spends 600 ms in transit still passes, while a dropped or defaulted deadline does not.
    assert.ok(reply.seen > 0 && reply.seen <= 1_500, `handler saw ${reply.seen} ms`);
    const http = Number(reply.httpDeadline);
    assert.ok(http > 0 && http <= reply.seen + 1, `the HTTP hop got x-weft-timeout-ms ${reply.httpDeadline} (handler saw ${reply.seen})`);
    assert.ok(reply.grpcDeadline > 0 && reply.grpcDeadline <= reply.seen + 1, `the gRPC hop got a ${reply.grpcDeadline} ms deadline (handler saw ${reply.seen})`);
  });

  it('rolls every backend under load (each drains and deregisters first) with zero failed calls', async () => {
    const start = (i: number): TestProcess => {
      const p = spawnFixture('test/integration/fixtures/grpc-echo-backend.ts', { WEFT_CONTROL_PLANE: tcp.cp.xdsUrl, SERVICE: 'roll', INSTANCE: `r${i}`, LEASE_TTL_MS: '30000' });
      procs.push(p);
      return p;
    };
    let live = [start(0), start(1), start(2)];
    await Promise.all(live.map((p) => p.waitForLine((l) => l['type'] === 'ready')));
    const caller = await newMesh('roll-caller');
    const client = caller.grpc.client(EchoClient, 'roll');
    await waitFor(async () => new Set(await Promise.all(Array.from({ length: 12 }, () => say(client, {}).then((r) => r.server)))).size === 3, 'all three in use');
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const servers = new Set<string>();
    const load = Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let n = 0; n < 100_000 && running; n++) {
          try {
            servers.add((await say(client, { delayMs: 5 })).server);
            ok++;
          } catch (e: unknown) {
            failures.push(`${(e as grpc.ServiceError).code} ${(e as grpc.ServiceError).details}`);
          }
        }
      }),
    );
    for (let i = 0; i < 3; i++) {
      const next = start(3 + i);
      await next.waitForLine((l) => l['type'] === 'ready');
      const old = live[0]!;
      await old.stop('SIGTERM', 10_000);
      assert.equal(old.child.exitCode, 0, 'the backend drained and exited on its own');
      live = [...live.slice(1), next];
    }
    await new Promise((r) => setTimeout(r, 300));
    running = false;
    await load;
    client.close();
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${ok + failures.length} calls failed`);
    assert.ok(ok > 300, `only ${ok} calls`);
    assert.ok(['r3', 'r4', 'r5'].every((s) => servers.has(s)), `the new backends served: ${[...servers].join(',')}`);
  });
});
