// SPIFFE IDs of workloads (`spiffe://<trust-domain>/ns/<namespace>/sa/<service>`): format, parse, and read from certificates.
// The one place that knows the shape; the CA, TLS verification and authorization principals all use it.

/** The trust domain when the control plane is not told another (`--trust-domain`). */
export const DEFAULT_TRUST_DOMAIN = 'weft.local';
/** The namespace of a Service whose metadata names none. */
export const DEFAULT_NAMESPACE = 'default';

/** A workload identity, the parts of its SPIFFE ID. */
export interface WorkloadId {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly service: string;
}

// SPIFFE ID spec §2.1 (trust domain: lower-case letters, digits, '.', '-', '_') and §2.2 (path segments of
// letters, digits, '.', '-', '_'); Weft's paths are exactly /ns/<namespace>/sa/<service>.
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const SEGMENT = /^[A-Za-z0-9._-]{1,253}$/;

/** True when `td` is a valid SPIFFE trust domain name. */
export function isTrustDomain(td: string): boolean {
  return TRUST_DOMAIN.test(td);
}

/** `spiffe://<trustDomain>/ns/<namespace>/sa/<service>`. Throws a TypeError for parts that are not valid SPIFFE. */
export function formatSpiffeId(id: WorkloadId): string {
  if (!isTrustDomain(id.trustDomain)) throw new TypeError(`'${id.trustDomain}' is not a SPIFFE trust domain (lower-case letters, digits, '.', '-', '_')`);
  for (const [what, value] of [['namespace', id.namespace], ['service', id.service]] as const) {
    if (!SEGMENT.test(value) || value === '.' || value === '..') throw new TypeError(`'${value}' is not a valid SPIFFE path segment for the ${what}`);
  }
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.service}`;
}

/** The parts of a Weft SPIFFE ID, or undefined when `uri` is not exactly `spiffe://<td>/ns/<ns>/sa/<svc>`. */
export function parseSpiffeId(uri: string): WorkloadId | undefined {
  if (!uri.startsWith('spiffe://')) return undefined;
  const parts = uri.slice('spiffe://'.length).split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') return undefined;
  const [trustDomain, , namespace, , service] = parts as [string, string, string, string, string];
  if (!isTrustDomain(trustDomain) || !SEGMENT.test(namespace) || !SEGMENT.test(service)) return undefined;
  return { trustDomain, namespace, service };
}

/**
 * The URI SANs of a certificate as Node reports them (`tls` peer certificates' and `X509Certificate`'s
 * `subjectaltname` / `subjectAltName`: `"URI:spiffe://a/b, DNS:x"`). Values containing ', ' are not split correctly
 * by this format; SPIFFE IDs never contain a space.
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === '') return [];
  const out: string[] = [];
  for (const entry of subjectAltName.split(', ')) if (entry.startsWith('URI:')) out.push(entry.slice(4));
  return out;
}

/**
 * The SPIFFE ID of a certificate (an X.509 SVID has exactly one URI SAN, and it is a spiffe:// URI), or undefined
 * when it has none or more than one (SPIFFE X509-SVID §2: such a certificate is not an SVID).
 */
export function spiffeIdOfSans(subjectAltName: string | undefined): string | undefined {
  const uris = uriSans(subjectAltName);
  return uris.length === 1 && uris[0]!.startsWith('spiffe://') ? uris[0] : undefined;
}
