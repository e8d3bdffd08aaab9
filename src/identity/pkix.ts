// X.509 building blocks shared by the SDK's CSRs and the control plane's CA: OIDs, PEM, names, extensions, signing.
// pkijs 3 + asn1js 3 build the ASN.1; node:crypto does every key operation (sign, verify), synchronously.
import crypto, { type KeyObject } from 'node:crypto';
import net from 'node:net';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
/** PEM helpers, re-exported so PKI code needs one import. */
export { derToPem, pemBlocks } from './pem.js';

/** Object identifiers Weft writes or reads. */
export const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
  organization: '2.5.4.10',
  commonName: '2.5.4.3',
} as const;

/** KeyUsage bits (RFC 5280 §4.2.1.3), numbered from the most significant bit of the first byte. */
export const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

/** The signature algorithm Weft signs with for `key`: ECDSA P-256/P-384 or RSA; throws a TypeError for others. */
export function signatureAlgorithmOf(key: KeyObject): { readonly oid: string; readonly hash: 'sha256' | 'sha384' } {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { oid: OID.ecdsaWithSha256, hash: 'sha256' };
    if (curve === 'secp384r1') return { oid: OID.ecdsaWithSha384, hash: 'sha384' };
    throw new TypeError(`EC keys on curve ${curve ?? '(unknown)'} are not supported; use P-256 or P-384`);
  }
  if (key.asymmetricKeyType === 'rsa') return { oid: OID.sha256WithRsa, hash: 'sha256' };
  throw new TypeError(`${key.asymmetricKeyType ?? 'unknown'} keys are not supported; use ECDSA P-256 (or RSA) keys`);
}

/** The AlgorithmIdentifier of `oid` (RSA carries NULL parameters, ECDSA none, as RFC 5758 / 4055 say). */
export function algorithmIdentifier(oid: string): pkijs.AlgorithmIdentifier {
  return new pkijs.AlgorithmIdentifier(oid === OID.sha256WithRsa ? { algorithmId: oid, algorithmParams: new asn1js.Null() } : { algorithmId: oid });
}

/**
 * The DER of a signed object (certificate or CSR): SEQUENCE { tbs, signatureAlgorithm, signatureValue }, assembled
 * from bytes. pkijs's toSchema() would parse the TBS it just encoded again, which costs more than building it.
 */
export function signedDer(tbs: ArrayBuffer, algorithm: pkijs.AlgorithmIdentifier, signature: asn1js.BitString): Buffer {
  const content = Buffer.concat([new Uint8Array(tbs), new Uint8Array(algorithm.toSchema().toBER(false)), new Uint8Array(signature.toBER(false))]);
  return Buffer.concat([Buffer.from([0x30]), derLength(content.length), content]);
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Signs the DER `tbs` with `privateKey` (DER-encoded ECDSA signature, or PKCS#1 v1.5 for RSA) as a BIT STRING. */
export function signToBitString(tbs: ArrayBuffer, privateKey: KeyObject): asn1js.BitString {
  const { hash } = signatureAlgorithmOf(privateKey);
  const signature = crypto.sign(hash, new Uint8Array(tbs), privateKey);
  return new asn1js.BitString({ valueHex: new Uint8Array(signature).buffer });
}

// OpenSSL 3's DER encoders and decoders cost ~200 µs a key here, JWK ~10 µs: P-256 keys, which are all a workload
// has, go through JWK and this fixed SubjectPublicKeyInfo prefix (id-ecPublicKey, prime256v1, BIT STRING of 66 bytes).
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const PRIME256V1 = '1.2.840.10045.3.1.7';

/** The uncompressed EC point (0x04 || x || y) of a P-256 public key, or undefined for other keys. */
function p256Point(publicKey: KeyObject): Buffer | undefined {
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return undefined;
  const { x, y } = publicKey.export({ format: 'jwk' });
  return Buffer.concat([Buffer.from([4]), Buffer.from(x!, 'base64url'), Buffer.from(y!, 'base64url')]);
}

/** The DER SubjectPublicKeyInfo of `publicKey`. */
export function spkiDer(publicKey: KeyObject): Buffer {
  const point = p256Point(publicKey);
  return point ? Buffer.concat([P256_SPKI_PREFIX, point]) : publicKey.export({ type: 'spki', format: 'der' });
}

/** The SubjectPublicKeyInfo of `publicKey`, as pkijs holds it. */
export function publicKeyInfo(publicKey: KeyObject): pkijs.PublicKeyInfo {
  return new pkijs.PublicKeyInfo({ schema: asn1js.fromBER(new Uint8Array(spkiDer(publicKey))).result });
}

/** A node:crypto public key from a pkijs SubjectPublicKeyInfo. Throws when the key cannot be read. */
export function keyOfPublicKeyInfo(spki: pkijs.PublicKeyInfo): KeyObject {
  const point = new Uint8Array(spki.subjectPublicKey.valueBlock.valueHexView);
  const params: unknown = spki.algorithm.algorithmParams;
  const curve = params instanceof asn1js.ObjectIdentifier ? params.valueBlock.toString() : undefined;
  if (spki.algorithm.algorithmId === EC_PUBLIC_KEY && curve === PRIME256V1 && point.length === 65 && point[0] === 4) {
    const b64 = (from: number) => Buffer.from(point.subarray(from, from + 32)).toString('base64url');
    return crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64(1), y: b64(33) }, format: 'jwk' });
  }
  return crypto.createPublicKey({ key: Buffer.from(spki.toSchema().toBER(false)), format: 'der', type: 'spki' });
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (used for SKI and AKI). */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const bits = p256Point(publicKey) ?? new Uint8Array(publicKeyInfo(publicKey).subjectPublicKey.valueBlock.valueHexView);
  return crypto.createHash('sha1').update(bits).digest();
}

/** A distinguished name from `[oid, value]` pairs, one RDN each (UTF8String values); [] gives the empty name. */
export function distinguishedName(entries: readonly (readonly [string, string])[]): pkijs.RelativeDistinguishedNames {
  // pkijs would put every attribute in one multi-valued RDN ("O=weft + CN=x"); encode one SET per attribute instead.
  const sequence = new asn1js.Sequence({
    value: entries.map(([type, value]) => new asn1js.Set({ value: [new pkijs.AttributeTypeAndValue({ type, value: new asn1js.Utf8String({ value }) }).toSchema()] })),
  });
  return new pkijs.RelativeDistinguishedNames({ schema: asn1js.fromBER(sequence.toBER(false)).result });
}

/**
 * A subjectAltName extension of URI names, then `hosts` (each an IP address, encoded as iPAddress, or a DNS name).
 * Critical when the subject is empty (RFC 5280 §4.2.1.6).
 */
export function uriSanExtension(uris: readonly string[], critical: boolean, hosts: readonly string[] = []): pkijs.Extension {
  const names = new pkijs.GeneralNames({
    names: [
      ...uris.map((value) => new pkijs.GeneralName({ type: 6, value })),
      ...hosts.map((host) => {
        const ip = ipBytes(host);
        return ip === undefined ? new pkijs.GeneralName({ type: 2, value: host }) : new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ip }) });
      }),
    ],
  });
  return new pkijs.Extension({ extnID: OID.subjectAltName, critical, extnValue: names.toSchema().toBER(false) });
}

/** The 4 or 16 bytes of an IP address literal, or undefined for a DNS name. */
function ipBytes(host: string): ArrayBuffer | undefined {
  const family = net.isIP(host);
  if (family === 4) return new Uint8Array(host.split('.').map(Number)).buffer;
  if (family !== 6) return undefined;
  // Eight 16-bit groups: '::' stands for the zero groups missing; a dotted IPv4 tail is two groups.
  const groups = (part: string): number[] =>
    part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ((b) => [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!])(g.split('.').map(Number)) : [parseInt(g, 16)]));
  const [head = '', tail] = host.split('::');
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  return new Uint8Array(all.flatMap((g) => [g >> 8, g & 0xff])).buffer;
}

/** A critical basicConstraints extension. */
export function basicConstraintsExtension(ca: boolean, pathLength?: number): pkijs.Extension {
  const value = new pkijs.BasicConstraints(ca ? { cA: true, ...(pathLength === undefined ? {} : { pathLenConstraint: pathLength }) } : {});
  return new pkijs.Extension({ extnID: OID.basicConstraints, critical: true, extnValue: value.toSchema().toBER(false) });
}

/** A critical keyUsage extension with the given bits set (DER: trailing zero bits dropped). */
export function keyUsageExtension(bits: readonly number[]): pkijs.Extension {
  const last = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(last / 8) + 1);
  for (const bit of bits) bytes[Math.floor(bit / 8)]! |= 0x80 >> bit % 8;
  const bitString = new asn1js.BitString({ valueHex: bytes.buffer, unusedBits: 7 - (last % 8) });
  return new pkijs.Extension({ extnID: OID.keyUsage, critical: true, extnValue: bitString.toBER(false) });
}

/** An extKeyUsage extension with the given purposes. */
export function extKeyUsageExtension(purposes: readonly string[]): pkijs.Extension {
  const value = new pkijs.ExtKeyUsage({ keyPurposes: [...purposes] });
  return new pkijs.Extension({ extnID: OID.extKeyUsage, critical: false, extnValue: value.toSchema().toBER(false) });
}

/** A subjectKeyIdentifier extension. */
export function subjectKeyIdExtension(publicKey: KeyObject): pkijs.Extension {
  const value = new asn1js.OctetString({ valueHex: new Uint8Array(keyIdentifier(publicKey)).buffer });
  return new pkijs.Extension({ extnID: OID.subjectKeyIdentifier, critical: false, extnValue: value.toBER(false) });
}

/** An authorityKeyIdentifier extension naming the issuer's key. */
export function authorityKeyIdExtension(issuerPublicKey: KeyObject): pkijs.Extension {
  const value = new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: new Uint8Array(keyIdentifier(issuerPublicKey)).buffer }) });
  return new pkijs.Extension({ extnID: OID.authorityKeyIdentifier, critical: false, extnValue: value.toSchema().toBER(false) });
}

/**
 * The URI names of a subjectAltName extension's DER value, and whether it also names something else (DNS, IP...).
 * Throws a TypeError when the value is not a GeneralNames.
 */
export function sanNamesOf(extnValueDer: ArrayBuffer): { readonly uris: string[]; readonly others: number } {
  const parsed = asn1js.fromBER(extnValueDer);
  if (parsed.offset === -1) throw new TypeError('subjectAltName is not valid DER');
  const names = new pkijs.GeneralNames({ schema: parsed.result });
  const uris: string[] = [];
  let others = 0;
  for (const n of names.names) {
    if (n.type === 6 && typeof n.value === 'string') uris.push(n.value);
    else others++;
  }
  return { uris, others };
}

/** A positive random serial number of 16 bytes (RFC 5280 §4.1.2.2: at most 20 octets; CA/B forum: ≥ 64 random bits). */
export function randomSerial(): asn1js.Integer {
  const bytes = crypto.randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, and never a leading zero byte
  return new asn1js.Integer({ valueHex: new Uint8Array(bytes).buffer });
}
