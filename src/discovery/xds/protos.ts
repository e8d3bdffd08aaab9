// Loads the real Envoy xDS v3 protos (shipped in @grpc/grpc-js-xds) and Weft's registry, identity and telemetry protos once, and
// turns them into codecs and grpc-js service definitions shared by the SDK and the control plane.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { ServiceDefinition } from '@grpc/grpc-js';

const require = createRequire(import.meta.url);

/** Type URLs of the xDS resources and filters Weft speaks (Envoy v3). */
export const TYPE_URL = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routeConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  clusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  httpConnectionManager:
    'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  /** The Envoy HTTP fault filter (gRFC A33): HCM filter config and per-route override. */
  httpFault: 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
  /** Inbound policy filters of a server Listener (docs/xds-mapping.md "Inbound Listener"). */
  rbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  jwtAuthn: 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
  localRateLimit: 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
  /** envoy.config.route.v3.FilterConfig: a per-route filter config marked optional. */
  filterConfig: 'type.googleapis.com/envoy.config.route.v3.FilterConfig',
  /** SDS: the mesh trust bundle (`weft-trust-bundle`, docs/xds-mapping.md "Secret"). */
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
  /** mTLS (gRFC A29): a Cluster's transport socket, and an inbound filter chain's. */
  upstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  downstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  /** Access loggers an HCM `access_log` entry may name (Telemetry, docs/xds-mapping.md "Telemetry"). */
  stdoutAccessLog: 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
  stderrAccessLog: 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog',
  fileAccessLog: 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
} as const;

/** The five resource type URLs carried on an ADS stream: the four a client resolves routes through, in order, and SDS. */
export const RESOURCE_TYPE_URLS = [
  TYPE_URL.listener,
  TYPE_URL.routeConfiguration,
  TYPE_URL.cluster,
  TYPE_URL.clusterLoadAssignment,
  TYPE_URL.secret,
] as const;

/** One of the xDS resource type URLs in RESOURCE_TYPE_URLS. */
export type ResourceTypeUrl = (typeof RESOURCE_TYPE_URLS)[number];

/** A google.protobuf.Any in wire form. */
export interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

/** A decoded protobuf message: proto field names (snake_case), enums and 64-bit integers as strings. */
export type ProtoObject = { [field: string]: unknown };

/** Options used for every decode, so both halves see the same shape (as grpc-js-xds does). */
const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  json: true, // expands known google.protobuf.Any payloads into `{ '@type': url, ...fields }`
};

const ENVOY_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  // Load-balancing policies (Cluster.load_balancing_policy, gRFC A52) and the TypedStruct carrying Weft's peak-EWMA.
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/random/v3/random.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'xds/type/v3/typed_struct.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
];

/** Loaded protos: message codecs and grpc-js service definitions. Immutable once built. */
export interface Protos {
  /** The protobufjs root holding every loaded type (for tests and tools). */
  readonly root: protobuf.Root;
  /** Encodes `object` (proto field names; Any fields may use `'@type'`) as message `typeName`. Throws on bad input. */
  encode(typeName: string, object: ProtoObject): Uint8Array;
  /** Decodes `bytes` as message `typeName`. Throws on malformed input. */
  decode(typeName: string, bytes: Uint8Array): ProtoObject;
  /** Wraps `object` (which must carry `'@type'`) into an Any. Throws for an unknown type. */
  toAny(object: ProtoObject & { '@type': string }): AnyMessage;
  /** Decodes an Any into `{ '@type', ...fields }`; throws on an unknown type URL or malformed bytes. */
  fromAny(any: AnyMessage): ProtoObject & { '@type': string };
  /** grpc-js definition of envoy.service.discovery.v3.AggregatedDiscoveryService (messages as ProtoObject). */
  readonly adsService: ServiceDefinition;
  /** grpc-js definition of weft.registry.v1.Registry (messages as ProtoObject). */
  readonly registryService: ServiceDefinition;
  /** grpc-js definition of weft.identity.v1.Identity (messages as ProtoObject). */
  readonly identityService: ServiceDefinition;
  /** grpc-js definition of weft.telemetry.v1.Telemetry (messages as ProtoObject). */
  readonly telemetryService: ServiceDefinition;
}

let loaded: Protos | undefined;

/**
 * Returns the loaded protos, parsing the .proto files on first call (about 100 ms, once per process).
 * Throws only if the installed @grpc/grpc-js-xds lacks the Envoy protos (a broken install).
 */
export function protos(): Protos {
  loaded ??= load();
  return loaded;
}

function load(): Protos {
  const depsDir = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const includeDirs = [
    path.join(depsDir, 'envoy-api'),
    path.join(depsDir, 'xds'),
    path.join(depsDir, 'googleapis'),
    path.join(depsDir, 'protoc-gen-validate'),
    path.join(packageRoot(), 'proto'),
  ];
  // google/protobuf/descriptor.proto is imported by the validation annotations; protobufjs bundles it as JSON.
  const descriptor = require('protobufjs/google/protobuf/descriptor.json') as {
    nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } };
  };
  protobuf.common('descriptor', descriptor.nested.google.nested.protobuf.nested as never);

  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync([...ENVOY_FILES, 'weft/registry/v1/registry.proto', 'weft/identity/v1/identity.proto', 'weft/telemetry/v1/telemetry.proto'], { keepCase: true });
  root.resolveAll();

  const types = new Map<string, protobuf.Type>();
  const type = (name: string): protobuf.Type => {
    let t = types.get(name);
    if (!t) {
      t = root.lookupType(name);
      types.set(name, t);
    }
    return t;
  };
  const encode = (typeName: string, object: ProtoObject): Uint8Array => {
    const t = type(typeName);
    return t.encode(t.fromObject(object)).finish();
  };
  const decode = (typeName: string, bytes: Uint8Array): ProtoObject => {
    const t = type(typeName);
    return t.toObject(t.decode(bytes), TO_OBJECT) as ProtoObject;
  };
  const typeNameOf = (url: string): string => url.slice(url.lastIndexOf('/') + 1);

  return {
    root,
    encode,
    decode,
    toAny(object) {
      const url = object['@type'];
      const { ['@type']: _ignored, ...fields } = object;
      return { type_url: url, value: encode(typeNameOf(url), fields) };
    },
    fromAny(any) {
      const fields = decode(typeNameOf(any.type_url), any.value);
      return { '@type': any.type_url, ...fields };
    },
    adsService: serviceDefinition(root, type, 'envoy.service.discovery.v3.AggregatedDiscoveryService'),
    registryService: serviceDefinition(root, type, 'weft.registry.v1.Registry'),
    identityService: serviceDefinition(root, type, 'weft.identity.v1.Identity'),
    telemetryService: serviceDefinition(root, type, 'weft.telemetry.v1.Telemetry'),
  };
}

/** Builds a grpc-js ServiceDefinition whose messages are plain ProtoObjects (encoded with fromObject/toObject). */
function serviceDefinition(
  root: protobuf.Root,
  type: (name: string) => protobuf.Type,
  serviceName: string,
): ServiceDefinition {
  const service = root.lookupService(serviceName);
  const definition: Record<string, ServiceDefinition[string]> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const req = type(method.resolvedRequestType!.fullName.slice(1));
    const res = type(method.resolvedResponseType!.fullName.slice(1));
    definition[method.name] = {
      path: `/${serviceName}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: (value: ProtoObject) => Buffer.from(req.encode(req.fromObject(value)).finish()),
      requestDeserialize: (bytes: Buffer) => req.toObject(req.decode(bytes), TO_OBJECT) as ProtoObject,
      responseSerialize: (value: ProtoObject) => Buffer.from(res.encode(res.fromObject(value)).finish()),
      responseDeserialize: (bytes: Buffer) => res.toObject(res.decode(bytes), TO_OBJECT) as ProtoObject,
      originalName: method.name,
    };
  }
  return definition as ServiceDefinition;
}

/** The folder holding Weft's package.json (works from src/ under tsx and from dist/ when built). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'proto', 'weft'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('weft: cannot find the proto/ folder of the weft package');
}
