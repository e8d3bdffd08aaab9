// Test helpers for the CA and identity tests: a logger that records, a real TLS handshake, and an operator-style
// intermediate CA built with the same pkijs code the CA uses.
import crypto, { type KeyObject, type X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import * as pkijs from 'pkijs';
import type { Logger } from '../../../src/core/logger.js';
import {
  KEY_USAGE,
  OID,
  algorithmIdentifier,
  authorityKeyIdExtension,
  basicConstraintsExtension,
  derToPem,
  distinguishedName,
  keyUsageExtension,
  publicKeyInfo,
  randomSerial,
  signToBitString,
  subjectKeyIdExtension,
} from '../../../src/identity/pkix.js';
import { buildRootCertificate } from './issue.js';

/** One recorded log entry. */
export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

/** A Logger that keeps every entry, plus a finder. */
export interface RecordingLogger extends Logger {
  readonly entries: LogEntry[];
  /** Entries at `level` whose message and JSON fields match `pattern`. */
  find(level: LogEntry['level'], pattern: RegExp): LogEntry[];
}

/** Creates a RecordingLogger. */
export function recordingLogger(): RecordingLogger {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (message: string, fields: Record<string, unknown> = {}) => void entries.push({ level, message, fields });
  return {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    find: (level, pattern) => entries.filter((e) => e.level === level && pattern.test(`${e.message} ${JSON.stringify(e.fields)}`)),
  };
}

/**
 * A real TLS handshake on loopback: a server presenting `certPem` (chain) and `keyPem`, a client trusting only `caPem`
 * (node's own chain validation; host names ignored, as SPIFFE peers are). Resolves with the server certificate's
 * serial as the client saw it, or rejects with the client's verification error.
 */
export async function tlsHandshake(certPem: string, keyPem: string, caPem: string): Promise<string> {
  const server = tls.createServer({ cert: certPem, key: keyPem }, (socket) => socket.end());
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let socket: tls.TLSSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('tlsHandshake: no outcome within 5 s')), 5_000);
      const s = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: caPem, checkServerIdentity: () => undefined }, () => {
        resolve(s.getPeerCertificate().serialNumber.toLowerCase());
      });
      socket = s;
      s.on('error', reject);
    });
  } finally {
    // Never wait on a half-closed connection: tear both ends down, then close the server.
    clearTimeout(timer);
    socket?.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A CA key pair and certificate. */
export interface TestCa {
  readonly cert: X509Certificate;
  readonly pem: string;
  readonly key: KeyObject;
  readonly keyPem: string;
}

/** A self-signed root, as an operator might bring (lifetime 1 year from `nowMs`). */
export function testRoot(trustDomain: string, name: string, nowMs = Date.now()): TestCa {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const built = buildRootCertificate({ privateKey, publicKey, trustDomain, commonName: name, notBeforeMs: nowMs - 60_000, notAfterMs: nowMs + 365 * 86_400_000 });
  return { cert: built.x509, pem: built.pem, key: privateKey, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** An intermediate CA signed by `issuer` (CA:true, pathlen 0), valid from `notBeforeMs` to `notAfterMs`. */
export function testIntermediate(issuer: TestCa, name: string, notBeforeMs = Date.now() - 60_000, notAfterMs = Date.now() + 180 * 86_400_000): TestCa {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = randomSerial();
  cert.signature = algorithmIdentifier(OID.ecdsaWithSha256);
  cert.signatureAlgorithm = algorithmIdentifier(OID.ecdsaWithSha256);
  cert.issuer = pkijs.Certificate.fromBER(new Uint8Array(issuer.cert.raw)).subject;
  cert.subject = distinguishedName([
    [OID.organization, 'weft-test'],
    [OID.commonName, name],
  ]);
  cert.notBefore = new pkijs.Time({ type: pkijs.TimeType.UTCTime, value: new Date(notBeforeMs) });
  cert.notAfter = new pkijs.Time({ type: pkijs.TimeType.UTCTime, value: new Date(notAfterMs) });
  cert.subjectPublicKeyInfo = publicKeyInfo(publicKey);
  cert.extensions = [basicConstraintsExtension(true, 0), keyUsageExtension([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]), subjectKeyIdExtension(publicKey), authorityKeyIdExtension(issuer.cert.publicKey)];
  const tbs = cert.encodeTBS().toBER(false);
  cert.tbsView = new Uint8Array(tbs);
  cert.signatureValue = signToBitString(tbs, issuer.key);
  const der = Buffer.from(cert.toSchema(false).toBER(false));
  const x509 = new crypto.X509Certificate(der);
  return { cert: x509, pem: derToPem(der, 'CERTIFICATE'), key: privateKey, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}
