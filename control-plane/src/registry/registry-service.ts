// Serves the Registry over gRPC as weft.registry.v1.Registry (proto/weft/registry/v1/registry.proto).
import * as grpc from '@grpc/grpc-js';
import { protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import type { EndpointRegistration, Registry, RegistryError } from './registry.js';

/** grpc-js handlers of weft.registry.v1.Registry for `registry`; add them with `server.addService(definition, handlers)`. */
export function registryHandlers(registry: Registry, logger: Logger = NOOP_LOGGER): grpc.UntypedServiceImplementation {
  type Unary = grpc.handleUnaryCall<ProtoObject, ProtoObject>;
  const Register: Unary = (call, callback) => {
    const parsed = parseRegisterRequest(call.request);
    if ('error' in parsed) return callback(toServiceError(parsed.error));
    const result = registry.register(parsed.endpoint, parsed.ttlMs);
    if (!result.ok) {
      logger.warn('registry: registration refused', { peer: call.getPeer(), error: result.error.message });
      return callback(toServiceError(result.error));
    }
    callback(null, { lease_id: result.value.leaseId, ttl_ms: result.value.ttlMs });
  };
  const KeepAlive: Unary = (call, callback) => {
    const result = registry.keepAlive(stringField(call.request, 'lease_id'));
    if (!result.ok) return callback(toServiceError(result.error));
    callback(null, { lease_id: result.value.leaseId, ttl_ms: result.value.ttlMs });
  };
  const Deregister: Unary = (call, callback) => {
    registry.deregister(stringField(call.request, 'lease_id'));
    callback(null, {});
  };
  return { Register, KeepAlive, Deregister };
}

/** Adds the Registry service for `registry` to `server`. */
export function addRegistryService(server: grpc.Server, registry: Registry, logger?: Logger): void {
  server.addService(protos().registryService, registryHandlers(registry, logger));
}

function toServiceError(error: RegistryError): Partial<grpc.StatusObject> {
  return { code: error.code === 'NOT_FOUND' ? grpc.status.NOT_FOUND : grpc.status.INVALID_ARGUMENT, details: error.message };
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
