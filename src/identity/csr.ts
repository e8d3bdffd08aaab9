// PKCS#10 certificate signing requests: the workload builds one for a key it generated; the CA parses and checks one.
import crypto, { type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import {
  OID,
  algorithmIdentifier,
  derToPem,
  distinguishedName,
  keyOfPublicKeyInfo,
  pemBlocks,
  publicKeyInfo,
  sanNamesOf,
  signToBitString,
  signatureAlgorithmOf,
  signedDer,
  uriSanExtension,
} from './pkix.js';

/** Largest CSR the CA reads (bytes of PEM); a P-256 CSR with one URI SAN is under 1 KiB. */
export const MAX_CSR_PEM_BYTES = 16 * 1024;

/** A workload key pair (ECDSA P-256, node:crypto). */
export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Generates a workload key: ECDSA P-256 (about 0.1 ms). The private key never leaves the process. */
export function generateWorkloadKey(): KeyPair {
  return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** A PEM CSR for `key` asking for `spiffeId` (one URI SAN, empty subject), and its DER bytes. Synchronous. */
export function createCsr(key: KeyPair, spiffeId: string): { readonly pem: string; readonly der: Buffer } {
  const csr = new pkijs.CertificationRequest();
  csr.version = 0;
  csr.subject = distinguishedName([]);
  csr.subjectPublicKeyInfo = publicKeyInfo(key.publicKey);
  const extensions = new pkijs.Extensions({ extensions: [uriSanExtension([spiffeId], true)] });
  csr.attributes = [new pkijs.Attribute({ type: OID.extensionRequest, values: [extensions.toSchema()] })];
  csr.signatureAlgorithm = algorithmIdentifier(signatureAlgorithmOf(key.privateKey).oid);
  const tbs = (csr.toSchema(true).valueBlock.value[0] as asn1js.Sequence).toBER(false);
  const der = signedDer(tbs, csr.signatureAlgorithm, signToBitString(tbs, key.privateKey));
  return { pem: derToPem(der, 'CERTIFICATE REQUEST'), der };
}

/** A CSR the CA accepted as well formed: its key, the URI SANs it asks for, and its DER bytes. */
export interface ParsedCsr {
  readonly publicKey: KeyObject;
  /** URI SANs requested (the CA signs only the granted identity; these are only checked against it). */
  readonly uriSans: readonly string[];
  /** The CSR's DER bytes (what a renewal proof signs). */
  readonly der: Buffer;
}

/**
 * Parses and checks a PEM CSR: one `CERTIFICATE REQUEST` block, ECDSA P-256 key, signature by that key valid.
 * Returns the reason (one sentence naming what is wrong) instead of throwing.
 */
export function parseCsr(pem: string): { readonly ok: true; readonly value: ParsedCsr } | { readonly ok: false; readonly error: string } {
  const bad = (error: string) => ({ ok: false as const, error });
  if (typeof pem !== 'string' || pem.trim() === '') return bad('csr is empty; send a PEM "CERTIFICATE REQUEST"');
  if (pem.length > MAX_CSR_PEM_BYTES) return bad(`csr is ${pem.length} bytes; the most accepted is ${MAX_CSR_PEM_BYTES}`);
  const blocks = pemBlocks(pem, '(?:NEW )?CERTIFICATE REQUEST');
  if (blocks.length !== 1) return bad(`csr must hold exactly one PEM "CERTIFICATE REQUEST" block, found ${blocks.length}`);
  const der = blocks[0]!;
  let csr: pkijs.CertificationRequest;
  try {
    csr = pkijs.CertificationRequest.fromBER(new Uint8Array(der));
  } catch (e: unknown) {
    return bad(`csr is not a PKCS#10 request: ${e instanceof Error ? e.message : String(e)}`);
  }
  let publicKey: KeyObject;
  try {
    publicKey = keyOfPublicKeyInfo(csr.subjectPublicKeyInfo);
  } catch (e: unknown) {
    return bad(`csr public key cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const kind = publicKey.asymmetricKeyType === 'ec' ? `EC ${publicKey.asymmetricKeyDetails?.namedCurve ?? ''}`.trim() : (publicKey.asymmetricKeyType ?? 'unknown');
    return bad(`csr key is ${kind}; workload keys must be ECDSA P-256`);
  }
  if (csr.signatureAlgorithm.algorithmId !== OID.ecdsaWithSha256) {
    return bad(`csr is signed with algorithm ${csr.signatureAlgorithm.algorithmId}; expected ecdsa-with-SHA256 (${OID.ecdsaWithSha256})`);
  }
  const signature = Buffer.from(csr.signatureValue.valueBlock.valueHexView);
  let valid = false;
  try {
    valid = crypto.verify('sha256', csr.tbsView, publicKey, signature);
  } catch {
    valid = false;
  }
  if (!valid) return bad('csr signature does not verify with its own key (corrupted, or not signed by the key it carries)');
  const sans = requestedUriSans(csr);
  if (!sans.ok) return bad(sans.error);
  return { ok: true, value: { publicKey, uriSans: sans.value, der } };
}

function requestedUriSans(csr: pkijs.CertificationRequest): { ok: true; value: string[] } | { ok: false; error: string } {
  const uris: string[] = [];
  try {
    for (const attribute of csr.attributes ?? []) {
      if (attribute.type !== OID.extensionRequest) continue;
      for (const value of attribute.values) {
        const extensions = new pkijs.Extensions({ schema: value });
        for (const ext of extensions.extensions) {
          if (ext.extnID !== OID.subjectAltName) continue;
          uris.push(...sanNamesOf(ext.extnValue.valueBlock.valueHexView.slice().buffer).uris);
        }
      }
    }
  } catch (e: unknown) {
    return { ok: false, error: `csr extension request cannot be read: ${e instanceof Error ? e.message : String(e)}` };
  }
  return { ok: true, value: uris };
}
