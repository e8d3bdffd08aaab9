// Parses the control plane's `store` option and opens the one etcd client every etcd-backed part of a replica shares.
import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry, type IBackoff } from 'cockatiel';
import { Etcd3, isRecoverableError } from 'etcd3';
import { ERROR_CODES, MeshError, invalidArg } from '../../../src/core/errors.js';

/** The default key prefix under which a control plane keeps everything in etcd. */
export const DEFAULT_ETCD_PREFIX = '/weft/';
/** The etcd client port assumed when a host in the store URL has none. */
export const DEFAULT_ETCD_PORT = 2379;
/** How long start-up waits for etcd to answer before failing (ms). */
export const DEFAULT_ETCD_CONNECT_TIMEOUT_MS = 5_000;
/** Deadline of each etcd call made on a request path (apply, register, keep-alive) (ms). */
export const ETCD_CALL_TIMEOUT_MS = 5_000;

/** A parsed `etcd://host:port[,host:port...][/prefix]` store URL. */
export interface EtcdStoreUrl {
  /** Client URLs, `http://host:port`, in the order given. */
  readonly hosts: readonly string[];
  /** Key prefix, always starting and ending with `/` (default `/weft/`). */
  readonly prefix: string;
}

/** Where each part of a control plane keeps its data under the store prefix (docs/configuration.md "etcd store"). */
export interface EtcdKeys {
  /** One key per configuration resource: `<prefix>config/<Kind>/<name>` = its YAML document. */
  readonly config: string;
  /** Bumped by every apply/delete; each edit's transaction compares its mod revision (optimistic concurrency). */
  readonly configGuard: string;
  /** One key per registered endpoint: `<prefix>registry/<lease id>` = its JSON, under that etcd lease. */
  readonly registry: string;
  /** One key per live replica: `<prefix>replicas/<id>` = its JSON, under the replica's own lease. */
  readonly replicas: string;
  /** Shared secrets: CA state, bootstrap-token key, admin token, the used-token ledger. */
  readonly secrets: string;
}

/** The key layout under `prefix` (which ends with `/`). */
export function etcdKeys(prefix: string): EtcdKeys {
  return {
    config: `${prefix}config/`,
    configGuard: `${prefix}meta/config-guard`,
    registry: `${prefix}registry/`,
    replicas: `${prefix}replicas/`,
    secrets: `${prefix}secrets/`,
  };
}

/** True when a `store` value names etcd (starts with `etcd://`); anything else is a config directory. */
export function isEtcdStore(store: string): boolean {
  return store.startsWith('etcd://');
}

/**
 * Parses `etcd://host:2379[,host:2379...][/prefix]`. Throws WEFT_ERR_INVALID_ARG naming the URL and the bad part:
 * a missing host, a port outside 1..65535, a prefix with empty or `..` segments, or another scheme.
 */
export function parseEtcdStoreUrl(url: string): EtcdStoreUrl {
  const bad = (why: string): never => invalidArg(`store '${url}': ${why} (expected etcd://host:2379[,host:2379...][/prefix])`);
  if (!isEtcdStore(url)) bad('not an etcd:// URL');
  const rest = url.slice('etcd://'.length);
  const slash = rest.indexOf('/');
  const hostList = slash === -1 ? rest : rest.slice(0, slash);
  const prefixPart = slash === -1 ? '' : rest.slice(slash + 1);
  if (hostList === '') bad('no host');
  const hosts = hostList.split(',').map((h) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d+))?$/.exec(h);
    if (m === null) return bad(`'${h}' is not host[:port]`);
    const port = m[2] === undefined ? DEFAULT_ETCD_PORT : Number(m[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return bad(`'${h}': port ${m[2]} is not 1..65535`);
    return `http://${m[1]}:${port}`;
  });
  const segments = prefixPart.split('/').filter((s, i, all) => !(s === '' && i === all.length - 1));
  if (prefixPart !== '' && segments.some((s) => s === '' || s === '.' || s === '..')) bad(`prefix '/${prefixPart}' has an empty, '.' or '..' segment`);
  return { hosts, prefix: prefixPart === '' ? DEFAULT_ETCD_PREFIX : `/${segments.join('/')}/` };
}

/** Options of openEtcd. */
export interface OpenEtcdOptions {
  /** How long to wait for etcd to answer before rejecting (ms, default 5000). */
  readonly connectTimeoutMs?: number;
}

/**
 * Creates an etcd client for `url` and checks that etcd answers (a status call) within `connectTimeoutMs`. Rejects
 * with WEFT_ERR_STORE_UNAVAILABLE naming the hosts when it does not (the client is closed then); never hangs.
 * Calls made later fail fast (one retry, a per-host breaker) rather than queueing: callers keep their last good state.
 */
export async function openEtcd(url: EtcdStoreUrl, options: OpenEtcdOptions = {}): Promise<Etcd3> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_ETCD_CONNECT_TIMEOUT_MS;
  const client = new Etcd3({
    hosts: [...url.hosts],
    dialTimeout: timeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
    faultHandling: {
      // One retry on another host; a host failing 3 times in a row is skipped for 2 s (etcd3's default is 5 s).
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 2_000, breaker: new ConsecutiveBreaker(3) }),
      // Watches reconnect within 2 s at most, so a replica catches up soon after etcd returns.
      watchBackoff: cappedBackoff(100),
    },
  });
  try {
    await withTimeout(client.maintenance.status(), timeoutMs);
    return client;
  } catch (e: unknown) {
    client.close();
    throw new MeshError(
      ERROR_CODES.STORE_UNAVAILABLE,
      `etcd at ${url.hosts.join(', ')} is unreachable (start-up waits at most ${timeoutMs} ms): ${e instanceof Error ? e.message : String(e)}; is etcd running there?`,
      { cause: e, retryable: true, details: { hosts: url.hosts } },
    );
  }
}

/** Doubling delays from `ms` capped at 2 s (etcd3 reads `duration` and calls `next()` after each failed attempt). */
function cappedBackoff(ms: number): IBackoff<unknown> {
  return { duration: ms, next: () => cappedBackoff(Math.min(2_000, ms * 2)) };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
