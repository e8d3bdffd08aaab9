// Test helper: a tiny scriptable grpc-js weft.registry.v1.Registry server on loopback, for registration and serve tests.
import * as grpc from '@grpc/grpc-js';
import { protos, type ProtoObject } from './xds/protos.js';

/** A scriptable Registry: records calls; `forget()` drops every lease (a control plane restart). */
export interface FakeRegistry {
  readonly address: string;
  readonly calls: { method: string; request: ProtoObject }[];
  readonly leases: Map<string, ProtoObject>;
  /** Failures to return before answering normally, per method. */
  readonly failNext: Map<string, number>;
  forget(): void;
  close(): Promise<void>;
}

/** Starts a FakeRegistry on 127.0.0.1, port 0. */
export async function startFakeRegistry(): Promise<FakeRegistry> {
  const server = new grpc.Server();
  const calls: FakeRegistry['calls'] = [];
  const leases = new Map<string, ProtoObject>();
  const failNext = new Map<string, number>();
  let next = 0;
  const failing = (method: string): boolean => {
    const n = failNext.get(method) ?? 0;
    if (n <= 0) return false;
    failNext.set(method, n - 1);
    return true;
  };
  type Unary = grpc.handleUnaryCall<ProtoObject, ProtoObject>;
  const handlers: Record<string, Unary> = {
    Register: (call, cb) => {
      calls.push({ method: 'Register', request: call.request });
      if (failing('Register')) return cb({ code: grpc.status.UNAVAILABLE, details: 'scripted' });
      const id = `lease-${++next}`;
      leases.set(id, call.request);
      cb(null, { lease_id: id, ttl_ms: call.request['ttl_ms'] });
    },
    KeepAlive: (call, cb) => {
      calls.push({ method: 'KeepAlive', request: call.request });
      if (failing('KeepAlive')) return cb({ code: grpc.status.UNAVAILABLE, details: 'scripted' });
      const id = String(call.request['lease_id']);
      const lease = leases.get(id);
      if (!lease) return cb({ code: grpc.status.NOT_FOUND, details: `lease '${id}' not found` });
      cb(null, { lease_id: id, ttl_ms: lease['ttl_ms'] });
    },
    Deregister: (call, cb) => {
      calls.push({ method: 'Deregister', request: call.request });
      leases.delete(String(call.request['lease_id']));
      cb(null, {});
    },
  };
  server.addService(protos().registryService, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    calls,
    leases,
    failNext,
    forget: () => leases.clear(),
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
