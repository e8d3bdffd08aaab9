// Keeps this process's served endpoints registered with the control plane's Registry under leases, until closed.
import * as grpc from '@grpc/grpc-js';
import { NOOP_LOGGER, type Logger } from '../core/logger.js';
import { protos, type ProtoObject } from './xds/protos.js';
import { ControlPlaneClient, type UnaryCallback } from './control-plane-client.js';

/** Default lease TTL asked for (ms); the control plane clamps it to [1 s, 5 min]. */
export const DEFAULT_LEASE_TTL_MS = 10_000;
/** Default per-RPC deadline (ms). */
export const DEFAULT_RPC_TIMEOUT_MS = 3_000;
/** Default bound on the Deregister wait in close() (ms). */
export const DEFAULT_DEREGISTER_TIMEOUT_MS = 1_000;

/** One endpoint this process serves (weft.registry.v1.Endpoint). */
export interface EndpointRegistration {
  /** Mesh Service name. */
  readonly service: string;
  /** IP literal callers should connect to. */
  readonly address: string;
  readonly port: number;
  /** Service port name; '' or absent = the Service's first port. */
  readonly portName?: string;
  /** xDS node id of this process. */
  readonly nodeId?: string;
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly subZone?: string };
  /** Relative weight; absent = 1. */
  readonly weight?: number;
  readonly labels?: Readonly<Record<string, string>>;
}

/** Retry delays after a failed RPC: exponential from `initialMs` to `maxMs`, with ±20 % jitter. */
export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
}

/** Options of RegistryClient. */
export interface RegistryClientOptions {
  /** gRPC target of the control plane: `host:port`, or controlPlaneTarget()'s list of replicas (fails over between them). */
  readonly server: string;
  /** Channel credentials; default insecure (plaintext). */
  readonly credentials?: grpc.ChannelCredentials;
  /** Per-RPC deadline (ms); default 3000. */
  readonly rpcTimeoutMs?: number;
  /** Retry delays; default 200 ms doubling to 5000 ms. */
  readonly backoff?: BackoffOptions;
  readonly logger?: Logger;
  /** The credential each call presents as `authorization: Bearer <credential>` (workload assertion or bootstrap token). */
  readonly credential?: () => string | undefined;
}

/** Where one registration stands. */
export interface RegistrationStatus {
  readonly service: string;
  readonly address: string;
  readonly port: number;
  /** `registering` until the first lease, `registered` while kept alive, `retrying` after a failed RPC. */
  readonly state: 'registering' | 'registered' | 'retrying' | 'closed';
  readonly leaseId: string | undefined;
  /** TTL granted by the control plane (ms). */
  readonly ttlMs: number | undefined;
  /** Last RPC failure, cleared by the next success. */
  readonly lastError: string | undefined;
  /** Successful Register calls (more than 1 means the lease was lost and re-acquired). */
  readonly registrations: number;
  /** When the lease was last granted or kept alive (ms since the epoch); undefined before the first grant. */
  readonly renewedAtMs: number | undefined;
}

/** A live registration, owned by the RegistryClient that made it. */
export interface Registration {
  readonly endpoint: EndpointRegistration;
  /** Resolves true on the first granted lease, false if closed first. Never rejects. */
  registered(): Promise<boolean>;
  /** Current state (a fresh frozen object). */
  status(): RegistrationStatus;
  /** Stops keeping the lease alive and deregisters it, waiting at most `timeoutMs` (default 1000). Never rejects. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
}

type Callback = UnaryCallback;

/**
 * A client of weft.registry.v1.Registry (docs/xds-mapping.md § Registry). Each register() keeps one endpoint's lease
 * alive (KeepAlive every TTL/3), registers again on NOT_FOUND (lease expired or control plane restarted), and retries
 * failures with capped exponential backoff. Nothing here throws or rejects after construction; failures are logged
 * and shown in status().
 */
export class RegistryClient {
  readonly #client: ControlPlaneClient;
  readonly #rpcTimeoutMs: number;
  readonly #backoff: Required<BackoffOptions>;
  readonly #logger: Logger;
  readonly #registrations = new Set<RegistrationImpl>();
  #closed = false;

  constructor(options: RegistryClientOptions) {
    this.#client = new ControlPlaneClient(options);
    this.#rpcTimeoutMs = options.rpcTimeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
    this.#backoff = { initialMs: options.backoff?.initialMs ?? 200, maxMs: options.backoff?.maxMs ?? 5_000 };
    this.#logger = options.logger ?? NOOP_LOGGER;
  }

  /** Registers `endpoint` under a lease of `ttlMs` (default 10 s) and keeps it alive until close(). */
  register(endpoint: EndpointRegistration, ttlMs = DEFAULT_LEASE_TTL_MS): Registration {
    const reg = new RegistrationImpl(this, endpoint, ttlMs, this.#backoff, this.#logger, (r) => this.#registrations.delete(r));
    if (this.#closed) {
      void reg.close(0);
      return reg;
    }
    this.#registrations.add(reg);
    reg.start();
    return reg;
  }

  /** Status of every live registration. */
  statuses(): RegistrationStatus[] {
    return [...this.#registrations].map((r) => r.status());
  }

  /** Deregisters everything (each bounded by `timeoutMs`) and closes the channel. Idempotent. */
  async close(timeoutMs = DEFAULT_DEREGISTER_TIMEOUT_MS): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#registrations].map((r) => r.close(timeoutMs)));
    this.#client.close();
  }

  /** @internal Unary call on the Registry service, with a deadline. */
  call(method: 'Register' | 'KeepAlive' | 'Deregister', request: ProtoObject, timeoutMs: number, callback: Callback): void {
    const def = protos().registryService[method] as grpc.MethodDefinition<ProtoObject, ProtoObject>;
    this.#client.unary(def, request, timeoutMs > 0 ? timeoutMs : this.#rpcTimeoutMs, callback);
  }

  /** @internal */
  get rpcTimeoutMs(): number {
    return this.#rpcTimeoutMs;
  }
}

class RegistrationImpl implements Registration {
  readonly endpoint: EndpointRegistration;
  readonly #owner: RegistryClient;
  readonly #ttlMs: number;
  readonly #backoff: Required<BackoffOptions>;
  readonly #logger: Logger;
  readonly #onClosed: (r: RegistrationImpl) => void;
  #state: RegistrationStatus['state'] = 'registering';
  #leaseId: string | undefined;
  #grantedTtlMs: number | undefined;
  #lastError: string | undefined;
  #registrations = 0;
  #renewedAtMs: number | undefined;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  readonly #first: Promise<boolean>;
  #resolveFirst: (ok: boolean) => void = () => {};

  constructor(
    owner: RegistryClient,
    endpoint: EndpointRegistration,
    ttlMs: number,
    backoff: Required<BackoffOptions>,
    logger: Logger,
    onClosed: (r: RegistrationImpl) => void,
  ) {
    this.#owner = owner;
    this.endpoint = Object.freeze({ ...endpoint });
    this.#ttlMs = ttlMs;
    this.#backoff = backoff;
    this.#logger = logger;
    this.#onClosed = onClosed;
    this.#first = new Promise((resolve) => (this.#resolveFirst = resolve));
  }

  start(): void {
    this.#register();
  }

  registered(): Promise<boolean> {
    return this.#first;
  }

  status(): RegistrationStatus {
    return Object.freeze({
      service: this.endpoint.service,
      address: this.endpoint.address,
      port: this.endpoint.port,
      state: this.#state,
      leaseId: this.#leaseId,
      ttlMs: this.#grantedTtlMs,
      lastError: this.#lastError,
      registrations: this.#registrations,
      renewedAtMs: this.#renewedAtMs,
    });
  }

  close(timeoutMs = DEFAULT_DEREGISTER_TIMEOUT_MS): Promise<void> {
    this.#closing ??= this.#close(timeoutMs);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#state = 'closed';
    this.#clearTimer();
    this.#resolveFirst(false);
    this.#onClosed(this);
    const leaseId = this.#leaseId;
    this.#leaseId = undefined;
    if (leaseId !== undefined && timeoutMs > 0) await this.#deregister(leaseId, timeoutMs);
  }

  #deregister(leaseId: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.#owner.call('Deregister', { lease_id: leaseId }, timeoutMs, (err) => {
        if (err) this.#logger.warn('weft: deregistration failed; the lease will expire on its own', { leaseId, error: err.message });
        resolve();
      });
    });
  }

  #register(): void {
    if (this.#state === 'closed') return;
    const e = this.endpoint;
    const request: ProtoObject = {
      endpoint: {
        service: e.service,
        address: e.address,
        port: e.port,
        port_name: e.portName ?? '',
        node_id: e.nodeId ?? '',
        locality: { region: e.locality?.region ?? '', zone: e.locality?.zone ?? '', sub_zone: e.locality?.subZone ?? '' },
        weight: e.weight ?? 0,
        labels: { ...e.labels },
      },
      ttl_ms: this.#ttlMs,
    };
    this.#owner.call('Register', request, this.#owner.rpcTimeoutMs, (err, lease) => {
      if (this.#state === 'closed') {
        // close() ran while this call was in flight: give back the lease it obtained.
        const late = lease?.['lease_id'];
        if (!err && typeof late === 'string' && late !== '') void this.#deregister(late, DEFAULT_DEREGISTER_TIMEOUT_MS);
        return;
      }
      if (err || lease === undefined) return this.#failed('Register', err, () => this.#register());
      this.#leaseId = String(lease['lease_id'] ?? '');
      const granted = Number(lease['ttl_ms'] ?? 0);
      this.#grantedTtlMs = granted > 0 ? granted : this.#ttlMs;
      this.#registrations++;
      this.#succeeded();
      this.#logger.info('weft: endpoint registered', { service: e.service, address: e.address, port: e.port, leaseId: this.#leaseId });
      this.#resolveFirst(true);
      this.#schedule(() => this.#keepAlive(), this.#keepAliveEveryMs());
    });
  }

  #keepAlive(): void {
    const leaseId = this.#leaseId;
    if (this.#state === 'closed' || leaseId === undefined) return;
    this.#owner.call('KeepAlive', { lease_id: leaseId }, Math.min(this.#owner.rpcTimeoutMs, this.#keepAliveEveryMs()), (err, lease) => {
      if (this.#state === 'closed') return;
      if (err?.code === grpc.status.NOT_FOUND) {
        this.#logger.warn('weft: lease lost (expired or control plane restarted); registering again', { leaseId });
        this.#leaseId = undefined;
        this.#state = 'registering';
        return this.#register();
      }
      if (err || lease === undefined) return this.#failed('KeepAlive', err, () => this.#keepAlive());
      const granted = Number(lease['ttl_ms'] ?? 0);
      if (granted > 0) this.#grantedTtlMs = granted;
      this.#succeeded();
      this.#schedule(() => this.#keepAlive(), this.#keepAliveEveryMs());
    });
  }

  #keepAliveEveryMs(): number {
    return Math.max(50, Math.floor((this.#grantedTtlMs ?? this.#ttlMs) / 3));
  }

  #succeeded(): void {
    this.#renewedAtMs = Date.now();
    this.#state = 'registered';
    this.#lastError = undefined;
    this.#failures = 0;
  }

  #failed(method: string, err: grpc.ServiceError | null, retry: () => void): void {
    this.#failures++;
    this.#lastError = `${method}: ${err ? `${grpc.status[err.code] ?? err.code} ${err.details || err.message}` : 'empty answer'}`;
    if (this.#state !== 'registering') this.#state = 'retrying';
    const base = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** Math.min(this.#failures - 1, 20));
    // A keep-alive retry must land well within the TTL, or the lease expires between attempts.
    const cap = method === 'KeepAlive' ? Math.max(50, this.#keepAliveEveryMs()) : base;
    const delayMs = Math.min(base, cap) * (0.8 + Math.random() * 0.4);
    if (this.#failures === 1 || this.#failures % 10 === 0) {
      this.#logger.warn('weft: registry call failed; retrying', { service: this.endpoint.service, error: this.#lastError, delayMs: Math.round(delayMs), failures: this.#failures });
    }
    this.#schedule(retry, delayMs);
  }

  #schedule(fn: () => void, delayMs: number): void {
    this.#clearTimer();
    this.#timer = setTimeout(fn, delayMs);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
