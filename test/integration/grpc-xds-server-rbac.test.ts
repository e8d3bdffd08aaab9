// Interop (gRFC A36 + A41): an unmodified @grpc/grpc-js-xds XdsServer with GRPC_XDS_EXPERIMENTAL_RBAC=true gets its
// service's inbound Listener (RBAC, plus jwt_authn and local_ratelimit it skips as optional), ACKs it, and obeys a DENY
// policy: PERMISSION_DENIED for the denied method, answers again once the policy is deleted. Real processes, loopback.
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { SERVER_LISTENER_NAME_PREFIX } from '../../control-plane/src/index.js';
import { EchoClient, say } from '../../src/testing/index.js';
import { spawnFixture, startTestControlPlane, waitFor, type TestControlPlane, type TestProcess } from './helpers.js';

const POLICY = `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: deny-say }
spec:
  targetRef: { kind: Service, name: echo }
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/weft.test.Echo/Say"] } }] }]
---
apiVersion: weft.dev/v1alpha1
kind: RequestAuthentication
metadata: { name: echo-jwt }
spec:
  targetRef: { kind: Service, name: echo }
  jwtRules: [{ issuer: "https://issuer.test", jwksUri: "https://issuer.test/jwks" }]
---
apiVersion: weft.dev/v1alpha1
kind: LocalRateLimit
metadata: { name: echo-limit }
spec:
  targetRef: { kind: Service, name: echo }
  tokenBucket: { maxTokens: 1000, fillInterval: 1s }
  routes: [{ match: { path: { type: Exact, value: /weft.test.Echo/Say } }, tokenBucket: { maxTokens: 100, fillInterval: 1s } }]
`;

async function freeLoopbackPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** One call on a fresh channel (a fresh connection meets the server's current Listener). */
async function callOnce(port: number): Promise<{ ok: boolean; code?: number; details?: string }> {
  const client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    await say(client, {}, { deadlineMs: 5_000 });
    return { ok: true };
  } catch (e: unknown) {
    const err = e as grpc.ServiceError;
    return { ok: false, code: err.code, details: err.details };
  } finally {
    client.close();
  }
}

describe('grpc-js-xds XdsServer with RBAC enabled (gRFC A41)', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let proc: TestProcess;
  let port = 0;
  const nodeId = `xds-rbac-${process.pid}`;

  const ldsOf = async () => {
    const body = (await tcp.admin('GET', '/v1/status')).body as unknown as { clients: { nodeId: string; types: { typeUrl: string; sentVersion: string; ackedVersion: string; nack?: { message: string } }[] }[] };
    return body.clients.find((c) => c.nodeId === nodeId)?.types.find((t) => t.typeUrl === TYPE_URL.listener);
  };

  before(async () => {
    port = await freeLoopbackPort();
    tcp = await startTestControlPlane({
      'services.yaml': `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: echo }\nspec:\n  ports: [{ name: grpc, port: 50051, protocol: GRPC }]\n`,
    });
    const bootstrap = JSON.stringify({
      xds_servers: [{ server_uri: tcp.cp.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: nodeId, cluster: 'echo', locality: {} },
      server_listener_resource_name_template: `${SERVER_LISTENER_NAME_PREFIX}%s`,
    });
    proc = spawnFixture('test/integration/fixtures/grpc-xds-server.mjs', {
      GRPC_XDS_BOOTSTRAP_CONFIG: bootstrap,
      GRPC_XDS_EXPERIMENTAL_RBAC: 'true',
      ADDRESS: `127.0.0.1:${port}`,
      NAME: 'xds-rbac',
    });
    await proc.waitForLine((l) => l['event'] === 'bound', 15_000);
  });

  after(async () => {
    await proc?.stop();
    await tcp?.close();
  });

  it('binds, ACKs the inbound Listener with RBAC, jwt_authn and local_ratelimit, and refuses the denied method', async () => {
    assert.deepEqual(await callOnce(port), { ok: true });
    const before = (await ldsOf())!;
    const applied = await tcp.apply(POLICY);
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    await waitFor(async () => {
      const t = await ldsOf();
      return t !== undefined && t.sentVersion !== before.sentVersion && t.ackedVersion === t.sentVersion;
    }, 'the XdsServer to ACK the policy Listener', 10_000);
    assert.equal((await ldsOf())?.nack, undefined, 'not NACKed');
    const denied = (await waitFor(async () => {
      const r = await callOnce(port);
      return r.ok ? undefined : r;
    }, 'the DENY to take effect', 10_000))!;
    assert.equal(denied.code, grpc.status.PERMISSION_DENIED, JSON.stringify(denied));
  });

  it('answers again once the DENY policy is deleted (the rest still ACKed)', async () => {
    const res = await tcp.admin('DELETE', '/v1/resources/AuthorizationPolicy/deny-say');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitFor(async () => (await callOnce(port)).ok, 'calls to succeed again', 10_000);
    assert.equal((await ldsOf())?.nack, undefined);
    const stops = proc.lines.filter((l) => (l as Record<string, unknown>)['event'] === 'serving' && (l as Record<string, unknown>)['code'] !== grpc.status.OK);
    assert.deepEqual(stops, [], 'the server never stopped serving across Listener updates');
  });
});
