// Each control-plane replica on etcd announces itself under a lease of its own, so `weft status` lists the live ones
// and a replica that dies drops out of the list when its lease expires.
import type { Etcd3, Lease } from 'etcd3';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import { etcdKeys } from './etcd-client.js';

/** TTL of a replica's presence lease (s): a replica that dies leaves the list within this time. */
export const REPLICA_LEASE_TTL_S = 10;

/** One live replica, as `GET /v1/status` lists it. */
export interface ReplicaInfo {
  /** `<host name>:<xDS port>`: stable across restarts of the same replica. */
  readonly id: string;
  /** `host:port` of its xDS + registry gRPC server. */
  readonly xdsAddress: string;
  /** `http://host:port` of its admin API. */
  readonly adminUrl: string;
  /** When it started (ISO 8601). */
  readonly startedAt: string;
}

/**
 * Keeps `<prefix>replicas/<id>` = this replica's ReplicaInfo under a lease etcd3 keeps alive. If the lease is lost
 * (etcd was unreachable longer than the TTL), it is granted again until close(), retrying every 2 s. Never throws.
 */
export class ReplicaPresence {
  readonly #client: Etcd3;
  readonly #key: string;
  readonly #prefix: string;
  readonly #info: ReplicaInfo;
  readonly #logger: Logger;
  #lease: Lease | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  /** Starts announcing `info` under `prefix` (the store prefix, ending with `/`). */
  constructor(client: Etcd3, prefix: string, info: ReplicaInfo, logger: Logger = NOOP_LOGGER) {
    this.#client = client;
    this.#prefix = etcdKeys(prefix).replicas;
    this.#key = this.#prefix + info.id;
    this.#info = info;
    this.#logger = logger;
    this.#announce();
  }

  /** The replicas whose presence etcd holds now, sorted by id; rejects when etcd cannot be read. */
  async list(): Promise<readonly ReplicaInfo[]> {
    const values = await this.#client.getAll().prefix(this.#prefix).strings();
    const out: ReplicaInfo[] = [];
    for (const [key, json] of Object.entries(values)) {
      try {
        out.push(JSON.parse(json) as ReplicaInfo);
      } catch {
        this.#logger.warn('replicas: ignoring a malformed presence key', { key });
      }
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Stops announcing and revokes the lease, so the replica leaves the list at once. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const lease = this.#lease;
    this.#lease = undefined;
    await lease?.revoke().catch(() => undefined);
  }

  #announce(): void {
    if (this.#closed) return;
    const lease = this.#client.lease(REPLICA_LEASE_TTL_S, { autoKeepAlive: true });
    this.#lease = lease;
    const again = (why: string) => {
      if (this.#closed || this.#lease !== lease) return;
      this.#lease = undefined;
      this.#logger.warn('replicas: presence lease lost; announcing again', { error: why });
      void lease.revoke().catch(() => undefined);
      this.#retry = setTimeout(() => this.#announce(), 2_000);
      this.#retry.unref();
    };
    lease.on('lost', (e: Error) => again(e.message));
    lease
      .put(this.#key)
      .value(JSON.stringify(this.#info))
      .exec()
      .catch((e: unknown) => again(String(e)));
  }
}
