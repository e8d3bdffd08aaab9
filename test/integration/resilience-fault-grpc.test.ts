// Interop: an unmodified @grpc/grpc-js-xds client obeys a Weft FaultInjection (gRFC A33 client-side fault injection):
// a GRPCRoute rule with a 100 % grpcStatus abort fails every RPC with that status, and the server sees none of them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RegistryClient } from '../../src/experimental.js';
import { ROOT, serviceYaml, startTestControlPlane, type TestControlPlane } from './helpers.js';

const ROUTE = (fault: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: fault-rpc
spec:
  parentRefs:
    - kind: Service
      name: fault-rpc
  rules:
    - matches:
        - method:
            service: weft.test.Echo
      backendRefs:
        - name: fault-rpc
          port: 50051
${fault ? `      filters:\n        - type: ExtensionRef\n          extensionRef: { group: weft.dev, kind: FaultInjection, name: ${fault} }\n` : ''}`;

const FAULT = `apiVersion: weft.dev/v1alpha1
kind: FaultInjection
metadata:
  name: rpc-unavailable
spec:
  abort: { grpcStatus: 14, percentage: 100 }
`;

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as unknown,
};

interface ClientResult {
  counts: Record<string, number>;
  failures: number;
  lastError: string;
}

/** Runs the unmodified grpc-js-xds client fixture in its own process against `xds:///fault-rpc`. */
function runXdsClient(xdsAddress: string, calls: number): Promise<ClientResult> {
  const bootstrap = {
    xds_servers: [{ server_uri: xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: `fault-interop-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, cluster: 'fault-interop', locality: {} },
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'test/integration/fixtures/grpc-xds-client.mjs')], {
      cwd: ROOT,
      env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap), TARGET: 'xds:///fault-rpc', CALLS: String(calls) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as ClientResult);
      } catch {
        reject(new Error(`grpc-xds client exited ${code}; stdout: ${out}; stderr: ${err}`));
      }
    });
  });
}

describe('grpc-js-xds obeys Weft fault injection (gRFC A33)', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let server: grpc.Server;
  let registry: RegistryClient;
  let served = 0;

  before(async () => {
    tcp = await startTestControlPlane({
      'services.yaml': serviceYaml('fault-rpc', 'GRPC', 50051),
      'fault.yaml': FAULT,
      'route.yaml': ROUTE('rpc-unavailable'),
    });
    server = new grpc.Server();
    server.addService(
      {
        Say: {
          path: '/weft.test.Echo/Say',
          requestStream: false,
          responseStream: false,
          requestSerialize: json.serialize,
          requestDeserialize: json.deserialize,
          responseSerialize: json.serialize,
          responseDeserialize: json.deserialize,
        },
      },
      {
        Say: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
          served++;
          cb(null, { server: 'fault-rpc' });
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    registry = new RegistryClient({ server: tcp.cp.xdsAddress });
    const registration = registry.register({ service: 'fault-rpc', address: '127.0.0.1', port, nodeId: 'fault-rpc-server' });
    assert.equal(await registration.registered(), true);
  });

  after(async () => {
    await registry?.close();
    server?.forceShutdown();
    await tcp?.close();
  });

  it('fails every RPC with UNAVAILABLE from the fault, never reaching the server', async () => {
    const result = await runXdsClient(tcp.cp.xdsAddress, 20);
    assert.equal(result.failures, 20, JSON.stringify(result));
    assert.match(result.lastError, /^14 UNAVAILABLE: Fault injected/);
    assert.equal(served, 0);
  });

  it('calls go through once the filter is removed from the rule', async () => {
    const res = await tcp.apply(ROUTE(''));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const result = await runXdsClient(tcp.cp.xdsAddress, 10);
    assert.deepEqual(result, { counts: { 'fault-rpc': 10 }, failures: 0, lastError: '' });
    assert.equal(served, 10);
  });
});
