// The ADS stream's wire details: method path, request/response codecs, and the xDS Node this process announces.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { protos, type AnyMessage, type ProtoObject } from './protos.js';

/** gRPC path of the State-of-the-World ADS method. */
export const ADS_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

/** gRPC path of the incremental (delta) ADS method. */
export const DELTA_ADS_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

/** One Resource of a DeltaDiscoveryResponse, its payload left as Any; `resource` is undefined when the server sent none. */
export interface RawDeltaResource {
  name: string;
  version: string;
  resource: AnyMessage | undefined;
}

/** A DeltaDiscoveryResponse with its resources left as Any (decoded one by one, like RawResponse). */
export interface RawDeltaResponse {
  system_version_info: string;
  type_url: string;
  nonce: string;
  resources: RawDeltaResource[];
  removed_resources: string[];
}

/** A DiscoveryResponse with its resources left as Any (decoded one by one, so one bad resource cannot break the stream). */
export interface RawResponse {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: AnyMessage[];
}

/** The node fields XdsClientOptions takes. */
export interface NodeOptions {
  id: string;
  cluster: string;
  metadata?: Record<string, string>;
  locality?: { region?: string; zone?: string; subZone?: string };
}

/** Builds the envoy.config.core.v3.Node proto object sent in the first request of every stream. */
export function nodeProto(node: NodeOptions): ProtoObject {
  const { id, cluster, metadata = {}, locality = {} } = node;
  return {
    id,
    cluster,
    // protobufjs bundles google.protobuf.Struct with camelCase field names.
    metadata: { fields: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, { stringValue: v }])) },
    locality: { region: locality.region ?? '', zone: locality.zone ?? '', sub_zone: locality.subZone ?? '' },
    user_agent_name: 'weft',
    user_agent_version: weftVersion(),
    client_features: ['envoy.lb.does_not_support_overprovisioning'],
  };
}

/** Encodes a DiscoveryRequest (proto field names). Throws only on a malformed object (a bug here). */
export function serializeRequest(request: ProtoObject): Buffer {
  return Buffer.from(protos().encode('envoy.service.discovery.v3.DiscoveryRequest', request));
}

/** Encodes a DeltaDiscoveryRequest (proto field names). Throws only on a malformed object (a bug here). */
export function serializeDeltaRequest(request: ProtoObject): Buffer {
  return Buffer.from(protos().encode('envoy.service.discovery.v3.DeltaDiscoveryRequest', request));
}

/** Decodes a DiscoveryResponse without expanding its resources (a malformed response ends the stream; grpc-js reports it). */
export function deserializeResponse(bytes: Buffer): RawResponse {
  const o = rawDecode('envoy.service.discovery.v3.DiscoveryResponse', bytes);
  return {
    version_info: String(o['version_info'] ?? ''),
    type_url: String(o['type_url'] ?? ''),
    nonce: String(o['nonce'] ?? ''),
    resources: (Array.isArray(o['resources']) ? (o['resources'] as unknown[]) : []).map(rawAny),
  };
}

/** Decodes a DeltaDiscoveryResponse without expanding its resources (malformed bytes end the stream, as for SotW). */
export function deserializeDeltaResponse(bytes: Buffer): RawDeltaResponse {
  const o = rawDecode('envoy.service.discovery.v3.DeltaDiscoveryResponse', bytes);
  const resources = Array.isArray(o['resources']) ? (o['resources'] as { name?: unknown; version?: unknown; resource?: unknown }[]) : [];
  return {
    system_version_info: String(o['system_version_info'] ?? ''),
    type_url: String(o['type_url'] ?? ''),
    nonce: String(o['nonce'] ?? ''),
    resources: resources.map((r) => ({
      name: typeof r.name === 'string' ? r.name : '',
      version: typeof r.version === 'string' ? r.version : '',
      resource: typeof r.resource === 'object' && r.resource !== null ? rawAny(r.resource) : undefined,
    })),
    removed_resources: Array.isArray(o['removed_resources']) ? (o['removed_resources'] as unknown[]).map(String) : [],
  };
}

/** Decodes `bytes` as `typeName` leaving every Any as `{ type_url, value }`. */
function rawDecode(typeName: string, bytes: Buffer): ProtoObject {
  const type = protos().root.lookupType(typeName);
  return type.toObject(type.decode(bytes), { defaults: true, longs: String, enums: String }) as ProtoObject;
}

function rawAny(r: unknown): AnyMessage {
  const a = (typeof r === 'object' && r !== null ? r : {}) as { type_url?: unknown; value?: unknown };
  return { type_url: typeof a.type_url === 'string' ? a.type_url : '', value: a.value instanceof Uint8Array ? a.value : new Uint8Array() };
}

let cachedVersion: string | undefined;

/** Weft's package version, for `user_agent_version` (read once from package.json; '0.0.0' if not found). */
export function weftVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  cachedVersion = '0.0.0';
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'weft' && typeof pkg.version === 'string') {
          cachedVersion = pkg.version;
          break;
        }
      } catch (e: unknown) {
        void e; // an unreadable package.json only costs the version string: keep looking upwards
      }
    }
    dir = path.dirname(dir);
  }
  return cachedVersion;
}
