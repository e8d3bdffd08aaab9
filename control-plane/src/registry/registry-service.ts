// Serves the Registry over gRPC as weft.registry.v1.Registry (proto/weft/registry/v1/registry.proto).
import * as grpc from '@grpc/grpc-js';
import { protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import type { XdsAuthResult } from '../auth/xds-auth.js';
import type { EndpointRegistration, LeaseService, RegistryError } from './registry.js';

/** How registry calls are authenticated and what an authenticated caller may touch (docs/security-design.md). */
export interface RegistryAuth {
  /** Who is calling (xds-auth.ts); a refusal ends the call UNAUTHENTICATED. */
  authenticate(metadata: grpc.Metadata, peer: string, what: string): Promise<XdsAuthResult>;
  /** The namespace configured for `service` (metadata.namespace), when the Service is configured. */
  namespaceOf?(service: string): string | undefined;
}

/**
 * grpc-js handlers of weft.registry.v1.Registry for `registry` (the in-process Registry, or etcd leases: any LeaseService); add them with `server.addService(definition, handlers)`.
 * With `auth`, each call is authenticated first, and an authenticated caller may register, keep alive and deregister
 * only endpoints of its own service (its SPIFFE ID's `sa`, and `ns` when the Service names a namespace): anything else
 * is PERMISSION_DENIED and logged. Anonymous loopback callers (allowed by `--xds-auth loopback-plaintext`) may do all.
 */
export function registryHandlers(registry: LeaseService, logger: Logger = NOOP_LOGGER, auth?: RegistryAuth): grpc.UntypedServiceImplementation {
  type Unary = grpc.handleUnaryCall<ProtoObject, ProtoObject>;
  /** Runs `body` once the caller is allowed; `service` names what the call touches (undefined = unknown lease). */
  const guarded = (what: string, body: (call: grpc.ServerUnaryCall<ProtoObject, ProtoObject>, callback: grpc.sendUnaryData<ProtoObject>, allowed: (service: string) => boolean) => void): Unary =>
    (call, callback) => {
      if (auth === undefined) return body(call, callback, () => true);
      auth.authenticate(call.metadata, call.getPeer(), `registry ${what}`).then(
        (result) => {
          if (!result.ok) return callback({ code: grpc.status.UNAUTHENTICATED, details: result.error });
          const caller = result.caller;
          body(call, callback, (service) => {
            if (!caller.authenticated) return true;
            const ns = auth.namespaceOf?.(service);
            if (caller.id.service === service && (ns === undefined || ns === caller.id.namespace)) return true;
            logger.warn('registry: caller may not touch another service', { peer: caller.peer, identity: caller.spiffeId, call: what, service });
            callback({ code: grpc.status.PERMISSION_DENIED, details: `${caller.spiffeId} may register only endpoints of its own service, not of '${service}'${ns !== undefined && caller.id.service === service ? ` in namespace ${ns}` : ''}` });
            return false;
          });
        },
        (e: unknown) => callback({ code: grpc.status.INTERNAL, details: `authentication failed: ${String(e)}` }),
      );
    };
  const Register = guarded('Register', (call, callback, allowed) => {
    const parsed = parseRegisterRequest(call.request);
    if ('error' in parsed) return callback(toServiceError(parsed.error));
    if (!allowed(parsed.endpoint.service)) return;
    settle(registry.register(parsed.endpoint, parsed.ttlMs), callback, (result) => {
      if (!result.ok) {
        logger.warn('registry: registration refused', { peer: call.getPeer(), error: result.error.message });
        return callback(toServiceError(result.error));
      }
      callback(null, { lease_id: result.value.leaseId, ttl_ms: result.value.ttlMs });
    });
  });
  const KeepAlive = guarded('KeepAlive', (call, callback, allowed) => {
    const leaseId = stringField(call.request, 'lease_id');
    const leased = registry.get(leaseId);
    if (leased !== undefined && !allowed(leased.service)) return;
    settle(registry.keepAlive(leaseId), callback, (result) => {
      if (!result.ok) return callback(toServiceError(result.error));
      callback(null, { lease_id: result.value.leaseId, ttl_ms: result.value.ttlMs });
    });
  });
  const Deregister = guarded('Deregister', (call, callback, allowed) => {
    const leaseId = stringField(call.request, 'lease_id');
    const leased = registry.get(leaseId);
    if (leased !== undefined && !allowed(leased.service)) return;
    settle(registry.deregister(leaseId), callback, () => callback(null, {}));
  });
  return { Register, KeepAlive, Deregister };
}

/** Adds the Registry service for `registry` to `server` (authenticated with `auth` when given). */
export function addRegistryService(server: grpc.Server, registry: LeaseService, logger?: Logger, auth?: RegistryAuth): void {
  server.addService(protos().registryService, registryHandlers(registry, logger, auth));
}

/**
 * Calls `then` with `value` at once when it is plain (the in-process Registry answers synchronously), or once it
 * settles; a rejection (a LeaseService that broke its never-throw contract) ends the call UNAVAILABLE, never unanswered.
 */
function settle<T>(value: T | Promise<T>, callback: grpc.sendUnaryData<ProtoObject>, then: (value: T) => void): void {
  if (!(value instanceof Promise)) return then(value);
  value.then(then, (e: unknown) => callback({ code: grpc.status.UNAVAILABLE, details: `registry unavailable: ${e instanceof Error ? e.message : String(e)}` }));
}

function toServiceError(error: RegistryError): Partial<grpc.StatusObject> {
  return { code: grpc.status[error.code], details: error.message };
}

function stringField(o: ProtoObject | null | undefined, field: string): string {
  const v = o?.[field];
  return typeof v === 'string' ? v : '';
}

function numberField(o: ProtoObject | null | undefined, field: string): number {
  const v = o?.[field];
  return typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : 0;
}

/** Turns a decoded RegisterRequest into a registration, or says which field is missing. */
function parseRegisterRequest(request: ProtoObject): { endpoint: EndpointRegistration; ttlMs: number } | { error: RegistryError } {
  const e = request['endpoint'];
  if (typeof e !== 'object' || e === null) {
    return { error: { code: 'INVALID_ARGUMENT', field: 'endpoint', message: 'endpoint: required' } };
  }
  const ep = e as ProtoObject;
  const loc = (typeof ep['locality'] === 'object' && ep['locality'] !== null ? ep['locality'] : {}) as ProtoObject;
  const labelsIn = ep['labels'];
  const labels: Record<string, string> = {};
  if (typeof labelsIn === 'object' && labelsIn !== null) {
    for (const [k, v] of Object.entries(labelsIn)) if (typeof v === 'string') labels[k] = v;
  }
  return {
    endpoint: {
      service: stringField(ep, 'service'),
      address: stringField(ep, 'address'),
      port: numberField(ep, 'port'),
      portName: stringField(ep, 'port_name'),
      nodeId: stringField(ep, 'node_id'),
      locality: { region: stringField(loc, 'region'), zone: stringField(loc, 'zone'), subZone: stringField(loc, 'sub_zone') },
      weight: numberField(ep, 'weight'),
      labels,
    },
    ttlMs: numberField(request, 'ttl_ms'),
  };
}
