// Decodes a Cluster's mTLS (gRFC A29): its `transport_socket` (an UpstreamTlsContext: mTLS to every endpoint) or its
// `transport_socket_matches` on endpoint metadata (mTLS to the endpoints that say they serve it), with the SPIFFE IDs
// a server may present (docs/xds-mapping.md "mTLS").
import type { StringMatcher, UpstreamTls } from '../../mesh-state.js';
import { TLS_TRANSPORT_SOCKET } from '../../../identity/mtls-wire.js';
import { TYPE_URL, type ProtoObject } from '../protos.js';
import { anyTypeUrl, decodeStringMatcher, isError, list, obj, str } from './common.js';

/** The raw-buffer (plaintext) transport socket's name: allowed as an explicit "no TLS" in a match entry. */
const RAW_BUFFER = 'envoy.transport_sockets.raw_buffer';

/**
 * The cluster's mTLS, undefined for plaintext. Problems go to `errors` (the Cluster is then refused, NACK):
 * a transport socket other than TLS or raw_buffer; an UpstreamTlsContext without `common_tls_context`, with static
 * certificates or SDS secrets (Weft presents its own workload certificate; it would not present those), or with a
 * validation context Weft cannot honour (SDS, SPKI or hash pins, CRLs); a transport socket match on anything but one
 * metadata field (Weft reads `tlsMode`), or more than one TLS match. The certificate provider instance names are
 * accepted as they are: a Weft process presents its workload certificate and trusts the mesh's trust bundle.
 */
export function decodeUpstreamTls(cluster: ProtoObject, errors: string[]): UpstreamTls | undefined {
  const socket = obj(cluster, 'transport_socket');
  const matches = list(cluster, 'transport_socket_matches');
  if (socket !== undefined) {
    const tls = decodeSocket(socket, 'transport_socket', errors);
    if (tls !== undefined) return Object.freeze({ when: 'always', peerIds: tls });
  }
  let found: UpstreamTls | undefined;
  matches.forEach((m, i) => {
    const at = `transport_socket_matches[${i}]`;
    const fields = Object.entries((obj(m, 'match')?.['fields'] ?? obj(m, 'match') ?? {}) as Record<string, unknown>);
    const peerIds = decodeSocket(obj(m, 'transport_socket') ?? {}, `${at}.transport_socket`, errors);
    if (peerIds === undefined) return; // plaintext for these endpoints: the default anyway
    if (fields.length !== 1) {
      errors.push(`${at}.match: Weft matches endpoints on one metadata field (e.g. tlsMode), got ${fields.length}`);
      return;
    }
    const [key, raw] = fields[0]!;
    const value = typeof raw === 'string' ? raw : (raw as { stringValue?: unknown; string_value?: unknown } | null)?.stringValue ?? (raw as { string_value?: unknown } | null)?.string_value;
    if (typeof value !== 'string' || value === '') {
      errors.push(`${at}.match.${key}: must be a string`);
      return;
    }
    if (found !== undefined) {
      errors.push(`${at}: Weft supports one TLS transport socket match per Cluster`);
      return;
    }
    found = Object.freeze({ when: 'endpoint-metadata', field: key, value, peerIds });
  });
  return found;
}

/** The SAN matchers of a TLS transport socket, undefined for raw_buffer (or an error). */
function decodeSocket(socket: ProtoObject, field: string, errors: string[]): readonly StringMatcher[] | undefined {
  const name = str(socket, 'name');
  const config = obj(socket, 'typed_config');
  const type = anyTypeUrl(config);
  if (name === RAW_BUFFER || type.endsWith('raw_buffer.v3.RawBuffer')) return undefined;
  if (type !== TYPE_URL.upstreamTlsContext) {
    errors.push(`${field}: '${name || type}' is not supported (only ${TLS_TRANSPORT_SOCKET} with an UpstreamTlsContext, or raw_buffer)`);
    return undefined;
  }
  const common = obj(config, 'common_tls_context');
  if (common === undefined) {
    errors.push(`${field}.typed_config.common_tls_context: not set`);
    return undefined;
  }
  const before = errors.length;
  if (list(common, 'tls_certificates').length > 0 || list(common, 'tls_certificate_sds_secret_configs').length > 0) {
    errors.push(`${field}.typed_config.common_tls_context: static or SDS client certificates are not supported (a Weft process presents its workload certificate; use tls_certificate_provider_instance)`);
  }
  const kind = str(common, 'validation_context_type');
  const validation =
    kind === 'validation_context' ? obj(common, 'validation_context') : kind === 'combined_validation_context' ? obj(obj(common, 'combined_validation_context'), 'default_validation_context') : undefined;
  if (kind !== '' && kind !== 'validation_context' && kind !== 'combined_validation_context') {
    errors.push(`${field}.typed_config.common_tls_context.${kind}: not supported (use validation_context with ca_certificate_provider_instance)`);
  }
  for (const pin of ['verify_certificate_spki', 'verify_certificate_hash']) {
    if (list(validation, pin).length > 0) errors.push(`${field}...validation_context.${pin}: not supported`);
  }
  if (obj(validation, 'crl') !== undefined) errors.push(`${field}...validation_context.crl: not supported`);
  const peerIds: StringMatcher[] = [];
  list(validation, 'match_subject_alt_names').forEach((m, i) => {
    const decoded = decodeStringMatcher(m, `${field}...validation_context.match_subject_alt_names[${i}]`);
    if (isError(decoded)) errors.push(decoded.error);
    else peerIds.push(decoded);
  });
  return errors.length > before ? undefined : Object.freeze(peerIds);
}
