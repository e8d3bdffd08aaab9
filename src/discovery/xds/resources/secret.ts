// Decodes an SDS Secret (envoy.extensions.transport_sockets.tls.v3.Secret) carrying a trust bundle into validated PEM roots.
import { parseCertificates } from '../../../identity/chain.js';
import type { ProtoObject } from '../protos.js';
import { fail, obj, ok, str, type Result } from './common.js';

/** Name of the Secret holding the mesh's trust bundle (docs/xds-mapping.md "Secret"). */
export const TRUST_BUNDLE_SECRET = 'weft-trust-bundle';

/** A validated trust-bundle Secret: the roots as PEM and their SHA-256 fingerprints. */
export interface SecretResource {
  readonly name: string;
  /** Every root certificate, PEM, in the order sent. */
  readonly trustedCaPem: readonly string[];
  /** `fingerprint256` of each root, in the same order. */
  readonly fingerprints: readonly string[];
}

/**
 * Validates a Secret whose `validation_context.trusted_ca` is inline PEM: at least one certificate, every one a CA.
 * A `filename` or environment-variable source is refused (a control plane must not make the SDK read local files).
 * Secrets of other kinds (tls_certificate, generic_secret...) are refused: Weft never receives private keys over xDS.
 */
export function decodeSecret(secret: ProtoObject): Result<SecretResource> {
  const name = str(secret, 'name');
  const vc = obj(secret, 'validation_context');
  if (vc === undefined) return fail([`validation_context: required (Weft accepts only trust-bundle Secrets; the Secret carries ${secret['type'] ? String(secret['type']) : 'nothing'})`]);
  const ca = obj(vc, 'trusted_ca');
  if (ca === undefined) return fail(['validation_context.trusted_ca: required']);
  const specifier = str(ca, 'specifier');
  let text: string;
  if (specifier === 'inline_string') text = str(ca, 'inline_string');
  else if (specifier === 'inline_bytes' && ca['inline_bytes'] instanceof Uint8Array) text = Buffer.from(ca['inline_bytes']).toString('utf8');
  else return fail([`validation_context.trusted_ca: must be inline_string or inline_bytes PEM, got ${specifier || 'nothing'}`]);
  const parsed = parseCertificates(text);
  if (!parsed.ok) return fail([`validation_context.trusted_ca: ${parsed.error}`]);
  const notCa = parsed.value.findIndex((c) => !c.ca);
  if (notCa !== -1) return fail([`validation_context.trusted_ca: certificate ${notCa + 1} ('${parsed.value[notCa]!.subject}') is not a CA certificate`]);
  return ok(
    Object.freeze({
      name,
      trustedCaPem: Object.freeze(parsed.value.map((c) => c.toString())),
      fingerprints: Object.freeze(parsed.value.map((c) => c.fingerprint256)),
    }),
  );
}
