// Loads an operator's CA (`--ca-cert`, `--ca-key`, `--ca-chain`): a root, or an intermediate plus its chain to a root.
import crypto, { X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ERROR_CODES, MeshError } from '../../../src/core/errors.js';
import { MAX_CHAIN_LENGTH, oneLine, parseCertificates, validityMs } from '../../../src/identity/chain.js';
import { signatureAlgorithmOf } from '../../../src/identity/pkix.js';

/** Files of an operator-provided CA. */
export interface OperatorCaFiles {
  /** PEM certificate the CA signs with (a root or an intermediate); more certificates after it count as chain. */
  readonly certFile: string;
  /** PEM private key of that certificate (PKCS#8 or SEC1, not encrypted). */
  readonly keyFile: string;
  /** PEM certificates from the signing certificate's issuer up to and including the root (not needed for a root). */
  readonly chainFile?: string;
}

/** A checked operator CA: what signs, what goes between leaf and root, and the root for the trust bundle. */
export interface OperatorCa {
  readonly cert: X509Certificate;
  readonly key: KeyObject;
  /** PEM of the certificates a leaf's chain carries after the leaf: the signing certificate (when not the root) and
   * the intermediates above it, without the root. */
  readonly chainPems: readonly string[];
  readonly root: X509Certificate;
  readonly rootPem: string;
}

/**
 * Reads and checks an operator CA: the key matches the certificate, the certificate is a CA valid now, and the chain
 * leads to a self-signed root. Throws WEFT_ERR_INVALID_ARG naming the flag and the problem.
 */
export async function loadOperatorCa(files: OperatorCaFiles, nowMs: number): Promise<OperatorCa> {
  const read = async (flag: string, file: string): Promise<string> => {
    try {
      return await readFile(file, 'utf8');
    } catch (e: unknown) {
      return bad(`${flag} ${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  };
  const certText = await read('--ca-cert', files.certFile);
  const parsed = parseCertificates(certText);
  if (!parsed.ok) return bad(`--ca-cert ${files.certFile}: ${parsed.error}`);
  const [cert, ...extra] = parsed.value as [X509Certificate, ...X509Certificate[]];
  const keyText = await read('--ca-key', files.keyFile);
  let key: KeyObject;
  try {
    key = crypto.createPrivateKey(keyText);
  } catch (e: unknown) {
    const message = e instanceof Error ? e.message : String(e);
    return bad(`--ca-key ${files.keyFile}: not an unencrypted PEM private key (${message})`);
  }
  try {
    signatureAlgorithmOf(key);
  } catch (e: unknown) {
    return bad(`--ca-key ${files.keyFile}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!cert.checkPrivateKey(key)) return bad(`--ca-key ${files.keyFile} is not the private key of --ca-cert ${files.certFile}`);
  if (!cert.ca) return bad(`--ca-cert ${files.certFile}: '${oneLine(cert.subject)}' is not a CA certificate (basicConstraints CA:TRUE)`);
  const { notBeforeMs, notAfterMs } = validityMs(cert);
  if (nowMs > notAfterMs) return bad(`--ca-cert ${files.certFile}: expired at ${new Date(notAfterMs).toISOString()}`);
  if (nowMs < notBeforeMs) return bad(`--ca-cert ${files.certFile}: not valid before ${new Date(notBeforeMs).toISOString()}`);

  let chain = extra;
  if (files.chainFile !== undefined) {
    const chainParsed = parseCertificates(await read('--ca-chain', files.chainFile));
    if (!chainParsed.ok) return bad(`--ca-chain ${files.chainFile}: ${chainParsed.error}`);
    chain = [...chain, ...chainParsed.value];
  }
  const path: X509Certificate[] = [cert];
  let current = cert;
  while (!selfSigned(current)) {
    const issuer = chain.find((c) => c !== current && signedBy(current, c));
    if (issuer === undefined || path.length > 8) {
      return bad(
        `--ca-chain: no certificate issued '${oneLine(current.subject)}' (issuer '${oneLine(current.issuer)}'); give --ca-chain with every certificate up to and including the root`,
      );
    }
    if (!issuer.ca) return bad(`--ca-chain: '${oneLine(issuer.subject)}' is not a CA certificate`);
    path.push(issuer);
    current = issuer;
  }
  const root = current;
  if (path.length > MAX_CHAIN_LENGTH) {
    // A workload presents its leaf plus every certificate below the root; peers refuse longer chains.
    return bad(`--ca-chain: ${path.length - 1} certificates stand between the root and a workload certificate; at most ${MAX_CHAIN_LENGTH - 1} are supported (a workload chain holds at most ${MAX_CHAIN_LENGTH} certificates, leaf included)`);
  }
  return {
    cert,
    key,
    chainPems: path.filter((c) => c !== root).map((c) => c.toString()),
    root,
    rootPem: root.toString(),
  };
}

function selfSigned(cert: X509Certificate): boolean {
  return signedBy(cert, cert);
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function bad(message: string): never {
  throw new MeshError(ERROR_CODES.INVALID_ARG, message, { nonRetryable: true });
}
