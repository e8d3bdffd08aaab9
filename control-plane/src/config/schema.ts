// Zod schemas shared by every kind (names, metadata, references, header matches) and the per-kind lookup.
// Schemas check shape, types, formats and ranges; rules that look at several fields or resources are in validate.ts.
import { isIP } from 'node:net';
import { z } from 'zod';
import { GATEWAY_DURATION_PATTERN, parseGatewayDurationMs } from './duration.js';

/** DNS-1123 label: what Service names and port names must be. */
export const DNS_LABEL_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** DNS-1123 subdomain: what route names must be (Kubernetes object names). */
export const DNS_SUBDOMAIN_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** RFC 7230 token: an HTTP header name. */
export const HEADER_NAME_PATTERN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/** A DNS-1123 label (lower-case letters, digits, '-'; at most 63 characters). */
export const dnsLabel = z
  .string()
  .max(63, { error: 'must be at most 63 characters (a DNS-1123 label)' })
  .regex(DNS_LABEL_PATTERN, {
    error: 'must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit',
  });

/** A DNS-1123 subdomain (labels joined by '.'; at most 253 characters). */
export const dnsSubdomain = z
  .string()
  .max(253, { error: 'must be at most 253 characters' })
  .regex(DNS_SUBDOMAIN_PATTERN, {
    error: 'must be lower-case letters, digits, "-" and "." (a DNS-1123 subdomain, like a Kubernetes object name)',
  });

/** A TCP port number, 1..65535. */
export const portNumber = z.number().int().min(1).max(65535);

/** An IP literal (v4 or v6): endpoints are addresses, never host names (xDS EDS requires it). */
export const ipLiteral = z.string().refine((s) => isIP(s) !== 0, {
  error: 'must be an IP address literal (IPv4 or IPv6), not a host name',
});

/** A Gateway API (GEP-2257) duration such as `2s`, `500ms`, `1m30s`. */
export const gatewayDuration = z.string().regex(GATEWAY_DURATION_PATTERN, {
  error: 'must be a Gateway API duration: 1 to 4 parts of up to 5 digits and a unit h, m, s or ms (e.g. "2s", "500ms", "1m30s")',
});

/** A Gateway API duration above zero: for intervals and rates, where 0 would divide by zero or spin (the SDK refuses it). */
export const positiveGatewayDuration = gatewayDuration.refine((d) => (parseGatewayDurationMs(d) ?? 0) > 0, { error: 'must be greater than 0' });

/** Kubernetes metadata as Weft reads it. */
export interface ResourceMetadataSpec {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Kept for the annotations Weft reads (e.g. `retry.weft.dev/non-idempotent` on an HTTPRoute); others are ignored. */
  readonly annotations?: Readonly<Record<string, string>>;
}

/**
 * Kubernetes-style metadata whose `name` must pass `name`. Unknown fields are allowed here (annotations, uid...)
 * and dropped, so files exported from Kubernetes load; only `name`, `namespace`, `labels` and `annotations` are kept.
 */
export function metadataSchema(name: z.ZodType<string>) {
  return z
    .looseObject({
      name,
      namespace: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    })
    .transform((m): ResourceMetadataSpec => {
      const out: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } = { name: m.name };
      if (m.namespace !== undefined) out.namespace = m.namespace;
      if (m.labels !== undefined) out.labels = m.labels;
      if (m.annotations !== undefined) out.annotations = m.annotations;
      return out;
    });
}

/** Gateway API `parentRefs[]` in mesh (GAMMA) form: the Service whose traffic the route takes over. */
export interface ParentRef {
  /** Always '' (the core group); written or omitted. */
  readonly group: '';
  readonly kind: 'Service';
  readonly name: string;
  /** Only this port of the Service (accepted; routes currently apply to every port, see docs/xds-mapping.md). */
  readonly port?: number;
}

const MESH_ONLY =
  'Weft routes are mesh routes: parentRefs must name a Service ("group: \'\'", "kind: Service"); Gateways are not supported';

/** `parentRefs[]` entry. A missing `kind` defaults to Gateway in Gateway API, so it is refused with the same hint. */
export const parentRefSchema = z.strictObject({
  group: z.literal('', { error: `must be '' (the core API group of Service). ${MESH_ONLY}` }).default(''),
  kind: z.literal('Service', { error: `must be Service (Gateway API defaults it to Gateway). ${MESH_ONLY}` }),
  name: dnsLabel,
  port: portNumber.optional(),
});

/** Gateway API `backendRefs[]`: a Service port that receives a share of the traffic. */
export interface BackendRef {
  readonly group: '';
  readonly kind: 'Service';
  readonly name: string;
  /** Port of the Service; omitted = its first declared port. */
  readonly port?: number;
  /** Relative share, 0..1000000, default 1; 0 sends this backend nothing. */
  readonly weight: number;
}

/** `backendRefs[]` entry. */
export const backendRefSchema = z.strictObject({
  group: z.literal('', { error: "must be '' (the core API group): backends are Services" }).default(''),
  kind: z.literal('Service', { error: 'must be Service: Weft only routes to Services' }).default('Service'),
  name: dnsLabel,
  port: portNumber.optional(),
  weight: z.number().int().min(0).max(1_000_000).default(1),
});

/** How a header or query value is compared. */
export type StringMatchType = 'Exact' | 'RegularExpression';

/** A header (or query parameter) condition: `Exact` (default) or `RegularExpression` (RE2 syntax, whole value). */
export interface HeaderMatch {
  readonly type: StringMatchType;
  readonly name: string;
  readonly value: string;
}

/** `headers[]` entry of a match (HTTPRoute and GRPCRoute). */
export const headerMatchSchema = z.strictObject({
  type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
  name: z
    .string()
    .min(1)
    .max(256)
    .regex(HEADER_NAME_PATTERN, { error: 'must be an HTTP header name (letters, digits and !#$%&\'*+-.^_`|~)' }),
  value: z.string().max(4096),
});

/** `queryParams[]` entry of an HTTPRoute match (names are case-sensitive). */
export const queryParamMatchSchema = z.strictObject({
  type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
  name: z
    .string()
    .min(1)
    .max(256)
    .regex(HEADER_NAME_PATTERN, { error: 'must be a query parameter name (letters, digits and !#$%&\'*+-.^_`|~)' }),
  value: z.string().min(1).max(1024),
});

/** `timeouts` of a rule. */
export interface RouteTimeouts {
  /** Whole-request timeout, a Gateway API duration; `0s` means none. */
  readonly request?: string;
}

/** `timeouts` of a rule (Gateway API HTTPRouteTimeouts; `backendRequest` is not supported yet). */
export const timeoutsSchema = z.strictObject({ request: gatewayDuration.optional() });

/**
 * Gateway API fields Weft does not implement yet, each with the objects it belongs to (the last named segment of
 * its parent's path), so they are reported as "not supported yet" instead of "unknown field".
 */
export const UNSUPPORTED_GATEWAY_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([
  ['hostnames', ['spec']],
  ['filters', ['rules', 'backendRefs']],
  ['retry', ['rules']],
  ['sessionPersistence', ['rules']],
  ['name', ['rules']],
  ['sectionName', ['parentRefs']],
  ['namespace', ['parentRefs', 'backendRefs']],
  ['backendRequest', ['timeouts']],
]);

/** A whole resource of one kind: `apiVersion`, `kind`, `metadata`, `spec`, and nothing else at the top level. */
export function resourceSchema(name: z.ZodType<string>, spec: z.ZodType) {
  return z.strictObject({
    apiVersion: z.string(),
    kind: z.string(),
    metadata: metadataSchema(name),
    spec,
  });
}
