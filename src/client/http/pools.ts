// Owns one keep-alive undici Pool per endpoint origin (and mTLS peer): created on first use, closed when the endpoint
// leaves every cluster. mTLS pools connect with the current workload certificate and accept only the expected SPIFFE IDs.
import { buildConnector, Pool } from 'undici';
import type { SecureContext } from 'node:tls';
import { spiffeServerCheck, type MeshTls } from '../../identity/mesh-tls.js';
import { endpointTlsKey, type EndpointTls } from '../endpoint-tls.js';

/**
 * How long a client keeps an idle keep-alive connection when the server says nothing (ms): undici's default, below
 * Node's server default (5 s) and far below a Weft server's (DEFAULT_SERVER_KEEP_ALIVE_TIMEOUT_MS).
 */
export const DEFAULT_CLIENT_IDLE_TIMEOUT_MS = 4_000;
/**
 * The margin kept below a server's advertised keep-alive (`Keep-Alive: timeout=N`), in ms: the client stops reusing
 * an idle connection this long before the server would close it, so a request is never written to a connection the
 * server is closing (the keep-alive race). A server advertising no more than this gets no reuse at all.
 */
export const KEEP_ALIVE_MARGIN_MS = 2_000;
/** Most a client keeps an idle connection, whatever the server advertises (ms). */
export const MAX_CLIENT_IDLE_TIMEOUT_MS = 60_000;

/**
 * The keep-alive options of every undici Pool and Agent Weft makes (endpoint pools, pass-through, the disabled
 * mesh): the rule that a client's idle timeout stays below the server's. Idle sockets are also checked for a
 * pending close before reuse (undici ≥ 7.2 does this itself).
 */
export function keepAliveOptions(idleTimeoutMs: number | undefined): { keepAliveTimeout: number; keepAliveMaxTimeout: number; keepAliveTimeoutThreshold: number } {
  return {
    keepAliveTimeout: idleTimeoutMs ?? DEFAULT_CLIENT_IDLE_TIMEOUT_MS,
    keepAliveMaxTimeout: MAX_CLIENT_IDLE_TIMEOUT_MS,
    keepAliveTimeoutThreshold: KEEP_ALIVE_MARGIN_MS,
  };
}

/** What an endpoint's connections need for mTLS: the SPIFFE IDs its server may present (none: any mesh workload). */
export type PoolTls = EndpointTls;

/** A stable key of a PoolTls (pools to the same origin with other peer IDs are other pools). */
export const poolTlsKey: (tls: PoolTls) => string = endpointTlsKey;

/** Connection settings for endpoint pools. */
export interface PoolSettings {
  /** Most connections per endpoint; undefined = undici's default (no limit). */
  readonly connections?: number;
  /** How long an idle keep-alive connection is kept when the server advertises no timeout (ms); default 4000. */
  readonly keepAliveTimeoutMs?: number;
  /** TCP connect timeout (ms); default 10000 (undici's). */
  readonly connectTimeoutMs?: number;
}

/** Endpoint pools by origin (`http://10.0.0.5:8080`). Not shared between dispatchers. */
export class PoolRegistry {
  /** By key: the origin, plus `|mtls|<peer IDs>` for mTLS pools. */
  readonly #pools = new Map<string, Pool>();
  /** The origin (`http://ip:port`) each pool serves, for retain(). */
  readonly #origins = new WeakMap<Pool, string>();
  readonly #tls: MeshTls | undefined;
  /** The per-pool connection limit each pool was created with (a cluster's circuit_breakers max_connections). */
  readonly #limits = new WeakMap<Pool, number | null>();
  /** Pools closing gracefully (left every cluster, or close() ran): destroy() still reaches them. */
  readonly #draining = new Set<Pool>();
  readonly #settings: PoolSettings;
  #closed = false;

  /** `tls`: the process's workload identity, for mTLS pools (none: get() with `tls` throws). */
  constructor(settings: PoolSettings = {}, tls?: MeshTls) {
    this.#settings = settings;
    this.#tls = tls;
  }

  /** True when this registry can make mTLS pools (the process has a workload identity). */
  get mtls(): boolean {
    return this.#tls !== undefined;
  }

  /**
   * The pool for `origin`, created on first use. After close() it returns a closed pool (dispatch then fails cleanly).
   * `maxConnections` (a cluster's circuit_breakers max_connections) caps the pool's connections, below the
   * `connections` setting; when it differs from the limit the pool was made with, the old pool drains (calls running on
   * it finish) and a new one takes new calls.
   */
  get(origin: string, maxConnections?: number, tls?: PoolTls): Pool {
    const meshTls = this.#tls;
    if (tls !== undefined && meshTls === undefined) throw new TypeError('PoolRegistry: an mTLS pool needs the workload identity');
    const key = tls === undefined ? origin : `${origin}|mtls|${poolTlsKey(tls)}`;
    let pool = this.#pools.get(key);
    const base = this.#settings.connections ?? null;
    const limit = maxConnections === undefined ? base : base === null ? maxConnections : Math.min(base, maxConnections);
    if (pool !== undefined && !pool.closed && !pool.destroyed && this.#limits.get(pool) !== limit) {
      this.#pools.delete(key);
      this.#drain(pool);
      pool = undefined;
    }
    if (pool === undefined || pool.closed || pool.destroyed) {
      const connectTimeout = this.#settings.connectTimeoutMs ?? 10_000;
      pool =
        tls === undefined
          ? new Pool(origin, { connections: limit, ...keepAliveOptions(this.#settings.keepAliveTimeoutMs), connectTimeout })
          : new Pool(`https://${origin.slice('http://'.length)}`, {
              connections: limit,
              ...keepAliveOptions(this.#settings.keepAliveTimeoutMs),
              connect: meshConnector(meshTls!, tls, origin, connectTimeout),
            });
      this.#limits.set(pool, limit);
      this.#origins.set(pool, origin);
      if (this.#closed) this.#drain(pool);
      else this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Origins that currently have a pool (for tests and status). */
  origins(): readonly string[] {
    return [...new Set([...this.#pools.values()].map((p) => this.#origins.get(p)!))];
  }

  /**
   * Closes, gracefully, every pool whose origin is not in `keep`: requests already running on it finish first
   * (undici Pool.close), new requests are not sent to it since no compiled picker names it any more.
   */
  retain(keep: ReadonlySet<string>): string[] {
    const closed: string[] = [];
    for (const [key, pool] of this.#pools) {
      const origin = this.#origins.get(pool)!;
      if (keep.has(origin)) continue;
      this.#pools.delete(key);
      closed.push(origin);
      this.#drain(pool);
    }
    return closed;
  }

  #drain(pool: Pool): Promise<void> {
    this.#draining.add(pool);
    return pool
      .close()
      .catch(() => {})
      .finally(() => this.#draining.delete(pool));
  }

  /** Closes every pool, waiting for running requests. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => this.#drain(p)));
  }

  /** Destroys every pool at once, failing running requests with `err`. */
  async destroy(err?: Error): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values(), ...this.#draining];
    this.#pools.clear();
    this.#draining.clear();
    await Promise.all(pools.map((p) => p.destroy(err ?? null).catch(() => {})));
  }
}

/**
 * undici's connector for an mTLS pool: TLS with the current workload certificate (the connector is rebuilt only when the
 * certificate changes, so sessions are reused between rotations) and the SPIFFE check of `tls` (host names ignored).
 * Without a certificate the connection fails at once with WEFT_ERR_IDENTITY (nothing was sent: retried elsewhere or
 * returned as is).
 */
function meshConnector(meshTls: MeshTls, tls: PoolTls, origin: string, timeoutMs: number): buildConnector.connector {
  const check = spiffeServerCheck(tls.peerIds, `the server at ${origin}`);
  let built: { readonly context: SecureContext; readonly connect: buildConnector.connector } | undefined;
  return (opts, callback) => {
    const context = meshTls.context();
    if (context === undefined) return void callback(meshTls.noCertificateError(`the call to ${origin}`), null);
    if (built?.context !== context) built = { context, connect: buildConnector({ secureContext: context, checkServerIdentity: check, timeout: timeoutMs }) };
    built.connect(opts, callback);
  };
}
