// The control-plane list: validation of each entry, the shuffled order, and the weft-control-plane: target on real
// grpc-js channels (a dead replica is skipped within the call; a host name is resolved; a replica dying moves calls on).
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ERROR_CODES, isMeshError } from '../core/errors.js';
import { resolveMeshOptions } from '../mesh/options.js';
import { seededRandom } from '../testing/seeded-random.js';
import { ControlPlaneClient } from './control-plane-client.js';
import { CONTROL_PLANE_SCHEME, controlPlaneTarget, parseControlPlanes, shuffledControlPlanes } from './control-plane-target.js';
import type { ProtoObject } from './xds/protos.js';

const WHERE = 'createMesh: controlPlane';

describe('parseControlPlanes', () => {
  it('takes one URL, a comma-separated list or an array; default port 15010; IPv6 bracketed; duplicates once', () => {
    assert.deepEqual(parseControlPlanes('http://cp.internal:9000', WHERE), ['cp.internal:9000']);
    assert.deepEqual(parseControlPlanes('http://10.0.0.1:1, http://10.0.0.2:2 ,http://10.0.0.1:1', WHERE), ['10.0.0.1:1', '10.0.0.2:2']);
    assert.deepEqual(parseControlPlanes(['http://a', 'http://[::1]:7'], WHERE), ['a:15010', '[::1]:7']);
  });

  it('refuses a bad entry with WEFT_ERR_INVALID_ARG naming it and its position', () => {
    const cases: [unknown, RegExp][] = [
      [['http://a:1', 'grpc://b:2'], /controlPlane\[1\] must be http:\/\/host:port.*'grpc:\/\/b:2'/],
      ['http://a:1,', /controlPlane\[1\] is empty/],
      [['http://a:1', 'not a url'], /controlPlane\[1\] must be a URL like/],
      ['http://a:1/xds', /controlPlane must be http:\/\/host:port.*no path/],
      [[], /at least one control plane/],
      [42, /must be a URL like .* or a list of them, got 42/],
      [['http://a:1', 7], /controlPlane\[1\] must be a string like .*, got 7/],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => parseControlPlanes(value as string, WHERE),
        (e: unknown) => isMeshError(e, ERROR_CODES.INVALID_ARG) && message.test(e.message),
        JSON.stringify(value),
      );
    }
  });

  it('createMesh reads the list from the option or from WEFT_CONTROL_PLANE, and says which was wrong', () => {
    const env = { WEFT_CONTROL_PLANE: 'http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3' };
    const resolved = resolveMeshOptions({ service: 's' }, env);
    assert.deepEqual([...resolved.controlPlanes].sort(), ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3']);
    assert.equal(resolved.controlPlaneAddress, `${CONTROL_PLANE_SCHEME}:///${resolved.controlPlanes.join(',')}`);
    assert.equal(resolved.controlPlane, env.WEFT_CONTROL_PLANE);
    assert.throws(() => resolveMeshOptions({ service: 's' }, { WEFT_CONTROL_PLANE: 'http://a:1,ftp://b' }), /env WEFT_CONTROL_PLANE\[1\]/);
    const given = resolveMeshOptions({ service: 's', controlPlaneOrder: 'given' }, { WEFT_CONTROL_PLANE: 'http://c:3,http://a:1,http://b:2' });
    assert.deepEqual(given.controlPlanes, ['c:3', 'a:1', 'b:2']);
    assert.throws(() => resolveMeshOptions({ service: 's', controlPlaneOrder: 'sorted' as 'given' }, {}), /controlPlaneOrder must be 'random' or 'given'/);
    assert.throws(() => resolveMeshOptions({ service: 's', controlPlane: ['http://a:1', ''] }, {}), /createMesh: controlPlane\[1\] is empty/);
  });
});

describe('shuffledControlPlanes', () => {
  it('returns a permutation, and spreads processes: every replica comes first for some seed', () => {
    const list = ['a:1', 'b:1', 'c:1'];
    const firsts = new Map<string, number>();
    for (let seed = 1; seed <= 300; seed++) {
      const order = shuffledControlPlanes(list, seededRandom(seed));
      assert.deepEqual([...order].sort(), list);
      firsts.set(order[0]!, (firsts.get(order[0]!) ?? 0) + 1);
    }
    // 100 expected each; ±40 is far beyond what a uniform shuffle misses by over 300 draws.
    for (const name of list) assert.ok(Math.abs((firsts.get(name) ?? 0) - 100) < 40, `${name} first ${firsts.get(name)} times of 300`);
  });
});

/** A unary method echoing its bytes, as the tiny server below serves it. */
const ECHO: grpc.MethodDefinition<ProtoObject, ProtoObject> = {
  path: '/weft.test.Echo/Echo',
  requestStream: false,
  responseStream: false,
  requestSerialize: (v: ProtoObject) => Buffer.from(JSON.stringify(v)),
  requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as ProtoObject,
  responseSerialize: (v: ProtoObject) => Buffer.from(JSON.stringify(v)),
  responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as ProtoObject,
};

/** A gRPC server on `port` (0 = any) answering ECHO with its own name. */
async function echoServer(name: string, port = 0): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService({ Echo: ECHO } as grpc.ServiceDefinition, {
    Echo: (_call: grpc.ServerUnaryCall<ProtoObject, ProtoObject>, cb: grpc.sendUnaryData<ProtoObject>) => cb(null, { name }),
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { server, port: bound };
}

async function unusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('controlPlaneTarget on a real grpc-js channel', { timeout: 30_000 }, () => {
  const servers: grpc.Server[] = [];
  const clients: ControlPlaneClient[] = [];
  after(() => {
    for (const c of clients) c.close();
    for (const s of servers) s.forceShutdown();
  });
  const call = (client: ControlPlaneClient): Promise<string> =>
    new Promise((resolve, reject) => client.unary(ECHO, {}, 5_000, (err, v) => (err ? reject(err) : resolve(String(v?.['name'])))));

  it('is the address itself for one replica', () => {
    assert.equal(controlPlaneTarget(['cp:15010']), 'cp:15010');
  });

  it('skips a dead replica within the call, resolves a host name, and moves on when its replica dies', async () => {
    const dead = await unusedPort();
    const a = await echoServer('a');
    servers.push(a.server);
    const portB = await unusedPort();
    const client = new ControlPlaneClient({ server: controlPlaneTarget([`127.0.0.1:${dead}`, `localhost:${a.port}`, `127.0.0.1:${portB}`]) });
    clients.push(client);
    assert.equal(await call(client), 'a'); // the dead first entry cost no failed call
    const b = await echoServer('b', portB);
    servers.push(b.server);
    a.server.forceShutdown();
    // The call in flight when a replica dies may fail (UNAVAILABLE, the caller's retry is its business); the next goes on.
    const answers: string[] = [];
    for (let i = 0; i < 20 && !answers.includes('b'); i++) answers.push(await call(client).catch((e: unknown) => `failed: ${(e as grpc.ServiceError).code}`));
    assert.equal(answers.at(-1), 'b', answers.join(', '));
    assert.ok(answers.filter((x) => x.startsWith('failed')).length <= 1, answers.join(', '));
  });
});
