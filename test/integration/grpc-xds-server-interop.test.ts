// Interop (gRFC A36): an unmodified @grpc/grpc-js-xds XdsServer, bootstrapped to the Weft control plane, binds only
// once it is served its server Listener, then answers plain grpc-js clients, and keeps serving across LDS pushes
// for the client Listener it also subscribes to (State of the World). Real processes, loopback.
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../src/core/logger.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { SERVER_LISTENER_NAME_PREFIX } from '../../control-plane/src/index.js';
import { spawnFixture, startTestControlPlane, waitFor, type TestControlPlane, type TestProcess } from './helpers.js';
import { EchoClient, say } from '../../src/testing/index.js';

const FIXTURE = 'test/integration/fixtures/grpc-xds-server.mjs';
const TEMPLATE = `${SERVER_LISTENER_NAME_PREFIX}%s`;
const BIND_WAIT_MS = 15_000;

/** A never-matching fault on echo: it only changes echo's client Listener (the fault filter joins its HCM). */
const FAULT_YAML = `apiVersion: weft.dev/v1alpha1
kind: FaultInjection
metadata: { name: echo-never }
spec:
  abort: { grpcStatus: 14 }
  headers: [{ name: x-never, value: "on" }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo-rpc }
spec:
  parentRefs: [{ kind: Service, name: echo }]
  rules:
  - backendRefs: [{ name: echo, port: 50051 }]
    filters:
    - type: ExtensionRef
      extensionRef: { group: weft.dev, kind: FaultInjection, name: echo-never }
`;


interface TypeView {
  typeUrl: string;
  subscribed: string[];
  sentVersion: string;
  ackedVersion: string;
  nack?: { message: string };
}
interface DumpResource {
  name: string;
  resource: Record<string, unknown>;
}

/** A port free on 127.0.0.1 right now (the XdsServer binds it itself; it needs a concrete, non-zero port). */
async function freeLoopbackPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** One call with a fresh plain grpc-js channel (so a fresh TCP connection meets the server's current config). */
async function callDirect(port: number): Promise<unknown> {
  const client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    return await say(client, {}, { deadlineMs: 5_000 });
  } finally {
    client.close();
  }
}

/** True if something accepts TCP connections on 127.0.0.1:`port` (bounded by `timeoutMs`). */
async function accepts(port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true)).once('error', () => done(false));
  });
}

describe('grpc-js-xds XdsServer interop (gRFC A36)', { timeout: 120_000 }, () => {
  const warnings: Record<string, unknown>[] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (message, fields) => warnings.push({ message, ...fields }), error() {} };
  const nodeId = `xds-server-${process.pid}`;
  const processes: TestProcess[] = [];
  let tcp: TestControlPlane;
  let port = 0;
  let serverName = '';

  const bootstrap = (id: string, template: string) =>
    JSON.stringify({
      xds_servers: [{ server_uri: tcp.cp.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id, cluster: 'echo', locality: {} },
      server_listener_resource_name_template: template,
    });
  const admin = async <T>(path: string): Promise<T> => {
    const res = await tcp.admin('GET', path);
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return res.body as unknown as T;
  };
  const typesOf = async (id: string) =>
    (await admin<{ clients: { nodeId: string; types: TypeView[] }[] }>('/v1/status')).clients.find((c) => c.nodeId === id)?.types ?? [];
  const ldsSent = async (id: string) => {
    const dump = await admin<{ clients: { types: (TypeView & { resources: DumpResource[] })[] }[] }>(`/v1/config-dump/${encodeURIComponent(id)}`);
    return dump.clients[0]?.types.find((t) => t.typeUrl === TYPE_URL.listener)?.resources ?? [];
  };

  before(async () => {
    port = await freeLoopbackPort();
    serverName = `${SERVER_LISTENER_NAME_PREFIX}127.0.0.1:${port}`;
    // Service echo's endpoint is the XdsServer itself, so its own grpc-js-xds client can call through the mesh.
    tcp = await startTestControlPlane(
      {
        'services.yaml': `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: echo }
spec:
  ports: [{ name: grpc, port: 50051, protocol: GRPC }]
  endpoints: [{ address: 127.0.0.1, port: ${port} }]
`,
      },
      { logger },
    );
  });

  after(async () => {
    for (const p of processes) await p.stop();
    await tcp?.close();
  });

  it('binds an unmodified XdsServer once its Listener is served, and plain grpc-js clients get answers from it', async () => {
    const proc = spawnFixture(FIXTURE, {
      GRPC_XDS_BOOTSTRAP_CONFIG: bootstrap(nodeId, TEMPLATE),
      ADDRESS: `127.0.0.1:${port}`,
      NAME: 'xds-server',
      CLIENT_TARGET: 'xds:///echo',
    });
    processes.push(proc);
    const bound = await proc.waitForLine<{ port: number }>((l) => l['event'] === 'bound', BIND_WAIT_MS);
    assert.equal(bound.port, port);
    for (let i = 0; i < 3; i++) assert.deepEqual(await callDirect(port), { server: 'xds-server' });
  });

  it('served the node one LDS response with its server Listener (bound address) and the client Listener it calls, ACKed', async () => {
    const proc = processes[0]!;
    const call = await proc.waitForLine<{ ok: boolean; error?: string; reply?: unknown }>((l) => l['event'] === 'client-call', 15_000);
    assert.ok(call.ok, call.error);
    assert.deepEqual(call.reply, { server: 'xds-server' }, 'xds:///echo reached the XdsServer through the mesh');
    // waitFor returns only a truthy value.
    const lds = (await waitFor(
      async () => {
        const t = (await typesOf(nodeId)).find((x) => x.typeUrl === TYPE_URL.listener);
        return t && t.subscribed.length === 2 && t.ackedVersion !== '' && t.ackedVersion === t.sentVersion ? t : undefined;
      },
      'the node to ACK LDS with both names subscribed',
      10_000,
    ))!;
    assert.deepEqual([...lds.subscribed].sort(), ['echo', serverName].sort());
    for (const t of await typesOf(nodeId)) assert.equal(t.nack, undefined, `NACK of ${t.typeUrl}: ${t.nack?.message}`);
    const sent = await ldsSent(nodeId);
    assert.deepEqual(sent.map((r) => r.name).sort(), ['echo', serverName].sort());
    const listener = sent.find((r) => r.name === serverName)!.resource;
    assert.deepEqual(listener['address'], { socket_address: { address: '127.0.0.1', port_value: port } });
  });

  it('keeps serving after an LDS push for the client Listener: the push still carries the server Listener', async () => {
    const proc = processes[0]!;
    const before = (await typesOf(nodeId)).find((t) => t.typeUrl === TYPE_URL.listener)!;
    const applied = await tcp.apply(FAULT_YAML);
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    await waitFor(
      async () => {
        const t = (await typesOf(nodeId)).find((x) => x.typeUrl === TYPE_URL.listener);
        return t && t.sentVersion !== before.sentVersion && t.ackedVersion === t.sentVersion;
      },
      'the node to ACK the LDS push',
      10_000,
    );
    for (const t of await typesOf(nodeId)) assert.equal(t.nack, undefined, `NACK of ${t.typeUrl}: ${t.nack?.message}`);
    const sent = await ldsSent(nodeId);
    assert.deepEqual(sent.map((r) => r.name).sort(), ['echo', serverName].sort());
    const echoFilters = ((sent.find((r) => r.name === 'echo')!.resource['api_listener'] as Record<string, Record<string, unknown>>)['api_listener']!['http_filters']) as { name: string }[];
    assert.deepEqual(echoFilters.map((f) => f.name), ['envoy.filters.http.fault', 'envoy.filters.http.router'], 'the push changed echo');
    // Had the push left the server Listener out, grpc-js-xds would read it as deleted and drop new connections.
    for (let i = 0; i < 3; i++) assert.deepEqual(await callDirect(port), { server: 'xds-server' });
    const stops = proc.lines.filter((l) => (l as Record<string, unknown>)['event'] === 'serving' && (l as Record<string, unknown>)['code'] !== grpc.status.OK);
    const boundAt = proc.lines.findIndex((l) => (l as Record<string, unknown>)['event'] === 'bound');
    assert.deepEqual(stops.filter((l) => proc.lines.indexOf(l) > boundAt), [], 'serving never stopped after binding');
  });

  it('never binds an XdsServer whose listener name is not IP:port: no Listener is sent, the control plane warns', async () => {
    const badPort = await freeLoopbackPort();
    const badNode = `${nodeId}-malformed`;
    const badTemplate = `${TEMPLATE}&x=1`; // a template with a stray query parameter: the name's port is not a port
    const badName = `${SERVER_LISTENER_NAME_PREFIX}127.0.0.1:${badPort}&x=1`;
    const proc = spawnFixture(FIXTURE, { GRPC_XDS_BOOTSTRAP_CONFIG: bootstrap(badNode, badTemplate), ADDRESS: `127.0.0.1:${badPort}`, NAME: 'bad' });
    processes.push(proc);
    // The node subscribes and ACKs an LDS response without its Listener (for grpc-js-xds: "does not exist").
    await waitFor(
      async () => {
        const t = (await typesOf(badNode)).find((x) => x.typeUrl === TYPE_URL.listener);
        return t && t.subscribed.includes(badName) && t.ackedVersion !== '' && t.ackedVersion === t.sentVersion;
      },
      'the malformed node to ACK an LDS response',
      15_000,
    );
    assert.deepEqual(await ldsSent(badNode), []);
    const warning = warnings.find((w) => w['name'] === badName);
    assert.ok(warning, `no warning names ${badName}: ${JSON.stringify(warnings)}`);
    assert.match(String(warning['error']), /is not 1\.\.65535/);
    // grpc-js-xds has processed the response (it ACKed); a served Listener would have it listening within ms.
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(proc.lines.some((l) => (l as Record<string, unknown>)['event'] === 'bound'), false, 'bindAsync must not call back');
    assert.equal(await accepts(badPort), false, 'nothing listens on the unbound port');
    assert.deepEqual(await callDirect(port), { server: 'xds-server' }, 'the control plane and the good server carry on');
  });
});
