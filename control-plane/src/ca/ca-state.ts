// The CA's persisted state in `<state-dir>/ca/`: which roots exist, which one signs, and when each changes phase.
// Layout: state.json (the phases), roots/<id>.pem (each root's certificate), roots/<id>.key.pem (generated roots' keys, 0600).
import crypto, { X509Certificate, type KeyObject } from 'node:crypto';
import { readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ERROR_CODES, MeshError } from '../../../src/core/errors.js';
import { isTrustDomain } from '../../../src/identity/spiffe.js';
import { PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, ensurePrivateDir, readIfExists, writeFileAtomic } from './secure-files.js';

/** File that records the roots' phases. */
export const CA_STATE_FILE = 'state.json';
const FORMAT_VERSION = 1;

/**
 * A root's phase: `active` signs; `next` is in the trust bundle and becomes active at `activateAtMs`; `previous` no
 * longer signs and stays in the bundle until `trustedUntilMs`, so certificates it issued keep verifying.
 */
export type RootPhase = 'active' | 'next' | 'previous';

/** One root the CA knows. `key` is held for generated roots only (an operator's root key stays with the operator). */
export interface CaRoot {
  readonly id: string;
  readonly phase: RootPhase;
  readonly origin: 'generated' | 'operator';
  readonly cert: X509Certificate;
  readonly pem: string;
  readonly key?: KeyObject;
  readonly activateAtMs?: number;
  readonly trustedUntilMs?: number;
}

/** Everything persisted about the CA. */
export interface CaStateData {
  readonly trustDomain: string;
  readonly roots: readonly CaRoot[];
}

/** A root's id: the first 16 hex digits of its SHA-256 fingerprint (stable, short enough for `weft ca status`). */
export function rootId(cert: X509Certificate): string {
  return crypto.createHash('sha256').update(cert.raw).digest('hex').slice(0, 16);
}

/**
 * Reads the CA state from `dir` (the `ca` folder), or undefined when there is none yet. Throws WEFT_ERR_IDENTITY
 * naming the file when the state exists but cannot be used (the control plane must not silently start a new CA then:
 * every certificate issued so far would stop verifying).
 */
export async function loadCaState(dir: string): Promise<CaStateData | undefined> {
  const file = path.join(dir, CA_STATE_FILE);
  const fail = (at: string, what: string): never => failState(dir, at, what);
  const text = await readIfExists(file).catch((e: unknown) => fail(file, `cannot be read: ${String(e)}`));
  if (text === undefined) return undefined;
  let parsed: { version?: unknown; trustDomain?: unknown; roots?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (e: unknown) {
    return fail(file, `is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (parsed.version !== FORMAT_VERSION || typeof parsed.trustDomain !== 'string' || !isTrustDomain(parsed.trustDomain) || !Array.isArray(parsed.roots)) {
    return fail(file, `is not a Weft CA state (expected { version: ${FORMAT_VERSION}, trustDomain, roots: [...] })`);
  }
  const roots: CaRoot[] = [];
  for (const raw of parsed.roots as unknown[]) {
    const r = raw as { id?: unknown; phase?: unknown; origin?: unknown; activateAtMs?: unknown; trustedUntilMs?: unknown };
    if (typeof r.id !== 'string' || !/^[0-9a-f]{16}$/.test(r.id) || !['active', 'next', 'previous'].includes(String(r.phase)) || !['generated', 'operator'].includes(String(r.origin))) {
      return fail(file, `has a malformed root entry: ${JSON.stringify(raw)}`);
    }
    const certFile = path.join(dir, 'roots', `${r.id}.pem`);
    const pem = await readIfExists(certFile);
    if (pem === undefined) return fail(certFile, 'is missing (the CA state names this root)');
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch (e: unknown) {
      return fail(certFile, `is not a certificate: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (rootId(cert) !== r.id) return fail(certFile, `does not hold root ${r.id} (its fingerprint differs)`);
    let key: KeyObject | undefined;
    if (r.origin === 'generated' && r.phase !== 'previous') {
      const keyFile = path.join(dir, 'roots', `${r.id}.key.pem`);
      const keyPem = await readIfExists(keyFile);
      if (keyPem === undefined) return fail(keyFile, 'is missing (the root it belongs to still signs or will)');
      try {
        key = crypto.createPrivateKey(keyPem);
      } catch (e: unknown) {
        return fail(keyFile, `is not a private key: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (!cert.checkPrivateKey(key)) return fail(keyFile, `is not the key of root ${r.id}`);
    }
    roots.push({
      id: r.id,
      phase: r.phase as RootPhase,
      origin: r.origin as CaRoot['origin'],
      cert,
      pem,
      ...(key === undefined ? {} : { key }),
      ...(typeof r.activateAtMs === 'number' ? { activateAtMs: r.activateAtMs } : {}),
      ...(typeof r.trustedUntilMs === 'number' ? { trustedUntilMs: r.trustedUntilMs } : {}),
    });
  }
  return { trustDomain: parsed.trustDomain, roots };
}

/**
 * Writes `state` into `dir`: each root's certificate (and a generated root's key, 0600) first, then state.json, then
 * deletes the files of roots no longer listed. A crash between steps leaves a state that still loads.
 */
export async function saveCaState(dir: string, state: CaStateData): Promise<void> {
  await ensurePrivateDir(path.join(dir, 'roots'));
  const keep = new Set<string>();
  for (const root of state.roots) {
    const certFile = path.join(dir, 'roots', `${root.id}.pem`);
    keep.add(`${root.id}.pem`);
    if ((await readIfExists(certFile)) !== root.pem) await writeFileAtomic(certFile, root.pem, PUBLIC_FILE_MODE);
    if (root.key !== undefined) {
      const keyFile = path.join(dir, 'roots', `${root.id}.key.pem`);
      keep.add(`${root.id}.key.pem`);
      if ((await readIfExists(keyFile)) === undefined) {
        await writeFileAtomic(keyFile, root.key.export({ type: 'pkcs8', format: 'pem' }) as string, PRIVATE_FILE_MODE);
      }
    }
  }
  const body = {
    version: FORMAT_VERSION,
    trustDomain: state.trustDomain,
    roots: state.roots.map((r) => ({
      id: r.id,
      phase: r.phase,
      origin: r.origin,
      subject: r.cert.subject.replace(/\n/g, ', '),
      notAfter: r.cert.validTo,
      ...(r.activateAtMs === undefined ? {} : { activateAtMs: r.activateAtMs }),
      ...(r.trustedUntilMs === undefined ? {} : { trustedUntilMs: r.trustedUntilMs }),
    })),
  };
  await writeFileAtomic(path.join(dir, CA_STATE_FILE), `${JSON.stringify(body, null, 2)}\n`, PRIVATE_FILE_MODE);
  for (const name of await readdir(path.join(dir, 'roots'))) {
    if (!keep.has(name) && /^[0-9a-f]{16}(\.key)?\.pem$/.test(name)) await unlink(path.join(dir, 'roots', name)).catch(() => undefined);
  }
}

function failState(dir: string, file: string, what: string): never {
  throw new MeshError(
    ERROR_CODES.IDENTITY,
    `CA state ${file} ${what}. Restore it from a backup, or move the folder ${dir} away to start a new CA (every certificate issued so far then stops verifying).`,
    { nonRetryable: true, details: { file } },
  );
}
