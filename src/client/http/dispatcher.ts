// The mesh's undici Dispatcher: routes calls to mesh hosts by the compiled MeshState and passes every other call through.
import type { MeshTelemetry } from '../../telemetry/mesh-telemetry.js';
import { isIP } from 'node:net';
import { Agent, Dispatcher } from 'undici';
import { ERROR_CODES, MeshError } from '../../core/errors.js';
import { NOOP_LOGGER, type Logger } from '../../core/logger.js';
import type { Disposable } from '../../core/watch.js';
import type { Discovery } from '../../discovery/discovery.js';
import type { MeshState, TargetState } from '../../discovery/mesh-state.js';
import type { DispatchFn } from '../stack.js';
import { currentDeadline, runWithDeadline, type Deadline } from '../../policy/deadline/index.js';
import { ClusterPolicyRegistry } from '../cluster-policies.js';
import { closeBackend, compileBackends, compileTarget, endpointOrigins, type CompiledBackend, type CompiledTarget, type GetPool, type RouteMetricsFor } from './compile.js';
import { failHandler } from './handlers.js';
import { keepAliveOptions, PoolRegistry, type PoolSettings } from './pools.js';
import type { ConcurrencyLimiter, ConcurrencyLimitPolicy } from '../../policy/concurrency/index.js';
import { resilienceStatus, type ClusterResilienceStatus } from './policy-dispatch.js';
import type { MeshTls } from '../../identity/mesh-tls.js';

/** Default bound on how long a first call to an unknown authority waits for discovery (ms). */
export const DEFAULT_RESOLVE_TIMEOUT_MS = 5_000;
/** Default bound on calls queued per authority while it is being resolved. */
export const DEFAULT_MAX_PENDING_PER_AUTHORITY = 1_024;
/** Pass-through origins remembered; past it they are classified on every call (a URL parse each). */
const MAX_PASS_THROUGH_ORIGINS = 4_096;

/** Options of MeshDispatcher. */
export interface MeshDispatcherOptions {
  readonly discovery: Discovery;
  /** How long the first call to an unknown authority waits for discovery (ms); default 5000. */
  readonly resolveTimeoutMs?: number;
  /** Calls queued per authority while resolving; more fail with WEFT_ERR_QUEUE_FULL. Default 1024. */
  readonly maxPendingPerAuthority?: number;
  /** Endpoint pool settings. */
  readonly pool?: PoolSettings;
  /** Random source in [0, 1) for weighted cluster splits; default Math.random (inject a seeded one in tests). */
  readonly random?: () => number;
  /**
   * Dotted host names that may be mesh hosts, as suffixes (e.g. `.svc.cluster.local`), or `*` for every host. Hosts
   * without a dot are always asked about (Weft Service names are single DNS labels); any other dotted host passes
   * through without a control-plane round trip or subscription. Default none.
   */
  readonly meshDomains?: readonly string[];
  /**
   * The mesh's per-cluster breakers, budgets, outlier detectors and loads, shared with its gRPC client; default a
   * registry of this dispatcher's own (closed with it).
   */
  readonly policies?: ClusterPolicyRegistry;
  /** Dispatcher for non-mesh hosts; default a new undici Agent (closed with this dispatcher). */
  readonly passThrough?: Dispatcher;
  /** The workload identity's TLS side: calls to clusters that ask for mTLS use it. None: those calls are plaintext, or fail with WEFT_ERR_IDENTITY when the destination is STRICT. */
  readonly tls?: MeshTls;
  readonly logger?: Logger;
  /** Golden metrics: the series of each (authority, route), asked once per compile; undefined = no metrics. */
  readonly metrics?: RouteMetricsFor;
  /** Tracing and access logs (src/telemetry/); none = calls are neither traced nor logged. */
  readonly telemetry?: MeshTelemetry;
}

/** Why a call is or is not routed by the mesh. */
export type OriginKind = 'mesh' | 'pass-through' | 'pending' | 'error';

/** What the dispatcher knows about one origin (for explain()). Readonly snapshot. */
export interface OriginView {
  readonly origin: string;
  /** Logical authority (`host[:port]`), when the origin parses. */
  readonly authority: string | undefined;
  readonly kind: OriginKind;
  /** Why the call passes through, is pending or fails. */
  readonly reason: string;
  /** Discovery's answer for the authority, when asked. */
  readonly targetState: TargetState | undefined;
  readonly target: CompiledTarget | undefined;
  /** Compiled clusters of the current state (for endpoint views). */
  readonly backends: ReadonlyMap<string, CompiledBackend>;
}

interface Pending {
  readonly opts: Dispatcher.DispatchOptions;
  readonly handler: Dispatcher.DispatchHandler;
  /** The deadline of the request the call was made for: it is dispatched later, outside that async context. */
  readonly deadline: Deadline | undefined;
}

/** Per-origin routing entry; `dispatch` is swapped when the state changes. */
interface Entry {
  readonly origin: string;
  readonly authority: string;
  /** True for IP literals / localhost: never asks discovery, never changes. */
  readonly fixed: boolean;
  kind: OriginKind;
  reason: string;
  targetState: TargetState | undefined;
  target: CompiledTarget | undefined;
  dispatch: DispatchFn;
  queue: Pending[] | undefined;
}

/**
 * An undici Dispatcher that routes calls to mesh Services (origin host = Service name, e.g. `http://payments`) over
 * per-endpoint keep-alive Pools, and passes any other origin to a plain Agent untouched. Use it with
 * `undici.fetch(url, { dispatcher })`, `undici.request(url, { dispatcher })` or setGlobalDispatcher().
 *
 * dispatch() never throws: mesh failures reach the handler as MeshError (`onError` / `onResponseError`). The first call
 * to an unknown authority waits (queued, bounded) for discovery up to `resolveTimeoutMs`. After close(), calls fail
 * with WEFT_ERR_CLOSED.
 */
export class MeshDispatcher extends Dispatcher {
  readonly #discovery: Discovery;
  readonly #resolveTimeoutMs: number;
  readonly #maxPending: number;
  readonly #random: () => number;
  readonly #meshDomains: readonly string[];
  readonly #logger: Logger;
  readonly #pools: PoolRegistry;
  readonly #policies: ClusterPolicyRegistry;
  /** Route concurrency limiters come from the policy registry (shared with gRPC, kept across states). */
  readonly #limiterFor = (policy: ConcurrencyLimitPolicy): ConcurrencyLimiter => this.#policies.concurrencyLimiter(policy);
  readonly #ownsPolicies: boolean;
  readonly #ownsPassThrough: boolean;
  readonly #passThrough: Dispatcher;
  readonly #telemetry: MeshTelemetry | undefined;
  readonly #passDispatch: DispatchFn;
  readonly #entries = new Map<string, Entry>();
  #passThroughCount = 0;
  #backends: Map<string, CompiledBackend> = new Map();
  readonly #metrics: RouteMetricsFor | undefined;
  #state: MeshState;
  #subscription: Disposable | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: MeshDispatcherOptions) {
    super();
    this.#discovery = options.discovery;
    this.#resolveTimeoutMs = options.resolveTimeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS;
    this.#maxPending = options.maxPendingPerAuthority ?? DEFAULT_MAX_PENDING_PER_AUTHORITY;
    this.#random = options.random ?? Math.random;
    this.#meshDomains = (options.meshDomains ?? []).map((d) => d.toLowerCase());
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#telemetry = options.telemetry;
    this.#pools = new PoolRegistry(options.pool, options.tls);
    this.#metrics = options.metrics;
    this.#ownsPolicies = options.policies === undefined;
    this.#policies = options.policies ?? new ClusterPolicyRegistry();
    this.#ownsPassThrough = options.passThrough === undefined;
    this.#passThrough = options.passThrough ?? new Agent(keepAliveOptions(options.pool?.keepAliveTimeoutMs));
    const pass = this.#passThrough;
    this.#passDispatch = (opts, handler) => pass.dispatch(opts, handler);
    this.#state = this.#discovery.state.get();
    this.#backends = compileBackends(this.#state, new Map(), this.#getPool, this.#policies, this.#pools.mtls, options.telemetry);
    this.#subscription = this.#discovery.state.onChange((state) => this.#onState(state));
    // dispatcher.compose() returns a Proxy that calls these with the Proxy as `this`, where #private fields are not
    // reachable; binding them to the instance keeps close()/destroy() working on composed dispatchers.
    this.close = this.close.bind(this) as MeshDispatcher['close'];
    this.destroy = this.destroy.bind(this) as MeshDispatcher['destroy'];
    this.inspect = this.inspect.bind(this);
    this.poolOrigins = this.poolOrigins.bind(this);
    this.resilience = this.resilience.bind(this);
  }

  readonly #getPool: GetPool = (origin, maxConnections, tls) => this.#pools.get(origin, maxConnections, tls);

  /** Routes one call; see the class comment. Returns undici's "can take more" flag (false after a failure). */
  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    try {
      if (this.#closed) return failHandler(handler, closedError());
      const origin = opts.origin;
      const key = typeof origin === 'string' ? origin : origin === undefined ? '' : origin.origin;
      const entry = this.#entries.get(key) ?? this.#classify(key);
      return entry.dispatch(opts, handler);
    } catch (e: unknown) {
      return failHandler(
        handler,
        new MeshError(ERROR_CODES.INTERNAL, `weft: dispatch failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e }),
      );
    }
  }

  /**
   * What the dispatcher would do for `origin` now, without sending anything. With `resolve`, an unknown authority is
   * first resolved (bounded by resolveTimeoutMs), as a call would. Never rejects.
   */
  async inspect(origin: string, resolve = true): Promise<OriginView> {
    const backends = this.#backends;
    if (this.#closed) {
      return { origin, authority: undefined, kind: 'error', reason: 'the mesh is closed', targetState: undefined, target: undefined, backends };
    }
    let entry = this.#entries.get(origin);
    if (entry === undefined && !resolve) {
      const url = parseOrigin(origin);
      const pass = url === undefined ? 'origin is not a valid URL' : fixedPassReason(url, this.#meshDomains);
      return { origin, authority: url?.host, kind: pass ? 'pass-through' : 'pending', reason: pass ?? 'not resolved yet', targetState: undefined, target: undefined, backends };
    }
    entry ??= this.#classify(origin);
    if (entry.kind === 'pending' && resolve) {
      await this.#discovery.resolve(entry.authority, this.#resolveTimeoutMs);
      const ts = this.#state.targets.get(entry.authority);
      const current = this.#entries.get(origin) ?? entry;
      if (current.kind === 'pending' && ts !== undefined && ts.status !== 'pending') this.#apply(current, ts);
      entry = current;
    }
    return { origin, authority: entry.authority, kind: entry.kind, reason: entry.reason, targetState: entry.targetState, target: entry.target, backends: this.#backends };
  }

  /** Origins of the endpoint pools currently open (for tests and status). */
  poolOrigins(): readonly string[] {
    return this.#pools.origins();
  }

  /** Circuit-breaker counters and ejected endpoints of each cluster that has either (a snapshot, for status). */
  resilience(): Readonly<Record<string, ClusterResilienceStatus>> {
    return resilienceStatus(this.#backends);
  }

  /** Closes gracefully: queued calls fail with WEFT_ERR_CLOSED, running calls finish, then pools close. Idempotent. */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const done = (this.#closing ??= this.#shutdown(false));
    if (callback === undefined) return done;
    done.then(callback, callback);
  }

  /** Closes at once: running calls fail. Idempotent. */
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const callback = typeof a === 'function' ? a : b;
    const err = typeof a === 'function' ? null : (a ?? null);
    const done = this.#shutdown(true, err ?? undefined);
    this.#closing ??= done;
    if (callback === undefined) return done;
    done.then(callback, callback);
  }

  async #shutdown(force: boolean, err?: Error): Promise<void> {
    // A destroy() after close() must still reach the pools close() is waiting on (PoolRegistry tracks them).
    this.#closed = true;
    this.#subscription?.dispose();
    this.#subscription = undefined;
    for (const entry of this.#entries.values()) this.#failQueue(entry, closedError);
    this.#entries.clear();
    for (const backend of this.#backends.values()) closeBackend(backend);
    if (this.#ownsPolicies) this.#policies.close();
    const passThrough = this.#ownsPassThrough
      ? (force ? this.#passThrough.destroy(err ?? null) : this.#passThrough.close()).catch(() => {})
      : Promise.resolve();
    await Promise.all([force ? this.#pools.destroy(err) : this.#pools.close(), passThrough]);
  }

  /** Classifies an origin seen for the first time and remembers the answer. */
  #classify(key: string): Entry {
    const url = parseOrigin(key);
    if (url === undefined) return this.#passEntry(key, '', 'origin is not a valid URL (undici will report it)');
    const fixed = fixedPassReason(url, this.#meshDomains);
    if (fixed !== undefined) return this.#passEntry(key, url.host, fixed);
    const entry: Entry = {
      origin: key,
      authority: url.host,
      fixed: false,
      kind: 'pending',
      reason: '',
      targetState: undefined,
      target: undefined,
      dispatch: this.#passDispatch,
      queue: undefined,
    };
    this.#entries.set(key, entry);
    this.#apply(entry, this.#state.targets.get(entry.authority));
    return entry;
  }

  #passEntry(key: string, authority: string, reason: string): Entry {
    const entry: Entry = {
      origin: key,
      authority,
      fixed: true,
      kind: 'pass-through',
      reason,
      targetState: undefined,
      target: undefined,
      dispatch: this.#passDispatch,
      queue: undefined,
    };
    if (this.#passThroughCount < MAX_PASS_THROUGH_ORIGINS) {
      this.#passThroughCount++;
      this.#entries.set(key, entry);
    }
    return entry;
  }

  /** Points `entry` at what `ts` says; starts a resolve when the answer is not in yet. */
  #apply(entry: Entry, ts: TargetState | undefined): void {
    entry.targetState = ts;
    if (ts === undefined || ts.status === 'pending') {
      if (entry.kind !== 'pending' || entry.queue === undefined) this.#startResolve(entry);
      return;
    }
    const queue = entry.queue;
    entry.queue = undefined;
    if (ts.status === 'resolved') {
      entry.kind = 'mesh';
      entry.reason = `listener '${ts.routes.listener}'`;
      entry.target = compileTarget(entry.authority, ts.routes, this.#backends, this.#random, this.#limiterFor, this.#metrics, this.#telemetry);
      entry.dispatch = entry.target.dispatch;
    } else if (ts.status === 'absent') {
      entry.kind = 'pass-through';
      entry.reason = `the control plane has no listener '${entry.authority}': not a mesh host`;
      entry.target = undefined;
      entry.dispatch = this.#passDispatch;
    } else {
      entry.kind = 'error';
      entry.reason = `configuration for '${entry.authority}' was refused: ${ts.message}`;
      entry.target = undefined;
      const { authority } = entry;
      const message = ts.message;
      entry.dispatch = (_opts, handler) =>
        failHandler(
          handler,
          new MeshError(ERROR_CODES.CONFIG_REJECTED, `configuration for ${authority} was refused (NACKed) and there is no last good value: ${message}`, {
            rejected: true,
            details: { authority, reason: message, status: 503 },
          }),
        );
    }
    if (queue !== undefined) {
      for (const p of queue) {
        if (p.deadline === undefined) entry.dispatch(p.opts, p.handler);
        else runWithDeadline(p.deadline, () => entry.dispatch(p.opts, p.handler));
      }
    }
  }

  #startResolve(entry: Entry): void {
    entry.kind = 'pending';
    entry.reason = `waiting for discovery to resolve '${entry.authority}'`;
    entry.target = undefined;
    const queue: Pending[] = [];
    entry.queue = queue;
    const max = this.#maxPending;
    const { authority } = entry;
    entry.dispatch = (opts, handler) => {
      if (queue.length >= max) {
        return failHandler(
          handler,
          new MeshError(ERROR_CODES.QUEUE_FULL, `${max} calls to ${authority} are already waiting for discovery to resolve it`, {
            rejected: true,
            details: { authority, maxPending: max },
          }),
        );
      }
      queue.push({ opts, handler, deadline: currentDeadline() });
      return true;
    };
    const settle = (answer: TargetState): void => {
      if (this.#closed || entry.queue !== queue) return; // settled by a state change, re-resolving, or closed
      const ts = this.#state.targets.get(authority);
      const decided = ts !== undefined && ts.status !== 'pending' ? ts : answer.status !== 'pending' ? answer : undefined;
      if (decided !== undefined) return this.#apply(entry, decided);
      this.#entries.delete(entry.origin); // the next call asks again
      entry.queue = undefined;
      const timeoutMs = this.#resolveTimeoutMs;
      for (const p of queue) {
        failHandler(
          p.handler,
          new MeshError(ERROR_CODES.CONFIG_TIMEOUT, `discovery did not resolve ${authority} within ${timeoutMs} ms; is the control plane reachable?`, {
            retryable: true,
            details: { authority, timeoutMs },
          }),
        );
      }
    };
    this.#discovery.resolve(authority, this.#resolveTimeoutMs).then(settle, (e: unknown) => {
      this.#logger.warn('discovery.resolve rejected (contract says never)', { authority, error: String(e) });
      settle({ status: 'pending' });
    });
  }

  #failQueue(entry: Entry, error: () => MeshError): void {
    const queue = entry.queue;
    entry.queue = undefined;
    if (queue !== undefined) for (const p of queue) failHandler(p.handler, error());
  }

  /** Recompiles every known origin against `state`, then closes the pools of endpoints that left every cluster. */
  #onState(state: MeshState): void {
    if (this.#closed) return;
    this.#state = state;
    this.#backends = compileBackends(state, this.#backends, this.#getPool, this.#policies, this.#pools.mtls, this.#telemetry);
    for (const entry of this.#entries.values()) {
      if (entry.fixed) continue;
      const ts = state.targets.get(entry.authority);
      if (entry.kind === 'pending' && (ts === undefined || ts.status === 'pending')) continue; // resolve() is under way
      try {
        this.#apply(entry, ts);
      } catch (e: unknown) {
        this.#logger.error('weft: compiling a target failed', { authority: entry.authority, error: String(e) });
      }
    }
    this.#pools.retain(endpointOrigins(state));
  }
}

function closedError(): MeshError {
  return new MeshError(ERROR_CODES.CLOSED, 'the mesh dispatcher is closed (mesh.close() was called)', { rejected: true, nonRetryable: true });
}

function parseOrigin(origin: string): URL | undefined {
  try {
    return new URL(origin);
  } catch {
    return undefined;
  }
}

/** Why an origin passes through without asking discovery, or undefined when discovery must be asked. */
function fixedPassReason(url: URL, meshDomains: readonly string[]): string | undefined {
  if (url.protocol !== 'http:') return `scheme '${url.protocol}' is not routed by the mesh (only http: is)`;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) !== 0) return `'${host}' is an IP literal`;
  if (host === 'localhost' || host.endsWith('.localhost')) return `'${host}' is localhost`;
  if (host.includes('.') && !meshDomains.some((d) => d === '*' || host.endsWith(d))) {
    return `'${host}' is a dotted name outside meshDomains (Weft Service names are single labels; add a suffix to meshDomains to route such names through the mesh)`;
  }
  return undefined;
}
