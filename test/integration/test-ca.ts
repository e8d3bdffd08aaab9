// A throwaway test CA (pkijs 3 + node:crypto, ECDSA P-256): a root and SPIFFE leaf certificates, so tests can run
// servers behind real mTLS and present callers' identities. Tests only; the mesh's real CA is control-plane/src/ca/.
import { webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

/** PEM texts a TLS server or client takes. */
export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
}

/** A root that issues leaf certificates. */
export interface TestCa {
  /** The root certificate (PEM): the trust bundle. */
  readonly ca: string;
  /** A leaf with exactly one URI SAN `uri` (an X.509 SVID when it is spiffe://), plus IP SAN 127.0.0.1. */
  issue(uri: string): Promise<TestCertificate>;
}

type CryptoKey = webcrypto.CryptoKey;
const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as never });
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** Creates a root CA valid for a day. */
export async function createTestCa(): Promise<TestCa> {
  const rootKeys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const root = await certificate({ cn: 'weft test root', serial: 1, publicKey: rootKeys.publicKey, signer: rootKeys.privateKey, ca: true });
  let serial = 1;
  return {
    ca: pem('CERTIFICATE', root.toSchema(true).toBER(false)),
    async issue(uri: string) {
      const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
      const leaf = await certificate({ cn: uri, serial: ++serial, publicKey: keys.publicKey, signer: rootKeys.privateKey, issuer: root, uri });
      const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
      return { cert: pem('CERTIFICATE', leaf.toSchema(true).toBER(false)), key: pem('PRIVATE KEY', pkcs8) };
    },
  };
}

async function certificate(o: {
  cn: string;
  serial: number;
  publicKey: CryptoKey;
  signer: CryptoKey;
  ca?: boolean;
  issuer?: pkijs.Certificate;
  uri?: string;
}): Promise<pkijs.Certificate> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ value: o.serial });
  cert.subject.typesAndValues.push(new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: o.cn.slice(0, 64) }) }));
  cert.issuer = o.issuer ? o.issuer.subject : cert.subject;
  cert.notBefore.value = new Date(Date.now() - 60_000);
  cert.notAfter.value = new Date(Date.now() + 86_400_000);
  const ext = (extnID: string, critical: boolean, value: asn1js.BaseBlock) => new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });
  cert.extensions = [ext('2.5.29.19', true, new pkijs.BasicConstraints({ cA: o.ca === true }).toSchema())];
  // keyUsage: keyCertSign + cRLSign for the root, digitalSignature for leaves (a BIT STRING, first byte unused bits).
  const usage = o.ca ? new Uint8Array([0x06]) : new Uint8Array([0x80]);
  cert.extensions.push(ext('2.5.29.15', true, new asn1js.BitString({ valueHex: usage.buffer, unusedBits: o.ca ? 1 : 7 })));
  if (o.uri !== undefined) {
    const names = new pkijs.GeneralNames({
      names: [new pkijs.GeneralName({ type: 6, value: o.uri }), new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: new Uint8Array([127, 0, 0, 1]).buffer }) })],
    });
    cert.extensions.push(ext('2.5.29.17', false, names.toSchema()));
    cert.extensions.push(ext('2.5.29.37', false, new pkijs.ExtKeyUsage({ keyPurposes: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] }).toSchema()));
  }
  await cert.subjectPublicKeyInfo.importKey(o.publicKey as never, engine);
  await cert.sign(o.signer as never, 'SHA-256', engine);
  return cert;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}
