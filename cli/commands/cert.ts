// `weft cert issue --service <svc> --out <dir>`: a key made here, a certificate from the CA, and the trust bundle as
// files, for grpc-js-xds's file_watcher certificate provider and other file-based TLS users.
import { mkdir, writeFile, rename, chmod } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createCsr, generateWorkloadKey } from '../../src/identity/csr.js';
import { DEFAULT_NAMESPACE } from '../../src/identity/spiffe.js';
import { CliError, adminClientFor } from '../admin-client.js';
import type { CliIo } from '../output.js';

/** Usage text of `weft cert`. */
export const CERT_USAGE = `Usage: weft cert issue --service <name> --out <dir> [--namespace default] [--server <url>] [--token <operator token>]

Generates an ECDSA P-256 key on this machine, has the control plane's CA sign a certificate for
spiffe://<trust-domain>/ns/<namespace>/sa/<name> (authorized by the operator token), and writes
  <dir>/key.pem   the private key (0600; it never leaves this machine)
  <dir>/cert.pem  the certificate chain, leaf first
  <dir>/ca.pem    the trust bundle (every root the mesh trusts)
Files are replaced atomically, so a file_watcher certificate provider never reads half a file. The
certificate lives as long as the control plane's --cert-ttl: run this again before it expires (e.g. from cron).`;

/** Runs `weft cert issue`; returns the exit code. */
export async function runCert(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      service: { type: 'string' },
      namespace: { type: 'string' },
      out: { type: 'string' },
      server: { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    io.out(CERT_USAGE);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'issue') throw new CliError(CERT_USAGE, 2);
  if (values.service === undefined || values.out === undefined) throw new CliError(`--service and --out are required\n\n${CERT_USAGE}`, 2);
  const client = await adminClientFor(values, io.env);
  const key = generateWorkloadKey();
  // The CSR names no identity: the CA decides it from --service and --namespace.
  const ca = (await client.requestOk('GET', '/v1/ca')) as { trustDomain?: string };
  const spiffeId = `spiffe://${ca.trustDomain ?? 'weft.local'}/ns/${values.namespace ?? DEFAULT_NAMESPACE}/sa/${values.service}`;
  const csr = createCsr(key, spiffeId);
  const body = await client.requestOk('POST', '/v1/certificates', JSON.stringify({ service: values.service, ...(values.namespace ? { namespace: values.namespace } : {}), csr: csr.pem }));
  const chain = body['certificateChain'];
  const bundle = body['trustBundle'];
  if (!Array.isArray(chain) || !Array.isArray(bundle)) throw new CliError('the control plane answered without a certificate chain and trust bundle');
  await mkdir(values.out, { recursive: true });
  await replace(path.join(values.out, 'key.pem'), key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  await replace(path.join(values.out, 'cert.pem'), chain.join(''), 0o644);
  await replace(path.join(values.out, 'ca.pem'), bundle.join(''), 0o644);
  io.out(`${String(body['spiffeId'])}: wrote ${path.join(values.out, 'key.pem')}, cert.pem and ca.pem; expires ${new Date(Number(body['expiresAtMs'])).toISOString()}`);
  return 0;
}

async function replace(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, file);
}
