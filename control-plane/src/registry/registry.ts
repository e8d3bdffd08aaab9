// The endpoint registry: endpoints SDK servers register under leases that expire unless kept alive.
import { SYSTEM_CLOCK as CORE_SYSTEM_CLOCK, type TimerClock, type TimerHandle } from '../../../src/core/clock.js';
import type { EndpointRegistration } from '../../../src/discovery/registration.js';
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { Disposable } from '../../../src/core/watch.js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import type { RegisteredEndpoint } from '../model.js';

/** Lease TTL used when a registration asks for 0 (ms). */
export const DEFAULT_LEASE_TTL_MS = 10_000;
/** Shortest lease TTL granted (ms); shorter requests are raised to it. */
export const MIN_LEASE_TTL_MS = 1_000;
/** Longest lease TTL granted (ms); longer requests are lowered to it. */
export const MAX_LEASE_TTL_MS = 300_000;
/** Largest endpoint weight accepted. */
export const MAX_ENDPOINT_WEIGHT = 1_000_000;

/** A cancellable timer handle returned by a RegistryClock. */
export type ClockTimer = TimerHandle;

/** Time source of the registry (and the CA), injectable so tests control expiry without sleeping. */
export type RegistryClock = TimerClock;

/** The real clock: Date.now() and unref'd setTimeout, for delays of any length (src/core/clock.ts). */
export const SYSTEM_CLOCK: RegistryClock = CORE_SYSTEM_CLOCK;

/** What an SDK server sends to register one endpoint: the SDK's own type (weft.registry.v1.Endpoint); defaults filled in here. */
export type { EndpointRegistration } from '../../../src/discovery/registration.js';

/** A granted lease: its id and the TTL actually granted (after clamping). */
export interface Lease {
  readonly leaseId: string;
  readonly ttlMs: number;
}

/** Why a registry call was refused; `code` follows gRPC status names (UNAVAILABLE: the lease store, etcd, is down). */
export interface RegistryError {
  readonly code: 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'UNAVAILABLE';
  /** The request field at fault (proto field names, e.g. `endpoint.address`), when there is one. */
  readonly field?: string;
  readonly message: string;
}

/** Result of a registry call: never thrown, always returned. */
export type RegistryResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: RegistryError };

/** Options of the Registry constructor. */
export interface RegistryOptions {
  /** TTL for registrations that ask for 0 (ms, default 10 000; clamped to [1 s, 5 min]). */
  readonly defaultTtlMs?: number;
  readonly clock?: RegistryClock;
  readonly logger?: Logger;
  /** Lease id generator (default crypto.randomUUID). */
  readonly newLeaseId?: () => string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Clamps a requested TTL (0 = `defaultTtlMs`) to [MIN_LEASE_TTL_MS, MAX_LEASE_TTL_MS]. */
export function clampTtlMs(requestedMs: number, defaultTtlMs = DEFAULT_LEASE_TTL_MS): number {
  const ms = Number.isFinite(requestedMs) && requestedMs > 0 ? requestedMs : defaultTtlMs;
  return Math.min(MAX_LEASE_TTL_MS, Math.max(MIN_LEASE_TTL_MS, Math.round(ms)));
}

/**
 * What the weft.registry.v1.Registry service calls to grant, extend and revoke leases: the Registry itself (leases in
 * this process) or EtcdLeases (leases in etcd, valid on every replica). Results are returned, never thrown.
 */
export interface LeaseService {
  /** Registers `endpoint` under a new lease of `ttlMs` (0 = default); INVALID_ARGUMENT names the bad field. */
  register(endpoint: EndpointRegistration, ttlMs?: number): RegistryResult<Lease> | Promise<RegistryResult<Lease>>;
  /** Extends lease `leaseId` by its TTL; NOT_FOUND if it expired, was revoked or never existed. */
  keepAlive(leaseId: string): RegistryResult<Lease> | Promise<RegistryResult<Lease>>;
  /** Revokes lease `leaseId`; resolves whether one was removed. */
  deregister(leaseId: string): boolean | Promise<boolean>;
  /** The live endpoint under `leaseId`, as this replica knows it. */
  get(leaseId: string): RegisteredEndpoint | undefined;
}

/**
 * Live endpoints under leases. Registrations for Services not in the configuration are accepted (they are
 * simply not routed until the Service exists). A new registration for the same service, port name, address
 * and port replaces the old lease, so an endpoint is never listed twice (xDS clients NACK duplicate
 * addresses). Expired leases are swept by a single timer set for the earliest expiry.
 * Methods never throw; refusals are returned as RegistryError.
 */
export class Registry implements LeaseService {
  readonly #leases = new Map<string, LeaseRecord>();
  readonly #byKey = new Map<string, string>();
  readonly #listeners = new Set<(endpoints: readonly RegisteredEndpoint[]) => void>();
  readonly #clock: RegistryClock;
  readonly #logger: Logger;
  readonly #defaultTtlMs: number;
  readonly #newLeaseId: () => string;
  #snapshot: readonly RegisteredEndpoint[] = Object.freeze([]);
  #timer: ClockTimer | undefined;
  #timerAtMs = Infinity;
  #closed = false;

  constructor(options: RegistryOptions = {}) {
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#defaultTtlMs = clampTtlMs(options.defaultTtlMs ?? DEFAULT_LEASE_TTL_MS);
    this.#newLeaseId = options.newLeaseId ?? randomUUID;
  }

  /** The TTL granted for registrations that ask for 0 (ms). */
  get defaultTtlMs(): number {
    return this.#defaultTtlMs;
  }

  /**
   * Registers `endpoint` under a new lease of `ttlMs` (0 = default; clamped to [1 s, 5 min]).
   * Returns INVALID_ARGUMENT naming the field when the address is not an IP literal, the port is outside
   * 1..65535, the service or port name is not a DNS label, or the weight is out of range.
   * Listeners are called synchronously before this returns.
   */
  register(endpoint: EndpointRegistration, ttlMs = 0): RegistryResult<Lease> {
    const invalid = validateRegistration(endpoint);
    if (invalid) return { ok: false, error: invalid };
    const grantedMs = clampTtlMs(ttlMs, this.#defaultTtlMs);
    const leaseId = this.#newLeaseId();
    const registered: RegisteredEndpoint = Object.freeze({
      leaseId,
      service: endpoint.service,
      portName: endpoint.portName ?? '',
      address: endpoint.address,
      port: endpoint.port,
      nodeId: endpoint.nodeId ?? '',
      locality: Object.freeze({
        region: endpoint.locality?.region ?? '',
        zone: endpoint.locality?.zone ?? '',
        subZone: endpoint.locality?.subZone ?? '',
      }),
      weight: endpoint.weight === undefined || endpoint.weight === 0 ? 1 : endpoint.weight,
      labels: Object.freeze({ ...endpoint.labels }),
      expiresAtMs: this.#clock.nowMs() + grantedMs,
    });
    const key = endpointKey(registered);
    const previous = this.#byKey.get(key);
    if (previous !== undefined) this.#leases.delete(previous);
    this.#byKey.set(key, leaseId);
    this.#leases.set(leaseId, { endpoint: registered, ttlMs: grantedMs });
    this.#schedule(registered.expiresAtMs);
    this.#logger.debug('registry: registered', { leaseId, service: registered.service, address: registered.address, port: registered.port, replaced: previous });
    this.#changed();
    return { ok: true, value: Object.freeze({ leaseId, ttlMs: grantedMs }) };
  }

  /** Extends lease `leaseId` by its TTL from now. NOT_FOUND if it expired, was revoked or never existed. */
  keepAlive(leaseId: string): RegistryResult<Lease> {
    const current = this.#leases.get(leaseId);
    if (!current || current.endpoint.expiresAtMs <= this.#clock.nowMs()) {
      return { ok: false, error: { code: 'NOT_FOUND', field: 'lease_id', message: `lease '${leaseId}' not found (expired, revoked or control plane restarted): register again` } };
    }
    const ttlMs = current.ttlMs;
    current.endpoint = Object.freeze({ ...current.endpoint, expiresAtMs: this.#clock.nowMs() + ttlMs });
    this.#rebuild(); // expiresAtMs is visible in endpoints(); routing does not change, so listeners are not called
    return { ok: true, value: Object.freeze({ leaseId, ttlMs }) };
  }

  /**
   * The live leases, for saving: each endpoint with its lease id and granted TTL. A control plane that restores them
   * after a restart keeps routing to endpoints whose servers are still alive (their keep-alives find their leases).
   */
  leases(): readonly PersistedLease[] {
    return [...this.#leases.values()].map(({ endpoint, ttlMs }) => {
      const { expiresAtMs: _expires, ...rest } = endpoint;
      return Object.freeze({ ...rest, ttlMs });
    });
  }

  /**
   * Restores saved leases (lease ids kept), each granted one full TTL from now: the control plane cannot know whether
   * a server died while it was down, so every restored endpoint gets one lease period to prove it is alive.
   * Invalid entries are skipped and returned as errors; a lease id already present is left alone. Notifies once.
   */
  restore(leases: readonly PersistedLease[]): RegistryError[] {
    const errors: RegistryError[] = [];
    const nowMs = this.#clock.nowMs();
    let restored = 0;
    for (const lease of leases) {
      const invalid = validatePersisted(lease);
      if (invalid) {
        errors.push(invalid);
        continue;
      }
      if (this.#leases.has(lease.leaseId)) continue;
      const endpoint = this.#put(lease, nowMs);
      this.#schedule(endpoint.expiresAtMs);
      restored++;
    }
    if (restored > 0) {
      this.#logger.info('registry: restored saved leases', { restored, skipped: leases.length - restored });
      this.#changed();
    }
    return errors;
  }

  /**
   * Replaces every lease with `leases` (lease ids kept), for a registry that mirrors leases kept and expired elsewhere
   * (etcd, see etcd-leases.ts): no expiry timer is set for them, and `expiresAtMs` is one TTL from now (informational).
   * Invalid entries are skipped and returned; of two leases for the same endpoint the later one wins. Notifies once
   * when the endpoints (ignoring expiry times) changed.
   */
  replaceAll(leases: readonly PersistedLease[]): RegistryError[] {
    const errors: RegistryError[] = [];
    const before = this.#leases.size === 0 ? '' : routingFingerprint(this.#snapshot);
    this.#leases.clear();
    this.#byKey.clear();
    const nowMs = this.#clock.nowMs();
    for (const lease of leases) {
      const invalid = validatePersisted(lease);
      if (invalid) errors.push(invalid);
      else this.#put(lease, nowMs);
    }
    this.#rebuild();
    if (routingFingerprint(this.#snapshot) !== before) this.#changed();
    return errors;
  }

  /** Stores `lease` (one TTL from `nowMs`), replacing any lease for the same endpoint; no timer, no notification. */
  #put(lease: PersistedLease, nowMs: number): RegisteredEndpoint {
    const { ttlMs: grantedMs, ...fields } = lease;
    const ttlMs = clampTtlMs(grantedMs, this.#defaultTtlMs);
    const endpoint: RegisteredEndpoint = Object.freeze({
      ...fields,
      locality: Object.freeze({ ...fields.locality }),
      labels: Object.freeze({ ...fields.labels }),
      expiresAtMs: nowMs + ttlMs,
    });
    const key = endpointKey(endpoint);
    const previous = this.#byKey.get(key);
    if (previous !== undefined) this.#leases.delete(previous);
    this.#byKey.set(key, lease.leaseId);
    this.#leases.set(lease.leaseId, { endpoint, ttlMs });
    return endpoint;
  }

  /** Revokes lease `leaseId` at once. Unknown leases are not an error; returns whether one was removed. */
  deregister(leaseId: string): boolean {
    const current = this.#leases.get(leaseId);
    if (!current) return false;
    this.#remove(current.endpoint);
    this.#changed();
    return true;
  }

  /** The endpoint under lease `leaseId`, if it is live. */
  get(leaseId: string): RegisteredEndpoint | undefined {
    return this.#leases.get(leaseId)?.endpoint;
  }

  /** Every live endpoint, sorted by service, port name, address, port. Frozen; a new array after each change. */
  endpoints(): readonly RegisteredEndpoint[] {
    return this.#snapshot;
  }

  /**
   * Calls `fn` with the new endpoint list after every register, deregister or expiry (synchronously, right
   * after the change; not for keep-alives). Errors thrown by `fn` are logged. Not called after close().
   */
  onChange(fn: (endpoints: readonly RegisteredEndpoint[]) => void): Disposable {
    this.#listeners.add(fn);
    return { dispose: () => void this.#listeners.delete(fn) };
  }

  /** Stops the expiry timer and drops listeners. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#listeners.clear();
  }

  #remove(endpoint: RegisteredEndpoint): void {
    this.#leases.delete(endpoint.leaseId);
    const key = endpointKey(endpoint);
    if (this.#byKey.get(key) === endpoint.leaseId) this.#byKey.delete(key);
  }

  #schedule(atMs: number): void {
    if (this.#closed || atMs >= this.#timerAtMs) return;
    this.#timer?.cancel();
    this.#timerAtMs = atMs;
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      this.#timerAtMs = Infinity;
      this.#sweepExpired();
    }, Math.max(0, atMs - this.#clock.nowMs()));
  }

  /** Removes expired leases, notifies if any went, and re-arms the timer for the next expiry. */
  #sweepExpired(): void {
    const nowMs = this.#clock.nowMs();
    let removed = 0;
    let nextMs = Infinity;
    for (const { endpoint } of [...this.#leases.values()]) {
      if (endpoint.expiresAtMs <= nowMs) {
        this.#remove(endpoint);
        removed++;
        this.#logger.info('registry: lease expired', { leaseId: endpoint.leaseId, service: endpoint.service, address: endpoint.address, port: endpoint.port });
      } else if (endpoint.expiresAtMs < nextMs) {
        nextMs = endpoint.expiresAtMs;
      }
    }
    if (nextMs !== Infinity) this.#schedule(nextMs);
    if (removed > 0) this.#changed();
  }

  #rebuild(): void {
    const list = [...this.#leases.values()].map((r) => r.endpoint).sort(compareEndpoints);
    this.#snapshot = Object.freeze(list);
  }

  #changed(): void {
    this.#rebuild();
    if (this.#closed) return;
    const snapshot = this.#snapshot;
    for (const fn of [...this.#listeners]) {
      try {
        fn(snapshot);
      } catch (e: unknown) {
        this.#logger.error('registry: change listener threw', { error: String(e) });
      }
    }
  }
}

/** A lease as saved across restarts: the endpoint and its lease id, with the TTL granted (no expiry time). */
export type PersistedLease = Omit<RegisteredEndpoint, 'expiresAtMs'> & { readonly ttlMs: number };

/** A lease as stored: the endpoint (replaced on keep-alive) and the TTL granted at registration. */
interface LeaseRecord {
  endpoint: RegisteredEndpoint;
  readonly ttlMs: number;
}

function endpointKey(e: RegisteredEndpoint): string {
  return `${e.service}\u0000${e.portName}\u0000${e.address}\u0000${e.port}`;
}

function compareEndpoints(a: RegisteredEndpoint, b: RegisteredEndpoint): number {
  return cmp(a.service, b.service) || cmp(a.portName, b.portName) || cmp(a.address, b.address) || a.port - b.port;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Like validateRegistration, for a saved or mirrored lease: its lease id must be a non-empty string too. */
function validatePersisted(lease: PersistedLease): RegistryError | undefined {
  if (typeof lease.leaseId !== 'string' || lease.leaseId === '') return { code: 'INVALID_ARGUMENT', field: 'lease_id', message: 'lease_id: missing' };
  return validateRegistration(lease);
}

/** The endpoints as routing sees them (expiry times left out), to tell a real change from a refreshed TTL. */
function routingFingerprint(endpoints: readonly RegisteredEndpoint[]): string {
  return JSON.stringify(endpoints.map(({ expiresAtMs: _e, ...rest }) => rest));
}


/** Returns the first problem with registration `e`, or undefined. Field names are the proto's. Never throws. */
export function validateRegistration(e: EndpointRegistration): RegistryError | undefined {
  const bad = (field: string, message: string): RegistryError => ({ code: 'INVALID_ARGUMENT', field, message: `${field}: ${message}` });
  if (typeof e.service !== 'string' || !DNS_LABEL.test(e.service)) {
    return bad('endpoint.service', `'${String(e.service)}' is not a DNS label (lower-case letters, digits and '-', at most 63 characters)`);
  }
  if (typeof e.address !== 'string' || isIP(e.address) === 0) {
    return bad('endpoint.address', `'${String(e.address)}' is not an IP literal (register the address clients should dial, e.g. 10.0.0.5)`);
  }
  if (e.address === '0.0.0.0' || e.address === '::') {
    return bad('endpoint.address', `'${e.address}' is the unspecified address, which clients cannot dial; register a concrete IP`);
  }
  if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) {
    return bad('endpoint.port', `${String(e.port)} is not a port (1..65535)`);
  }
  if (e.portName !== undefined && e.portName !== '' && !DNS_LABEL.test(e.portName)) {
    return bad('endpoint.port_name', `'${e.portName}' is not a DNS label`);
  }
  if (e.weight !== undefined && (!Number.isInteger(e.weight) || e.weight < 0 || e.weight > MAX_ENDPOINT_WEIGHT)) {
    return bad('endpoint.weight', `${String(e.weight)} is not a weight (0..${MAX_ENDPOINT_WEIGHT}, 0 = 1)`);
  }
  return undefined;
}
