// Opens the control plane's security parts in one place: CA, bootstrap tokens, CSR rate limit, xDS caller
// authentication and the admin token, so control-plane.ts only wires them to its servers.
import crypto from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { ERROR_CODES, MeshError } from '../../../src/core/errors.js';
import type { Logger } from '../../../src/core/logger.js';
import { CertificateAuthority, type SharedCaState } from '../ca/authority.js';
import type { OperatorCaFiles } from '../ca/operator-ca.js';
import { DEFAULT_CSR_RATE_PER_SECOND, RateLimiter } from '../ca/rate-limiter.js';
import type { SignDeps } from '../ca/sign.js';
import { SYSTEM_CLOCK, type RegistryClock } from '../registry/registry.js';
import { ADMIN_TOKEN_FILE, loadOrCreateAdminToken, randomAdminToken } from './admin-token.js';
import { BootstrapTokens } from './bootstrap-tokens.js';
import { XDS_AUTH_MODES, XdsAuthenticator, type XdsAuthMode } from './xds-auth.js';
import { etcdKeys } from '../etcd/etcd-client.js';
import { EtcdTokenLedger, downloadDir, followPrefix, sharedSecret, uploadDir, withDownloadedDir, withEtcdLock, type PrefixFollower } from '../etcd/etcd-secrets.js';
import { loadCaState } from '../ca/ca-state.js';

/** The security options of startControlPlane (docs/configuration.md "Control plane security"). */
export interface SecurityOptions {
  /** `<state-dir>`: CA in `ca/`, token key and used tokens in `tokens/`, `admin-token`. `false`: all in memory. */
  readonly stateDir: string | false;
  /** `--trust-domain` (default `weft.local`, or the CA's own once created). */
  readonly trustDomain?: string;
  /** `--cert-ttl` in ms (default 24 h). */
  readonly certTtlMs?: number;
  /** `--ca-cert`, `--ca-key`, `--ca-chain`: sign with the operator's CA. */
  readonly caFiles?: OperatorCaFiles;
  /** `--xds-auth` (default `loopback-plaintext`). */
  readonly xdsAuth?: XdsAuthMode;
  /** `--csr-rate`: CSRs signed per second at most (default 50; 0 = no limit). */
  readonly csrRatePerSecond?: number;
  /** The operator token itself (tests, embedding); wins over `adminTokenFile`. */
  readonly adminToken?: string;
  /** `--admin-token-file` (default `<state-dir>/admin-token`; with no state dir, a random token lives in memory). */
  readonly adminTokenFile?: string;
  readonly clock?: RegistryClock;
  readonly logger: Logger;
  /**
   * Keep the security state in etcd, shared by every replica (docs/security-design.md "Replicas on etcd"): the CA's
   * state, the token signing key and, unless `adminToken`/`adminTokenFile` is given, the admin token are created once
   * by the first replica and loaded by the others; bootstrap-token uses are counted in etcd. `stateDir` is unused then.
   */
  readonly etcd?: { readonly client: Etcd3; readonly prefix: string };
}

/** The opened security parts. */
export interface Security {
  readonly ca: CertificateAuthority;
  readonly tokens: BootstrapTokens;
  readonly authenticator: XdsAuthenticator;
  readonly signDeps: SignDeps;
  readonly adminToken: string;
  /** Where the admin token is kept (undefined when it lives in memory only). */
  readonly adminTokenFile: string | undefined;
  /** Stops the CA's timers and waits for writes in flight. */
  close(): Promise<void>;
}

/** Opens every part; rejects with WEFT_ERR_INVALID_ARG (bad option) or WEFT_ERR_IDENTITY (unusable state). */
export async function openSecurity(options: SecurityOptions): Promise<Security> {
  const { logger } = options;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const xdsAuth = options.xdsAuth ?? 'loopback-plaintext';
  if (!XDS_AUTH_MODES.includes(xdsAuth)) invalid(`--xds-auth must be ${XDS_AUTH_MODES.join(' or ')}, got '${String(xdsAuth)}'`);
  const rate = options.csrRatePerSecond ?? DEFAULT_CSR_RATE_PER_SECOND;
  if (!Number.isFinite(rate) || rate < 0) invalid(`--csr-rate must be a number ≥ 0, got ${rate}`);
  if (options.adminToken !== undefined && options.adminToken.length < 16) invalid('adminToken must be at least 16 characters');

  if (options.etcd !== undefined) return openSharedSecurity(options, options.etcd, clock, xdsAuth, rate);
  const ca = await openCa(options, options.stateDir, clock);
  try {
    const tokens = await BootstrapTokens.open({ stateDir: options.stateDir, trustDomain: ca.trustDomain, nowMs: () => clock.nowMs() });
    const adminTokenFile = options.adminToken !== undefined ? undefined : (options.adminTokenFile ?? (options.stateDir === false ? undefined : path.join(options.stateDir, ADMIN_TOKEN_FILE)));
    const adminToken = await resolveAdminToken(options, adminTokenFile, async () => {
      logger.warn('admin API: no state dir and no --admin-token-file; the operator token lives in memory only (ControlPlane.adminToken)');
      return randomAdminToken();
    });
    return assemble(options, ca, tokens, adminToken, adminTokenFile, clock, xdsAuth, rate, async () => undefined);
  } catch (e: unknown) {
    await ca.close();
    throw e;
  }
}

/**
 * The etcd variant of openSecurity. Under one etcd lock (so two replicas starting at once cannot both create a CA),
 * the CA's state directory is loaded from `<prefix>secrets/ca/` into a private temp dir, opened by the same
 * CertificateAuthority code as on disk, and saved back; the token key and admin token are create-if-absent keys.
 * Afterwards every replica follows `secrets/ca/` (a rotation made through one is adopted by all), and a rotation
 * runs under the same lock from the latest state and is saved back to etcd.
 */
async function openSharedSecurity(
  options: SecurityOptions,
  etcd: { readonly client: Etcd3; readonly prefix: string },
  clock: RegistryClock,
  xdsAuth: XdsAuthMode,
  rate: number,
): Promise<Security> {
  const { client } = etcd;
  const secrets = etcdKeys(etcd.prefix).secrets;
  const { logger } = options;
  const tempDir = await mkdtemp(path.join(tmpdir(), 'weft-ca-'));
  const removeTemp = () => rm(tempDir, { recursive: true, force: true });
  const lockKey = `${secrets}lock`;
  const caPrefix = `${secrets}ca/`;
  const caDir = path.join(tempDir, 'ca');
  // The follower and a rotation take turns: one replaces the CA's roots while the other saves and uploads them.
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = turn.then(fn);
    turn = run.catch(() => undefined);
    return run;
  };
  const latest = () => withDownloadedDir(client, caPrefix, tempDir, (dir) => loadCaState(dir));
  let adoptLatest = async (): Promise<void> => undefined; // set once the CA is open
  const shared: SharedCaState = {
    update: (change) =>
      inTurn(async () => {
        try {
          return await withEtcdLock(client, lockKey, async (fence) => {
            // etcd is the truth: whatever fails once the lock is held, go back to what it holds (now, or when the
            // watch reconnects) rather than keep a change only this replica knows.
            const rollBack = () => adoptLatest().catch(() => undefined);
            let result;
            try {
              result = await change(await latest());
            } catch (e: unknown) {
              // A refusal changed nothing (rolling back is a no-op), but a rotation whose local save failed is
              // already in memory and pushed: undo it too.
              await rollBack();
              throw e;
            }
            try {
              await uploadDir(client, caPrefix, caDir, fence);
            } catch (e: unknown) {
              await rollBack();
              throw storeUnavailable('the CA change was not saved to etcd, so no replica keeps it; try again', e);
            }
            return result;
          });
        } catch (e: unknown) {
          if (e instanceof MeshError) throw e; // a refusal of the change itself, or the wrapped failure above
          throw storeUnavailable('cannot change the CA: etcd did not answer; nothing changed', e);
        }
      }),
  };
  try {
    return await withEtcdLock(client, lockKey, async (fence) => {
      await downloadDir(client, caPrefix, caDir);
      const ca = await openCa(options, tempDir, clock, shared);
      let follower: PrefixFollower | undefined;
      try {
        await uploadDir(client, caPrefix, caDir, fence);
        adoptLatest = async () => {
          const state = await latest();
          if (state !== undefined) ca.adopt(state);
        };
        follower = await followPrefix(client, caPrefix, () => inTurn(adoptLatest), logger);
        const keyPem = await sharedSecret(client, `${secrets}token-key.pem`, () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
        const tokens = await BootstrapTokens.open({
          stateDir: false,
          trustDomain: ca.trustDomain,
          nowMs: () => clock.nowMs(),
          keyPem: keyPem.value,
          ledger: new EtcdTokenLedger(client, `${secrets}used-tokens/`),
        });
        const adminTokenFile = options.adminToken === undefined ? options.adminTokenFile : undefined;
        const adminToken = await resolveAdminToken(options, adminTokenFile, async () => {
          const shared = await sharedSecret(client, `${secrets}admin-token`, randomAdminToken);
          if (shared.created) logger.info('admin API: created the operator token shared by every replica', { key: `${secrets}admin-token` });
          return shared.value;
        });
        const following = follower;
        return assemble(options, ca, tokens, adminToken, adminTokenFile, clock, xdsAuth, rate, async () => {
          await following.close();
          await removeTemp();
        });
      } catch (e: unknown) {
        await follower?.close();
        await ca.close();
        throw e;
      }
    });
  } catch (e: unknown) {
    await removeTemp();
    throw e;
  }
}

function openCa(options: SecurityOptions, stateDir: string | false, clock: RegistryClock, shared?: SharedCaState): Promise<CertificateAuthority> {
  return CertificateAuthority.open({
    ...(shared === undefined ? {} : { shared }),
    stateDir,
    ...(options.trustDomain === undefined ? {} : { trustDomain: options.trustDomain }),
    ...(options.certTtlMs === undefined ? {} : { certTtlMs: options.certTtlMs }),
    ...(options.caFiles === undefined ? {} : { operator: options.caFiles }),
    clock,
    logger: options.logger,
  });
}

/** The operator token: `adminToken`, else the one in `file` (created if missing), else what `otherwise` gives. */
async function resolveAdminToken(options: SecurityOptions, file: string | undefined, otherwise: () => Promise<string>): Promise<string> {
  if (options.adminToken !== undefined) return options.adminToken;
  if (file !== undefined) return loadOrCreateAdminToken(file, options.logger);
  return otherwise();
}

function assemble(
  options: SecurityOptions,
  ca: CertificateAuthority,
  tokens: BootstrapTokens,
  adminToken: string,
  adminTokenFile: string | undefined,
  clock: RegistryClock,
  xdsAuth: XdsAuthMode,
  rate: number,
  cleanup: () => Promise<void>,
): Security {
  const { logger } = options;
  const authenticator = new XdsAuthenticator({ mode: xdsAuth, ca, tokens, nowMs: () => clock.nowMs(), logger });
  const limiter = new RateLimiter(rate, { nowMs: () => clock.nowMs() });
  return {
    ca,
    tokens,
    authenticator,
    signDeps: { ca, tokens, limiter, logger },
    adminToken,
    adminTokenFile,
    async close() {
      await ca.close();
      await tokens.close();
      await cleanup();
    },
  };
}

function storeUnavailable(what: string, cause: unknown): MeshError {
  return new MeshError(ERROR_CODES.STORE_UNAVAILABLE, `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, retryable: true });
}

function invalid(message: string): never {
  throw new MeshError(ERROR_CODES.INVALID_ARG, message, { nonRetryable: true });
}
