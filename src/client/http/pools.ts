// Owns one keep-alive undici Pool per endpoint origin: created on first use, closed when the endpoint leaves every cluster.
import { Pool } from 'undici';

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
  readonly #pools = new Map<string, Pool>();
  /** The per-pool connection limit each pool was created with (a cluster's circuit_breakers max_connections). */
  readonly #limits = new WeakMap<Pool, number | null>();
  /** Pools closing gracefully (left every cluster, or close() ran): destroy() still reaches them. */
  readonly #draining = new Set<Pool>();
  readonly #settings: PoolSettings;
  #closed = false;

  constructor(settings: PoolSettings = {}) {
    this.#settings = settings;
  }

  /**
   * The pool for `origin`, created on first use. After close() it returns a closed pool (dispatch then fails cleanly).
   * `maxConnections` (a cluster's circuit_breakers max_connections) caps the pool's connections, below the
   * `connections` setting; when it differs from the limit the pool was made with, the old pool drains (calls running on
   * it finish) and a new one takes new calls.
   */
  get(origin: string, maxConnections?: number): Pool {
    let pool = this.#pools.get(origin);
    const base = this.#settings.connections ?? null;
    const limit = maxConnections === undefined ? base : base === null ? maxConnections : Math.min(base, maxConnections);
    if (pool !== undefined && !pool.closed && !pool.destroyed && this.#limits.get(pool) !== limit) {
      this.#pools.delete(origin);
      this.#drain(pool);
      pool = undefined;
    }
    if (pool === undefined || pool.closed || pool.destroyed) {
      pool = new Pool(origin, {
        connections: limit,
        ...keepAliveOptions(this.#settings.keepAliveTimeoutMs),
        connectTimeout: this.#settings.connectTimeoutMs ?? 10_000,
      });
      this.#limits.set(pool, limit);
      if (this.#closed) this.#drain(pool);
      else this.#pools.set(origin, pool);
    }
    return pool;
  }

  /** Origins that currently have a pool (for tests and status). */
  origins(): readonly string[] {
    return [...this.#pools.keys()];
  }

  /**
   * Closes, gracefully, every pool whose origin is not in `keep`: requests already running on it finish first
   * (undici Pool.close), new requests are not sent to it since no compiled picker names it any more.
   */
  retain(keep: ReadonlySet<string>): string[] {
    const closed: string[] = [];
    for (const [origin, pool] of this.#pools) {
      if (keep.has(origin)) continue;
      this.#pools.delete(origin);
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
