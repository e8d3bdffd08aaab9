// Property-based tests of the control plane's side of the wire, against a real control plane on loopback: garbage
// bytes and messages built from arbitrary field values on every gRPC method (ADS, Registry, Identity, Telemetry) get a
// clear status or succeed; the server never crashes, stays responsive, and refused input changes nothing it serves.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import type protobuf from 'protobufjs';
import { protos, TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { fuzzParams, oddValue } from '../../../test/fuzz/kit.js';
import { renderDocuments, seedConfigurations } from '../../../test/fuzz/config-corpus.js';
import { startControlPlane, type ControlPlane } from '../control-plane.js';
import { AdsTestClient } from './ads-test-client.js';

/** Per call: generous, for a loaded machine; a call that takes longer means the server hung. */
const CALL_TIMEOUT_MS = 20_000;

/** A unary or streaming method of the control plane's gRPC server, with its request message type. */
interface Method {
  readonly path: string;
  readonly requestType: string;
  readonly stream: boolean;
}

const METHODS: readonly Method[] = [
  { path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', requestType: 'envoy.service.discovery.v3.DiscoveryRequest', stream: true },
  { path: '/weft.registry.v1.Registry/Register', requestType: 'weft.registry.v1.RegisterRequest', stream: false },
  { path: '/weft.registry.v1.Registry/KeepAlive', requestType: 'weft.registry.v1.KeepAliveRequest', stream: false },
  { path: '/weft.registry.v1.Registry/Deregister', requestType: 'weft.registry.v1.DeregisterRequest', stream: false },
  { path: '/weft.identity.v1.Identity/Sign', requestType: 'weft.identity.v1.SignRequest', stream: false },
  { path: '/weft.telemetry.v1.Telemetry/Report', requestType: 'weft.telemetry.v1.ReportRequest', stream: false },
];

/** Field values for one message type: every field optional, odd values of its own type (nested up to `depth`). */
function messageArb(type: protobuf.Type, depth: number): fc.Arbitrary<ProtoObject> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of type.fieldsArray) {
    field.resolve();
    const one = fieldArb(field, depth);
    if (one === undefined) continue;
    fields[field.name] = field.repeated ? fc.array(one, { maxLength: 3 }) : one;
  }
  return fc.record(fields, { requiredKeys: [] }) as fc.Arbitrary<ProtoObject>;
}

function fieldArb(field: protobuf.Field, depth: number): fc.Arbitrary<unknown> | undefined {
  const resolved = field.resolvedType;
  if (resolved !== null && 'fieldsArray' in resolved) {
    if (resolved.fullName === '.google.protobuf.Any' || resolved.fullName === '.google.protobuf.Struct') return undefined;
    return depth > 0 ? messageArb(resolved, depth - 1) : undefined;
  }
  if (resolved !== null) return fc.constantFrom(...Object.keys((resolved as protobuf.Enum).values));
  switch (field.type) {
    case 'string':
      return fc.oneof(fc.constantFrom('', 'payments', TYPE_URL.listener, TYPE_URL.cluster, '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', 'a'.repeat(5000), '\u0000', '10.0.0.1', '::'), fc.string({ maxLength: 16 }));
    case 'bool':
      return fc.boolean();
    case 'bytes':
      return fc.uint8Array({ maxLength: 64 });
    case 'double':
    case 'float':
      return fc.oneof(fc.double(), fc.constantFrom(0, -1, 1e308, Number.NaN, Number.POSITIVE_INFINITY));
    default:
      return fc.oneof(fc.constantFrom(0, 1, -1, 65535, 65536, 2 ** 31 - 1, 2 ** 32 - 1), fc.integer());
  }
}

/** One input: garbage bytes, or a message built from arbitrary field values, for one method. */
const input = fc.constantFrom(...METHODS).chain((method) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ method, bytes })),
    messageArb(protos().root.lookupType(method.requestType), 2).map((message) => {
      const type = protos().root.lookupType(method.requestType);
      let bytes: Uint8Array;
      try {
        bytes = type.encode(type.fromObject(message)).finish();
      } catch {
        bytes = new Uint8Array(); // a value protobufjs cannot encode: send the empty message instead
      }
      return { method, bytes };
    }),
  ),
);

describe('control plane wire (fuzz)', { timeout: 300_000 }, () => {
  let dir: string;
  let cp: ControlPlane;
  let raw: grpc.Client;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-fuzz-wire-'));
    await writeFile(path.join(dir, 'seed.yaml'), renderDocuments(seedConfigurations()[1]!));
    cp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, stateDir: false });
    raw = new grpc.Client(cp.xdsAddress, grpc.credentials.createInsecure());
  });
  after(async () => {
    raw.close();
    await cp.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** What refused input must not change: the config, the registered endpoints and the CA's trust. */
  function snapshot(): string {
    return JSON.stringify({ generation: cp.store.current().generation, endpoints: cp.registry.endpoints(), ca: cp.ca.status() });
  }

  /** Sends `bytes` on `method` as is (the client does no encoding) and resolves with the final status. */
  function send(method: Method, bytes: Uint8Array): Promise<grpc.StatusObject | { code: grpc.status.OK }> {
    const identity = (b: Buffer): Buffer => b;
    const deadline = Date.now() + CALL_TIMEOUT_MS;
    if (!method.stream) {
      return new Promise((resolve) => {
        raw.makeUnaryRequest(method.path, identity, identity, Buffer.from(bytes), new grpc.Metadata(), { deadline }, (err) =>
          resolve(err ?? { code: grpc.status.OK }),
        );
      });
    }
    return new Promise((resolve) => {
      const call = raw.makeBidiStreamRequest(method.path, identity, identity, new grpc.Metadata(), { deadline });
      call.on('data', () => call.end()); // an answer: the stream took the request; close our side
      call.on('status', (s: grpc.StatusObject) => resolve(s));
      call.on('error', () => {}); // the status event carries it
      call.write(Buffer.from(bytes));
      // A request the server ignores gets no answer: half-close so the stream ends either way.
      setTimeout(() => call.end(), 200).unref();
    });
  }

  /** A new ADS stream still gets its Listener: the server is alive and serving. */
  async function assertResponsive(): Promise<void> {
    const client = new AdsTestClient(cp.xdsAddress);
    try {
      client.send({ typeUrl: TYPE_URL.listener, names: ['payments'], node: { id: 'fuzz-probe', cluster: 'fuzz' } });
      const response = await client.next(CALL_TIMEOUT_MS);
      assert.equal(response.type_url, TYPE_URL.listener);
    } finally {
      client.close();
    }
  }

  it('every method answers garbage and arbitrary messages with a status, stays up, and refusals change nothing', async () => {
    await assertResponsive();
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(input, async ({ method, bytes }) => {
        const before = snapshot();
        const status = await send(method, bytes);
        seen.add(status.code);
        assert.notEqual(status.code, grpc.status.DEADLINE_EXCEEDED, `${method.path} hung on ${Buffer.from(bytes).toString('hex')}`);
        if (status.code !== grpc.status.OK) {
          const details = 'details' in status ? status.details : '';
          assert.ok(details.trim() !== '', `${method.path}: status ${status.code} without a message`);
          if (!method.path.endsWith('/Deregister')) assert.equal(snapshot(), before, `${method.path}: a refused call changed the control plane`);
        }
        await assertResponsive();
      }),
      fuzzParams(30),
    );
    assert.ok([...seen].some((c) => c !== grpc.status.OK), 'some inputs were refused (the property checked something)');
  });

  it('arbitrary DiscoveryRequest fields on one stream: answered or ignored, the stream and server stay usable', async () => {
    const request = fc.record({
      typeUrl: fc.oneof(fc.constantFrom(TYPE_URL.listener, TYPE_URL.cluster, TYPE_URL.routeConfiguration, TYPE_URL.clusterLoadAssignment, TYPE_URL.secret), fc.string({ maxLength: 20 })),
      names: fc.array(fc.oneof(fc.constantFrom('payments', 'payments:8080', '*', ''), fc.string({ maxLength: 12 })), { maxLength: 4 }),
      version: fc.oneof(fc.constant(''), fc.string({ maxLength: 8 })),
      nonce: fc.oneof(fc.constant(''), fc.string({ maxLength: 8 })),
      errorMessage: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 5 }), oddValue, async (requests, odd) => {
        const client = new AdsTestClient(cp.xdsAddress);
        try {
          const node = { id: `fuzz-${typeof odd === 'string' ? odd.slice(0, 40) : 'node'}`, cluster: 'fuzz' };
          requests.forEach((r, i) => client.send({ ...r, ...(i === 0 && { node }) }));
        } finally {
          client.close();
        }
        await assertResponsive();
      }),
      fuzzParams(20),
    );
  });
});
