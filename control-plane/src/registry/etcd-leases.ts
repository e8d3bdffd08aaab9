// Registry leases kept in etcd: each registration is a key under an etcd lease with its TTL, so a lease granted through
// one replica is kept alive or revoked through any other, expires by etcd's clock, and outlives the replica.
import type { Etcd3, Watcher } from 'etcd3';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import type { RegisteredEndpoint } from '../model.js';
import { etcdKeys } from '../etcd/etcd-client.js';
import { clampTtlMs, validateRegistration, type EndpointRegistration, type Lease, type LeaseService, type PersistedLease, type Registry, type RegistryResult } from './registry.js';

/** Options of EtcdLeases.open. */
export interface EtcdLeasesOptions {
  /** A connected client (etcd-client.ts openEtcd); not closed by close(). */
  readonly client: Etcd3;
  /** Store key prefix, ending with `/`. */
  readonly prefix: string;
  /** This replica's view: kept equal to what etcd holds (replaceAll), it drives translation and `registry.onChange`. */
  readonly registry: Registry;
  readonly logger?: Logger;
}

/**
 * The LeaseService of a replica on etcd. Register grants an etcd lease (TTL rounded up to whole seconds; etcd may
 * raise very short ones to its minimum, and the granted TTL is what is returned) and puts `<prefix>registry/<lease id>`
 * under it; KeepAlive and Deregister act on the etcd lease, whichever replica granted it. Every replica watches the
 * prefix and mirrors it into its Registry view. When etcd is down, calls answer UNAVAILABLE (the SDK retries) and
 * the view keeps its last endpoints: no replica drops endpoints because it lost etcd. Methods never throw.
 */
export class EtcdLeases implements LeaseService {
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #registry: Registry;
  readonly #logger: Logger;
  readonly #leases = new Map<string, PersistedLease>();
  #watcher: Watcher | undefined;
  #syncScheduled = false;
  #resyncing: Promise<void> | undefined;
  #closed = false;

  private constructor(options: EtcdLeasesOptions) {
    this.#client = options.client;
    this.#prefix = etcdKeys(options.prefix).registry;
    this.#registry = options.registry;
    this.#logger = options.logger ?? NOOP_LOGGER;
  }

  /** Reads the leases etcd holds into `registry` and starts watching. Rejects only if etcd cannot be read at all. */
  static async open(options: EtcdLeasesOptions): Promise<EtcdLeases> {
    const leases = new EtcdLeases(options);
    const revision = await leases.#resync();
    await leases.#watch(revision);
    return leases;
  }

  async register(endpoint: EndpointRegistration, ttlMs = 0): Promise<RegistryResult<Lease>> {
    const invalid = validateRegistration(endpoint);
    if (invalid) return { ok: false, error: invalid };
    const wantMs = clampTtlMs(ttlMs, this.#registry.defaultTtlMs);
    let id: string;
    let grantedMs: number;
    try {
      const granted = await this.#client.leaseClient.leaseGrant({ TTL: Math.ceil(wantMs / 1000), ID: 0 });
      id = String(granted.ID);
      grantedMs = Number(granted.TTL) * 1000;
    } catch (e: unknown) {
      return unavailable('grant a lease', e);
    }
    const lease: PersistedLease = Object.freeze({
      leaseId: id,
      service: endpoint.service,
      portName: endpoint.portName ?? '',
      address: endpoint.address,
      port: endpoint.port,
      nodeId: endpoint.nodeId ?? '',
      locality: Object.freeze({ region: endpoint.locality?.region ?? '', zone: endpoint.locality?.zone ?? '', subZone: endpoint.locality?.subZone ?? '' }),
      weight: endpoint.weight === undefined || endpoint.weight === 0 ? 1 : endpoint.weight,
      labels: Object.freeze({ ...endpoint.labels }),
      ttlMs: grantedMs,
    });
    try {
      await this.#client.put(this.#prefix + id).value(JSON.stringify(lease)).lease(id).exec();
    } catch (e: unknown) {
      await this.#revoke(id);
      return unavailable('store the registration', e);
    }
    // A new lease for an endpoint already registered replaces the old one (as the in-process Registry does); revoke
    // the old lease so its key cannot resurface in a replica's view when the new lease ends first.
    const replaced = this.#registry.endpoints().find((e) => e.leaseId !== id && sameEndpoint(e, lease));
    if (replaced !== undefined) void this.#revoke(replaced.leaseId);
    this.#leases.set(id, lease);
    if (replaced !== undefined) this.#leases.delete(replaced.leaseId);
    this.#publish();
    this.#logger.debug('registry: registered in etcd', { leaseId: id, service: lease.service, address: lease.address, port: lease.port, replaced: replaced?.leaseId });
    return { ok: true, value: Object.freeze({ leaseId: id, ttlMs: grantedMs }) };
  }

  async keepAlive(leaseId: string): Promise<RegistryResult<Lease>> {
    if (!/^[1-9]\d{0,18}$/.test(leaseId)) return notFound(leaseId);
    try {
      const stream = await this.#client.leaseClient.leaseKeepAlive();
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('keep-alive timed out')), 5_000);
        stream.on('data', (r: { TTL: string }) => {
          clearTimeout(timer);
          resolve(r);
        });
        stream.on('error', (e: Error) => {
          clearTimeout(timer);
          reject(e);
        });
        stream.write({ ID: leaseId });
      }).finally(() => stream.end());
      const ttlS = Number(res.TTL);
      if (!(ttlS > 0)) return notFound(leaseId);
      return { ok: true, value: Object.freeze({ leaseId, ttlMs: ttlS * 1000 }) };
    } catch (e: unknown) {
      return unavailable('keep the lease alive', e);
    }
  }

  async deregister(leaseId: string): Promise<boolean> {
    if (!/^[1-9]\d{0,18}$/.test(leaseId)) return false;
    const removed = await this.#revoke(leaseId);
    if (this.#leases.delete(leaseId)) this.#publish();
    return removed;
  }

  get(leaseId: string): RegisteredEndpoint | undefined {
    return this.#registry.get(leaseId);
  }

  /** Stops watching; leases stay in etcd (the workloads keep them alive through another replica). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    await watcher?.cancel().catch(() => undefined);
    await this.#resyncing?.catch(() => undefined);
  }

  /** Revokes etcd lease `id` (its key goes with it); false if it was already gone or etcd could not be reached. */
  async #revoke(id: string): Promise<boolean> {
    try {
      await this.#client.leaseClient.leaseRevoke({ ID: id });
      return true;
    } catch (e: unknown) {
      if (!/not found/i.test(String(e))) this.#logger.warn('registry: cannot revoke an etcd lease; it expires by its TTL', { leaseId: id, error: String(e) });
      return false;
    }
  }

  async #watch(revision: string): Promise<void> {
    const watcher = await this.#client
      .watch()
      .prefix(this.#prefix)
      .startRevision(String(BigInt(revision) + 1n))
      .create();
    this.#watcher = watcher;
    watcher.on('put', (kv) => {
      const lease = parseLease(kv.key.toString().slice(this.#prefix.length), kv.value.toString());
      if (lease === undefined) {
        this.#logger.warn('registry: ignoring a malformed registration in etcd', { key: kv.key.toString() });
        return;
      }
      this.#leases.set(lease.leaseId, lease);
      this.#schedulePublish();
    });
    watcher.on('delete', (kv) => {
      if (this.#leases.delete(kv.key.toString().slice(this.#prefix.length))) this.#schedulePublish();
    });
    // After a reconnect, read everything once: leases that expired while this replica was cut off go then.
    watcher.on('connected', () => {
      if (!this.#closed) this.#resyncing = this.#resync().then(() => undefined, () => undefined);
    });
    watcher.on('disconnected', (e: Error) => this.#logger.warn('registry: etcd watch lost; keeping the last known endpoints', { error: e.message }));
    watcher.on('error', (e: Error) => this.#logger.error('registry: etcd watch failed', { error: e.message }));
  }

  /** Replaces the local table with every registration etcd holds; resolves the revision read. */
  async #resync(): Promise<string> {
    const range = await this.#client.getAll().prefix(this.#prefix).exec();
    this.#leases.clear();
    for (const kv of range.kvs) {
      const lease = parseLease(kv.key.toString().slice(this.#prefix.length), kv.value.toString());
      if (lease === undefined) this.#logger.warn('registry: ignoring a malformed registration in etcd', { key: kv.key.toString() });
      else this.#leases.set(lease.leaseId, lease);
    }
    this.#publish();
    return range.header.revision;
  }

  #schedulePublish(): void {
    if (this.#syncScheduled || this.#closed) return;
    this.#syncScheduled = true;
    // A burst of watch events becomes one new endpoint list (and one translation).
    setImmediate(() => {
      this.#syncScheduled = false;
      if (!this.#closed) this.#publish();
    });
  }

  #publish(): void {
    for (const error of this.#registry.replaceAll([...this.#leases.values()])) {
      this.#logger.warn('registry: ignoring an invalid registration in etcd', { error: error.message });
    }
  }
}

function parseLease(leaseId: string, json: string): PersistedLease | undefined {
  try {
    const v = JSON.parse(json) as PersistedLease;
    if (typeof v !== 'object' || v === null || v.leaseId !== leaseId || typeof v.ttlMs !== 'number') return undefined;
    return v;
  } catch {
    return undefined;
  }
}

function sameEndpoint(a: RegisteredEndpoint, b: PersistedLease): boolean {
  return a.service === b.service && a.portName === b.portName && a.address === b.address && a.port === b.port;
}

function notFound(leaseId: string): RegistryResult<Lease> {
  return { ok: false, error: { code: 'NOT_FOUND', field: 'lease_id', message: `lease '${leaseId}' not found (expired or revoked): register again` } };
}

function unavailable(what: string, e: unknown): RegistryResult<Lease> {
  return { ok: false, error: { code: 'UNAVAILABLE', message: `cannot ${what}: etcd is unavailable (${e instanceof Error ? e.message : String(e)}); retry` } };
}
