// Builds and signs certificates with pkijs (ASN.1) and node:crypto (signature): self-signed roots and workload SVIDs.
import { X509Certificate, type KeyObject } from 'node:crypto';
import * as pkijs from 'pkijs';
import {
  KEY_USAGE,
  OID,
  algorithmIdentifier,
  authorityKeyIdExtension,
  basicConstraintsExtension,
  derToPem,
  distinguishedName,
  extKeyUsageExtension,
  keyUsageExtension,
  publicKeyInfo,
  randomSerial,
  signToBitString,
  signatureAlgorithmOf,
  signedDer,
  subjectKeyIdExtension,
  uriSanExtension,
} from '../../../src/identity/pkix.js';

/** A certificate Weft built: PEM, DER, its serial and expiry, and (parsed on first use) the X509Certificate. */
export interface BuiltCertificate {
  readonly pem: string;
  readonly der: Buffer;
  /** Lower-case hex without leading zeros. */
  readonly serial: string;
  readonly notAfterMs: number;
  /** Parsed lazily: OpenSSL's decoder costs about as much as building the certificate. */
  readonly x509: X509Certificate;
}

/** A CA that signs: its certificate (parsed by node and by pkijs, for its subject name) and private key. */
export interface Signer {
  readonly cert: X509Certificate;
  readonly key: KeyObject;
  /** The certificate's subject as pkijs holds it (the issuer name of what it signs). */
  readonly subject: pkijs.RelativeDistinguishedNames;
  /** The authorityKeyIdentifier extension of what it signs (computed once). */
  readonly authorityKeyId: pkijs.Extension;
}

/** Prepares `cert` + `key` to sign. Throws a TypeError when the key type is not one Weft signs with. */
export function signerOf(cert: X509Certificate, key: KeyObject): Signer {
  signatureAlgorithmOf(key);
  const parsed = pkijs.Certificate.fromBER(new Uint8Array(cert.raw));
  return { cert, key, subject: parsed.subject, authorityKeyId: authorityKeyIdExtension(cert.publicKey) };
}

/** What a self-signed root holds. */
export interface RootParams {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Becomes the root's URI SAN `spiffe://<trustDomain>` (SPIFFE X509-SVID §3 suggests it for signing certificates). */
  readonly trustDomain: string;
  readonly commonName: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/** A self-signed root CA certificate: CA:true, keyCertSign + cRLSign, SKI/AKI, O=weft, CN=`commonName`. */
export function buildRootCertificate(params: RootParams): BuiltCertificate {
  const name = distinguishedName([
    [OID.organization, 'weft'],
    [OID.commonName, params.commonName],
  ]);
  return sign(
    {
      subject: name,
      issuer: name,
      publicKey: params.publicKey,
      issuerPublicKey: params.publicKey,
      notBeforeMs: params.notBeforeMs,
      notAfterMs: params.notAfterMs,
      extensions: [
        basicConstraintsExtension(true),
        keyUsageExtension([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]),
        subjectKeyIdExtension(params.publicKey),
        uriSanExtension([`spiffe://${params.trustDomain}`], false),
      ],
    },
    params.privateKey,
  );
}

/** What a workload certificate holds. */
export interface LeafParams {
  readonly signer: Signer;
  readonly publicKey: KeyObject;
  readonly spiffeId: string;
  /** DNS names or IP addresses also put in the SAN, for a server reached by address (X509-SVID allows other SANs). */
  readonly hosts?: readonly string[];
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/**
 * An X.509 SVID: empty subject, exactly one URI SAN (critical, because the subject is empty), CA:false,
 * digitalSignature, serverAuth + clientAuth, SKI and AKI, a random 128-bit serial. Synchronous (about 0.3 ms).
 */
export function buildLeafCertificate(params: LeafParams): BuiltCertificate {
  return sign(
    {
      subject: distinguishedName([]),
      issuer: params.signer.subject,
      publicKey: params.publicKey,
      issuerPublicKey: params.signer.cert.publicKey,
      notBeforeMs: params.notBeforeMs,
      notAfterMs: params.notAfterMs,
      extensions: [
        basicConstraintsExtension(false),
        keyUsageExtension([KEY_USAGE.digitalSignature]),
        extKeyUsageExtension([OID.serverAuth, OID.clientAuth]),
        subjectKeyIdExtension(params.publicKey),
        params.signer.authorityKeyId,
        uriSanExtension([params.spiffeId], true, params.hosts),
      ],
    },
    params.signer.key,
  );
}

interface Tbs {
  readonly subject: pkijs.RelativeDistinguishedNames;
  readonly issuer: pkijs.RelativeDistinguishedNames;
  readonly publicKey: KeyObject;
  readonly issuerPublicKey: KeyObject;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly extensions: pkijs.Extension[];
}

function sign(tbs: Tbs, signingKey: KeyObject): BuiltCertificate {
  const cert = new pkijs.Certificate();
  const algorithm = signatureAlgorithmOf(signingKey).oid;
  cert.version = 2;
  const serial = randomSerial();
  cert.serialNumber = serial;
  cert.signature = algorithmIdentifier(algorithm);
  cert.signatureAlgorithm = algorithmIdentifier(algorithm);
  cert.issuer = tbs.issuer;
  cert.subject = tbs.subject;
  cert.notBefore = timeOf(tbs.notBeforeMs);
  cert.notAfter = timeOf(tbs.notAfterMs);
  cert.subjectPublicKeyInfo = publicKeyInfo(tbs.publicKey);
  cert.extensions = tbs.extensions;
  const toBeSigned = cert.encodeTBS().toBER(false);
  const der = signedDer(toBeSigned, cert.signatureAlgorithm, signToBitString(toBeSigned, signingKey));
  let x509: X509Certificate | undefined;
  return {
    pem: derToPem(der, 'CERTIFICATE'),
    der,
    serial: Buffer.from(serial.valueBlock.valueHexView).toString('hex').replace(/^0+(?=.)/, ''),
    notAfterMs: Math.floor(tbs.notAfterMs / 1000) * 1000,
    get x509() {
      x509 ??= new X509Certificate(der);
      return x509;
    },
  };
}

/** UTCTime up to 2049, GeneralizedTime after (RFC 5280 §4.1.2.5); whole seconds. */
function timeOf(ms: number): pkijs.Time {
  const value = new Date(Math.floor(ms / 1000) * 1000);
  return new pkijs.Time({ type: value.getUTCFullYear() < 2050 ? pkijs.TimeType.UTCTime : pkijs.TimeType.GeneralizedTime, value });
}

