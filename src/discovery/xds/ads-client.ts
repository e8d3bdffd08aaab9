// The SDK's xDS client: one ADS stream per process (delta, or State of the World where the server has no delta), on-demand
// targets, ACK/NACK, compiled MeshState.
import * as grpc from '@grpc/grpc-js';
import { invalidArg } from '../../core/errors.js';
import { NOOP_LOGGER, type Logger } from '../../core/logger.js';
import { WatchCell, type Disposable, type Watch } from '../../core/watch.js';
import type { Discovery, DiscoveryStatus, NackEvent, TypeStatus } from '../discovery.js';
import type { InboundState } from '../inbound-policy.js';
import { EMPTY_MESH_STATE, type MeshState, type TargetState } from '../mesh-state.js';
import {
  ADS_METHOD, DELTA_ADS_METHOD, deserializeDeltaResponse, deserializeResponse, nodeProto, serializeDeltaRequest, serializeRequest, type RawDeltaResponse, type RawResponse,
} from './ads-wire.js';
import { Backoff } from './backoff.js';
import { compileMeshState, requiredResourceNames } from './compile.js';
import { CACHED_TYPE_URLS, type CachedXdsResource, type XdsCacheContent, type XdsDiskCache } from './disk-cache.js';
import { RESOURCE_TYPE_URLS, TYPE_URL, type ProtoObject, type ResourceTypeUrl } from './protos.js';
import { ResourceCache, type ApplyResult } from './resource-cache.js';
import { RESOURCE_TYPES, type SecretResource } from './resources/index.js';
import { SecretWatchers } from './secret-watchers.js';
import { RESOURCE_TIMEOUT_MS, SotwAnswers } from './sotw-answers.js';

const TRACER = 'xds-client';
/** google.rpc.Code INVALID_ARGUMENT, sent in every NACK. */
const INVALID_ARGUMENT = 3;

/** Options of createXdsClient. */
export interface XdsClientOptions {
  /**
   * gRPC target of the ADS server (plaintext for now): `host:port`, or controlPlaneTarget()'s list of replicas, over
   * which the stream moves to another replica when its own goes away.
   */
  server: string;
  /** The xDS node this process announces in its first request. */
  node: {
    id: string;
    cluster: string;
    metadata?: Record<string, string>;
    locality?: { region?: string; zone?: string; subZone?: string };
  };
  /** Where logs go (default: nowhere). Trace lines need `WEFT_TRACE=xds-client`. */
  logger?: Logger;
  /** First reconnect delay in ms (default 100), doubled per failure up to maxBackoffMs, jittered ±20 %. */
  initialBackoffMs?: number;
  /** Longest reconnect delay in ms (default 5000). */
  maxBackoffMs?: number;
  /**
   * The credential each new stream presents as `authorization: Bearer <credential>` (a workload assertion or bootstrap
   * token, docs/security-design.md); read once per stream. Default none (accepted from loopback only).
   */
  credential?: () => string | undefined;
  /**
   * Which ADS method to speak: 'delta' (DeltaAggregatedResources, only changed resources are sent), 'sotw'
   * (StreamAggregatedResources, every subscribed resource on each change) or 'auto' (default): delta, and SotW for
   * the rest of this client's life once the server answers delta UNIMPLEMENTED (other control planes, older Weft).
   */
  protocol?: XdsProtocol;
  /**
   * Versions of resources this process already holds from elsewhere (the disk cache at start-up), per type URL, name
   * → the version the server gave it on delta. Sent as `initial_resource_versions` on delta streams for names the
   * client holds no version of itself, so the server skips what did not change. Claim only resources whose content is
   * also restored into the client: the server will not send a claimed resource again until it changes.
   */
  initialResourceVersions?: Partial<Record<ResourceTypeUrl, Readonly<Record<string, string>>>>;
  /**
   * The disk cache of last good resources (static stability): what it loaded seeds the client until the control plane
   * answers, and every accepted change is saved to it (coalesced). Default none. Closed by close().
   */
  diskCache?: XdsDiskCache;
  /**
   * State of the World: how long (ms) a requested Listener or Cluster may go unsent and unanswered on a connected stream
   * before it counts as not existing (default RESOURCE_TIMEOUT_MS, 15 s, as gRPC's does-not-exist timer). Usually the
   * server's answer to the request naming it says so first; this bounds servers that never answer such a request.
   */
  resourceTimeoutMs?: number;
}

/** The `protocol` option of createXdsClient (and `xds.protocol` of createMesh). */
export type XdsProtocol = 'auto' | 'delta' | 'sotw';

/** The values XdsProtocol takes, for validation. */
export const XDS_PROTOCOLS: readonly XdsProtocol[] = Object.freeze(['auto', 'delta', 'sotw']);

/** One resource as held by the client, for `weft config-dump`. */
export interface XdsDumpedResource {
  readonly name: string;
  readonly version: string;
  /** The resource as received (proto field names, Any expanded to `'@type'`). */
  readonly resource: ProtoObject;
}

/** Everything the client holds, per type (a CSDS-like client-side dump). */
export interface XdsConfigDump {
  readonly types: readonly { readonly typeUrl: string; readonly version: string; readonly resources: readonly XdsDumpedResource[] }[];
}

/** Discovery over ADS, plus a dump of the resources it holds and SDS secrets. */
export interface XdsClient extends Discovery {
  /** Accepted resources per type with their versions (fresh objects; the protos are shared, do not mutate). */
  configDump(): XdsConfigDump;
  /**
   * Subscribes to the SDS Secret `name` (opening the stream if needed) and calls `fn` with every accepted value that
   * differs from the last, including the one already held; never synchronously from here, never after dispose/close.
   */
  watchSecret(name: string, fn: (secret: SecretResource) => void): Disposable;
}

/** Per-type protocol state on the current stream. */
interface TypeState {
  readonly typeUrl: ResourceTypeUrl;
  subscribed: Set<string>;
  /** Last version accepted (ACKed); survives reconnects. */
  version: string;
  /** Nonce of the latest response on this stream. */
  nonce: string;
  /** error_detail message repeated on every request while the latest response stays refused (as grpc-js-xds). */
  error: string | undefined;
  lastNack: TypeStatus['lastNack'];
  /** Sorted names of the last request sent on this stream; undefined before the first. */
  sentKey: string | undefined;
  /** SotW LDS/CDS (undefined for other types): which names a response on this stream may delete by omission. */
  readonly sotw: SotwAnswers | undefined;
  /** Fires when a requested LDS/CDS name has waited RESOURCE_TIMEOUT_MS for the server to speak for it. */
  doesNotExistTimer: NodeJS.Timeout | undefined;
  /** Delta: the names the server has as subscribed on this stream (what the last request left it with). */
  readonly streamNames: Set<string>;
  /** Names dropped from the cache since the last request: if subscribed again, the server must send them again. */
  readonly dropped: Set<string>;
}

/** A bounded wait for a target's or an inbound policy's state; `settle` resolves it when decisive (or when `final`). */
interface Waiter {
  readonly settle: (state: MeshState, final: boolean) => boolean;
  readonly timer: NodeJS.Timeout;
}

const PENDING = Object.freeze({ status: 'pending' as const });
/** The longest delay Node's timers take. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** What an LDS/CDS-only rule gets for the other types. */
const NO_NAMES: ReadonlySet<string> = new Set();

/**
 * Creates an xDS client. It opens its ADS stream on the first `resolve()`, subscribes only to the Listeners asked for
 * and what they reference, and reconnects with jittered exponential backoff while keeping its last good MeshState.
 * Throws WEFT_ERR_INVALID_ARG for a missing server or node id, or a bad protocol or resourceTimeoutMs; never throws
 * afterwards except from close().
 * See https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol and gRFC A27/A46.
 */
export function createXdsClient(options: XdsClientOptions): XdsClient {
  if (typeof options?.server !== 'string' || options.server === '') invalidArg('createXdsClient: options.server must be "host:port"');
  if (typeof options.node?.id !== 'string' || options.node.id === '') invalidArg('createXdsClient: options.node.id must be a non-empty string');
  const timeoutMs = options.resourceTimeoutMs;
  // Past 2^31 - 1 ms, Node fires a timer at once (with a warning) instead of never.
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) {
    invalidArg(`createXdsClient: options.resourceTimeoutMs must be a number of ms in 1..${MAX_TIMER_MS}, got ${String(timeoutMs)}`);
  }
  if (options.protocol !== undefined && !XDS_PROTOCOLS.includes(options.protocol)) invalidArg(`createXdsClient: options.protocol must be 'auto', 'delta' or 'sotw', got ${JSON.stringify(options.protocol)}`);
  return new AdsClient(options);
}

class AdsClient implements XdsClient {
  readonly #options: XdsClientOptions;
  readonly #logger: Logger;
  readonly #tracing: boolean;
  readonly #state: WatchCell<MeshState>;
  readonly #cache = new ResourceCache();
  readonly #types = new Map<ResourceTypeUrl, TypeState>();
  readonly #targets: string[] = [];
  readonly #waiters = new Set<Waiter>();
  /** Services whose inbound policy is subscribed, in subscription order. */
  readonly #inbound: string[] = [];
  readonly #nackListeners = new Set<(event: NackEvent) => void>();
  readonly #secrets: SecretWatchers;
  readonly #backoff: Backoff;
  readonly #node: ProtoObject;
  #client: grpc.Client | undefined;
  #call: grpc.ClientDuplexStream<ProtoObject, RawResponse | RawDeltaResponse> | undefined;
  /** The method of the current (or next) stream. */
  #delta: boolean;
  /** Seeded versions (initialResourceVersions), per type; a name leaves when the server removes it. */
  readonly #seeds = new Map<ResourceTypeUrl, Map<string, string>>();
  #retryTimer: NodeJS.Timeout | undefined;
  /** Resources loaded from the disk cache, applied as names get subscribed; dropped at the first live response. */
  #seed: Map<ResourceTypeUrl, Map<string, CachedXdsResource>> | undefined;
  #nodeSent = false;
  #connected = false;
  /** The replica the current stream answers from (grpc-js call.getPeer()), set on its first response. */
  #peer: string | undefined;
  #connectedAtMs: number | undefined;
  #disconnectedAtMs: number | undefined;
  #closed = false;

  constructor(options: XdsClientOptions) {
    this.#options = options;
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#tracing = (process.env['WEFT_TRACE'] ?? '').split(',').some((t) => t.trim() === TRACER || t.trim() === '*');
    this.#state = new WatchCell<MeshState>(EMPTY_MESH_STATE, (e) => this.#logger.error('MeshState listener threw', { error: String(e) }));
    this.#backoff = new Backoff(options.initialBackoffMs ?? 100, options.maxBackoffMs ?? 5000);
    for (const typeUrl of RESOURCE_TYPE_URLS) {
      this.#types.set(typeUrl, {
        typeUrl, subscribed: new Set(), version: '', nonce: '', error: undefined, lastNack: undefined, sentKey: undefined, sotw: RESOURCE_TYPES[typeUrl].allRequiredInSotW ? new SotwAnswers() : undefined, doesNotExistTimer: undefined, streamNames: new Set(), dropped: new Set(),
      });
      const seeds = options.initialResourceVersions?.[typeUrl];
      if (seeds !== undefined) this.#seeds.set(typeUrl, new Map(Object.entries(seeds).filter(([, v]) => typeof v === 'string' && v !== '')));
    }
    this.#delta = (options.protocol ?? 'auto') !== 'sotw';
    this.#node = nodeProto(options.node);
    this.#secrets = new SecretWatchers(this.#logger, () => this.#closed);
    const loaded = options.diskCache?.loaded;
    if (loaded !== undefined && loaded.resources.length > 0) {
      this.#seed = new Map();
      for (const r of loaded.resources) {
        let byName = this.#seed.get(r.typeUrl);
        if (byName === undefined) this.#seed.set(r.typeUrl, (byName = new Map()));
        byName.set(r.name, r);
      }
    }
  }

  get state(): Watch<MeshState> {
    return this.#state;
  }

  resolve(target: string, timeoutMs: number): Promise<TargetState> {
    return this.#subscribeAndWait(this.#targets, target, timeoutMs, (s) => s.targets.get(target));
  }

  resolveInbound(service: string, timeoutMs: number): Promise<InboundState> {
    return this.#subscribeAndWait(this.#inbound, service, timeoutMs, (s) => s.inbound?.get(service));
  }

  /** Adds `name` to `list` (once), then waits (bounded) until `read` gives a decisive state. */
  #subscribeAndWait<T extends { readonly status: string }>(list: string[], name: string, timeoutMs: number, read: (s: MeshState) => T | undefined): Promise<T> {
    const current = (): T => read(this.#state.get()) ?? (PENDING as unknown as T);
    if (this.#closed) return Promise.resolve(current());
    if (!list.includes(name)) {
      this.#trace(list === this.#targets ? 'subscribe target' : 'subscribe inbound policy', { name });
      list.push(name);
      this.#recompute();
      if (this.#call === undefined && this.#retryTimer === undefined) this.#startStream();
      else this.#flushSubscriptions();
    }
    const state = current();
    if (state.status !== 'pending') return Promise.resolve(state);
    return new Promise((resolve) => {
      // Ref'd on purpose: the caller is awaiting this bounded wait, the process should not exit under it.
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        resolve(current());
      }, Math.max(0, timeoutMs));
      const waiter: Waiter = {
        timer,
        settle: (s, final) => {
          const v = read(s);
          if (!final && (v === undefined || v.status === 'pending')) return false;
          resolve(v ?? (PENDING as unknown as T));
          return true;
        },
      };
      this.#waiters.add(waiter);
    });
  }

  status(): DiscoveryStatus {
    return Object.freeze({
      connected: this.#connected,
      nodeId: this.#options.node.id,
      server: this.#options.server,
      protocol: this.#delta ? 'delta' : 'sotw',
      peer: this.#connected ? this.#peer : undefined,
      connectedAtMs: this.#connectedAtMs,
      disconnectedAtMs: this.#disconnectedAtMs,
      types: Object.freeze(
        this.#shownTypes().map((t) =>
          Object.freeze({ typeUrl: t.typeUrl, subscribed: Object.freeze([...t.subscribed].sort()), ackedVersion: t.version, lastNack: t.lastNack }),
        ),
      ),
      ...(this.#options.diskCache !== undefined && { cache: this.#options.diskCache.status(this.#cache.fromDiskCount()) }),
    });
  }

  onNack(fn: (event: NackEvent) => void): Disposable {
    this.#nackListeners.add(fn);
    return { dispose: () => void this.#nackListeners.delete(fn) };
  }

  watchSecret(name: string, fn: (secret: SecretResource) => void): Disposable {
    if (this.#closed) return { dispose() {} };
    const watch = this.#secrets.add(name, fn, this.#cache.accepted(TYPE_URL.secret).get(name)?.value as SecretResource | undefined);
    if (watch.first) {
      this.#recompute();
      if (this.#call === undefined && this.#retryTimer === undefined) this.#startStream();
      else this.#flushSubscriptions();
    }
    return {
      dispose: () => {
        if (!watch.remove() || this.#closed) return;
        this.#recompute();
        this.#flushSubscriptions();
      },
    };
  }

  configDump(): XdsConfigDump {
    return {
      types: this.#shownTypes().map((t) => ({
        typeUrl: t.typeUrl,
        version: t.version,
        resources: [...this.#cache.accepted(t.typeUrl).values()].map((r) => ({ name: r.name, version: r.version, resource: r.proto })),
      })),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const t of this.#types.values()) clearTimeout(t.doesNotExistTimer);
    const call = this.#call;
    this.#call = undefined;
    call?.cancel();
    this.#client?.close();
    this.#client = undefined;
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.settle(this.#state.get(), true);
    }
    this.#waiters.clear();
    this.#nackListeners.clear();
    this.#secrets.clear();
    await this.#options.diskCache?.close(); // writes the latest accepted state if a write was still pending
    this.#logger.info('xDS client closed', { server: this.#options.server });
  }

  /** The types status() and configDump() show: the four routing types always, SDS once it is used. */
  #shownTypes(): TypeState[] {
    return [...this.#types.values()].filter((t) => t.typeUrl !== TYPE_URL.secret || t.subscribed.size > 0 || t.version !== '');
  }

  #startStream(): void {
    if (this.#closed) return;
    this.#retryTimer = undefined;
    const initialMs = this.#options.initialBackoffMs ?? 100;
    let call: grpc.ClientDuplexStream<ProtoObject, RawResponse | RawDeltaResponse>;
    const delta = this.#delta;
    try {
      if (this.#client === undefined) {
        this.#client = new grpc.Client(this.#options.server, grpc.credentials.createInsecure(), {
          // The channel's own reconnect backoff must not outlast ours, or a restarted server is found late.
          'grpc.initial_reconnect_backoff_ms': initialMs,
          'grpc.max_reconnect_backoff_ms': Math.max(this.#options.maxBackoffMs ?? 5000, initialMs),
        });
        this.#watchConnection(this.#client);
      }
      const metadata = new grpc.Metadata();
      const credential = this.#options.credential?.();
      if (credential !== undefined && credential !== '') metadata.set('authorization', `Bearer ${credential}`);
      call = delta
        ? this.#client.makeBidiStreamRequest(DELTA_ADS_METHOD, serializeDeltaRequest, deserializeDeltaResponse, metadata)
        : this.#client.makeBidiStreamRequest(ADS_METHOD, serializeRequest, deserializeResponse, metadata);
    } catch (e: unknown) {
      // grpc-js refuses some targets synchronously; discovery never throws, so report and retry like a failed stream.
      this.#logger.error('xDS stream could not be started', { server: this.#options.server, error: String(e) });
      this.#scheduleReconnect();
      return;
    }
    this.#call = call;
    this.#nodeSent = false;
    for (const t of this.#types.values()) {
      t.nonce = '';
      t.sentKey = undefined;
      t.sotw?.reset();
      clearTimeout(t.doesNotExistTimer);
      t.doesNotExistTimer = undefined;
      t.streamNames.clear();
      t.dropped.clear();
    }
    let answered = false;
    const up = () => {
      if (!this.#connected) {
        this.#peer = call.getPeer();
        this.#connectedAtMs = Date.now();
        this.#logger.info('xDS stream connected', { server: this.#options.server, peer: this.#peer, protocol: delta ? 'delta' : 'sotw' });
      }
      this.#connected = true;
    };
    // The server's headers say it accepted the stream: a stream resumed with nothing new (SotW resume, or delta with
    // initial_resource_versions) gets no response at all.
    call.on('metadata', () => {
      if (call === this.#call) up();
    });
    call.on('data', (response: RawResponse | RawDeltaResponse) => {
      if (call !== this.#call) return;
      up();
      answered = true;
      this.#backoff.reset(); // only on data: a server that accepts streams and then fails them must still back us off
      if ('system_version_info' in response) this.#onDeltaResponse(response);
      else this.#onResponse(response);
    });
    call.on('error', (e: Error) => this.#trace('stream error', { error: e.message }));
    call.on('status', (status: grpc.StatusObject) => {
      if (call !== this.#call) return;
      this.#call = undefined;
      const peer = this.#connected ? this.#peer : undefined;
      this.#connected = false;
      this.#disconnectedAtMs = Date.now();
      if (this.#closed) return;
      if (delta && !answered && status.code === grpc.status.UNIMPLEMENTED && (this.#options.protocol ?? 'auto') === 'auto') {
        // A control plane without delta xDS (another vendor's, an older Weft): speak State of the World to it from now on.
        this.#logger.info('xDS server has no delta ADS; using State of the World', { server: this.#options.server, details: status.details });
        this.#delta = false;
        this.#startStream();
        return;
      }
      this.#logger.warn('xDS stream ended; keeping the last good state and reconnecting', {
        server: this.#options.server, peer, code: status.code, details: status.details,
      });
      this.#scheduleReconnect();
    });
    this.#trace('stream started', { server: this.#options.server });
    this.#flushSubscriptions();
  }

  /**
   * Follows the channel's connectivity: when it leaves READY under a stream that worked, the server has sent a GOAWAY
   * (its maximum connection age: it rebalances long-lived streams across replicas) or the connection dropped. The
   * stream is reopened at once on a fresh connection, as a routine event: no backoff, no warning, the cached
   * resources kept (the request path never waits on this). A reconnect that then fails takes the usual backoff path.
   */
  #watchConnection(client: grpc.Client): void {
    const channel = client.getChannel();
    const watch = (from: grpc.connectivityState): void => {
      try {
        channel.watchConnectivityState(from, Infinity, () => {
          if (this.#closed || this.#client !== client) return;
          const now = channel.getConnectivityState(false);
          if (from === grpc.connectivityState.READY && now !== grpc.connectivityState.READY) this.#reopenAfterGoaway();
          watch(now);
        });
      } catch (e: unknown) {
        this.#trace('connectivity watch ended', { error: String(e) }); // the channel was shut down
      }
    };
    watch(channel.getConnectivityState(false));
  }

  #reopenAfterGoaway(): void {
    const call = this.#call;
    if (call === undefined || !this.#connected || this.#closed) return;
    this.#logger.info('xDS connection recycled by the control plane (GOAWAY: maximum connection age); reopening the stream', { server: this.#options.server });
    this.#call = undefined;
    this.#connected = false;
    call.cancel();
    this.#startStream();
  }

  #scheduleReconnect(): void {
    const delayMs = this.#backoff.next();
    this.#trace('reconnect scheduled', { inMs: delayMs });
    this.#retryTimer = setTimeout(() => this.#startStream(), delayMs);
    this.#retryTimer.unref(); // reconnecting alone must not keep the process alive
  }

  #onResponse(response: RawResponse): void {
    const type = this.#requestedType(response.type_url, response.nonce, { version: response.version_info, resources: response.resources.length });
    if (type === undefined) return;
    type.nonce = response.nonce;
    type.sotw?.received(response.version_info);
    const result = this.#cache.apply(type.typeUrl, response.version_info, response.resources, type.subscribed, type.sotw?.answered() ?? NO_NAMES);
    type.sotw?.carried(result.seen);
    this.#settle(type, response.version_info, response.nonce, result);
  }

  /** Arms `type`'s does-not-exist timer for its next overdue name (SotW LDS/CDS), unless armed or none waits. */
  #armDoesNotExist(type: TypeState): void {
    const timeoutMs = this.#options.resourceTimeoutMs ?? RESOURCE_TIMEOUT_MS;
    const deadlineMs = type.sotw?.nextDeadlineMs(timeoutMs);
    if (deadlineMs === undefined || type.doesNotExistTimer !== undefined) return;
    type.doesNotExistTimer = setTimeout(() => {
      type.doesNotExistTimer = undefined;
      if (this.#closed || this.#call === undefined || type.sotw === undefined) return;
      if (!this.#connected) type.sotw.restartClock(Date.now()); // a server that is not there has not said anything
      else {
        const absent = type.sotw.overdue(Date.now(), timeoutMs).filter((name) => type.subscribed.has(name) && !this.#cache.accepted(type.typeUrl).has(name));
        if (absent.length > 0) {
          this.#logger.warn(`xDS ${RESOURCE_TYPES[type.typeUrl].shortName}: the server did not send requested resources within ${timeoutMs} ms; they do not exist`, { names: absent });
          if (this.#cache.markAbsent(type.typeUrl, absent)) this.#recompute();
        }
      }
      this.#armDoesNotExist(type);
    }, Math.max(0, deadlineMs - Date.now()));
    type.doesNotExistTimer.unref(); // a pending name must not keep the process alive
  }

  /** A delta response: the same checks and last-good rule as SotW (ResourceCache), then the same ACK/NACK. */
  #onDeltaResponse(response: RawDeltaResponse): void {
    const type = this.#requestedType(response.type_url, response.nonce, {
      version: response.system_version_info, resources: response.resources.length, removed: response.removed_resources.length,
    });
    if (type === undefined) return;
    type.nonce = response.nonce;
    const seeds = this.#seeds.get(type.typeUrl);
    for (const name of response.removed_resources) seeds?.delete(name);
    const result = this.#cache.applyDelta(type.typeUrl, response.resources, response.removed_resources, type.subscribed);
    this.#settle(type, response.system_version_info, response.nonce, result);
  }

  /** The state of a response's type, or undefined (logged) when the type is unknown or was never asked for. */
  #requestedType(typeUrl: string, nonce: string, fields: Record<string, unknown>): TypeState | undefined {
    const type = this.#types.get(typeUrl as ResourceTypeUrl);
    if (type === undefined) {
      this.#logger.warn('xDS response of an unknown type ignored', { typeUrl });
      return undefined;
    }
    const short = RESOURCE_TYPES[type.typeUrl].shortName;
    this.#trace(`${short} response`, { nonce, ...fields });
    if (type.sentKey === undefined && type.subscribed.size === 0) {
      // Never asked for on this stream: answering would send empty resource_names, which old servers read as wildcard.
      this.#logger.warn(`xDS ${short} response for a type never requested ignored`, { nonce });
      return undefined;
    }
    return type;
  }

  /** After a response was applied (either protocol): record the ACK or NACK, recompile, answer, and notify. */
  #settle(type: TypeState, version: string, nonce: string, result: ApplyResult): void {
    const versionBefore = type.version;
    this.#seed = undefined; // the control plane answers: from now on it, not the disk, fills new subscriptions
    let nack: NackEvent | undefined;
    if (result.errors.length > 0) {
      const message = result.errors.join('\n');
      type.error = message;
      type.lastNack = Object.freeze({ version, nonce, message, atMs: Date.now() });
      nack = Object.freeze({ typeUrl: type.typeUrl, version, nonce, message });
      this.#logger.warn(`xDS ${RESOURCE_TYPES[type.typeUrl].shortName} update refused (NACK); keeping the last good values`, { version, message });
    } else {
      type.version = version;
      type.error = undefined;
      type.lastNack = undefined;
    }
    if (result.changed) this.#recompute();
    if ((result.changed || type.version !== versionBefore) && CACHED_TYPE_URLS.includes(type.typeUrl)) this.#options.diskCache?.save(() => this.#cacheContent());
    this.#send(type, true); // ACK or NACK, with this type's current names
    this.#flushSubscriptions();
    if (nack !== undefined) this.#emitNack(nack);
    if (result.changed && type.typeUrl === TYPE_URL.secret) {
      const accepted = this.#cache.accepted(TYPE_URL.secret);
      this.#secrets.deliver((name) => accepted.get(name)?.value as SecretResource | undefined);
    }
  }

  /**
   * Compiles and publishes the MeshState, updates subscriptions, and settles waiters. One compile per response; while
   * resources from the disk cache remain to be used, one more per step of the LDS → RDS → CDS → EDS chain they fill.
   */
  #recompute(): void {
    const input = { targets: this.#targets, resources: this.#cache, inbound: this.#inbound };
    let next: MeshState;
    for (let pass = 0; ; pass++) {
      next = compileMeshState(input, this.#state.get());
      const required = new Map(requiredResourceNames(input, next));
      required.set(TYPE_URL.secret, new Set(this.#secrets.names()));
      for (const type of this.#types.values()) {
        const names = required.get(type.typeUrl) ?? new Set<string>();
        for (const name of type.subscribed) {
          if (!names.has(name)) {
            this.#trace(`unsubscribe ${RESOURCE_TYPES[type.typeUrl].shortName}`, { name });
            this.#cache.drop(type.typeUrl, name);
            type.sotw?.forget(name);
          }
        }
        type.subscribed = new Set(names);
      }
      // Bounded: each pass that seeds moves at least one step down the four-type chain.
      if (pass >= 8 || !this.#applySeed()) break;
    }
    if (next !== this.#state.get()) {
      this.#trace('publish MeshState', { generation: next.generation, targets: next.targets.size, clusters: next.clusters.size });
      this.#state.set(next);
    }
    const published = this.#state.get(); // not `next`: a state listener may have re-entered and published a newer one
    for (const w of this.#waiters) {
      if (!w.settle(published, false)) continue;
      clearTimeout(w.timer);
      this.#waiters.delete(w);
    }
  }

  /**
   * Accepts, through the same validation as live resources, the disk-cached resources of every subscribed name not yet
   * held; a cached one that no longer validates is dropped with a warning. True if anything was accepted.
   */
  #applySeed(): boolean {
    const seed = this.#seed;
    if (seed === undefined) return false;
    let applied = false;
    for (const type of this.#types.values()) {
      const byName = seed.get(type.typeUrl);
      if (byName === undefined) continue;
      for (const name of type.subscribed) {
        const r = byName.get(name);
        if (r === undefined || this.#cache.accepted(type.typeUrl).has(name)) continue;
        byName.delete(name);
        const errors = this.#cache.seed(type.typeUrl, name, r.version, r.any);
        if (errors.length > 0) {
          this.#logger.warn('xDS disk cache: a cached resource no longer validates and is dropped', {
            file: this.#options.diskCache?.file, typeUrl: type.typeUrl, name, errors: errors.join('; '),
          });
          continue;
        }
        this.#trace(`${RESOURCE_TYPES[type.typeUrl].shortName} from disk cache`, { name, version: r.version });
        applied = true;
      }
    }
    return applied;
  }

  /** What the disk cache stores: every accepted routing resource with its version and wire bytes. */
  #cacheContent(): XdsCacheContent {
    const resources: CachedXdsResource[] = [];
    for (const typeUrl of CACHED_TYPE_URLS) {
      for (const r of this.#cache.accepted(typeUrl).values()) resources.push({ typeUrl, name: r.name, version: r.version, any: { type_url: typeUrl, value: r.raw } });
    }
    return { server: this.#options.server, resources };
  }

  /** Sends a request for every type whose names differ from the last request on this stream. */
  #flushSubscriptions(): void {
    for (const type of this.#types.values()) {
      const key = sortedKey(type.subscribed);
      const refetch = this.#delta && [...type.dropped].some((n) => type.subscribed.has(n));
      if ((key === type.sentKey && !refetch) || (type.sentKey === undefined && type.subscribed.size === 0)) continue;
      this.#send(type);
    }
  }

  /**
   * Sends `type`'s request: on SotW its whole name list (which is also the ACK/NACK of the latest response); on delta
   * the names added and dropped since the last request, with `initial_resource_versions` on the first of the stream,
   * and the nonce (and error) only when `answer`ing a response.
   */
  #send(type: TypeState, answer = false): void {
    const call = this.#call;
    if (call === undefined || this.#closed) return;
    const names = [...type.subscribed].sort();
    let request: ProtoObject;
    if (this.#delta) {
      // A name dropped and subscribed again before this request: the server still counts it as held, so ask again.
      const subscribe = names.filter((n) => !type.streamNames.has(n) || type.dropped.has(n));
      const unsubscribe = [...type.streamNames].filter((n) => !type.subscribed.has(n)).sort();
      request = { type_url: type.typeUrl, resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe };
      if (type.sentKey === undefined) request['initial_resource_versions'] = this.#heldVersions(type);
      if (answer) request['response_nonce'] = type.nonce;
      type.streamNames.clear();
      for (const n of names) type.streamNames.add(n);
    } else {
      request = { type_url: type.typeUrl, resource_names: names, version_info: type.version, response_nonce: type.nonce };
      type.sotw?.sent(names, Date.now());
    }
    if (!this.#nodeSent) {
      request['node'] = this.#node;
      this.#nodeSent = true;
    }
    if (type.error !== undefined && (answer || !this.#delta)) request['error_detail'] = { code: INVALID_ARGUMENT, message: type.error };
    type.sentKey = names.join('\n');
    type.dropped.clear();
    this.#trace(`${RESOURCE_TYPES[type.typeUrl].shortName} request`, {
      names, version: type.version, nonce: type.nonce, nack: type.error !== undefined, delta: this.#delta,
    });
    call.write(request);
    if (!this.#delta) this.#armDoesNotExist(type);
  }

  /**
   * Name → version of every subscribed resource of `type` held (accepted, else seeded), for `initial_resource_versions`.
   * Resources read from the disk cache are not claimed: the server then sends them once, which confirms them live (a
   * cached resource the server never sends would stay "from the cache" in status, with no way to tell it is current).
   */
  #heldVersions(type: TypeState): Record<string, string> {
    const accepted = this.#cache.accepted(type.typeUrl);
    const seeds = this.#seeds.get(type.typeUrl);
    const held: Record<string, string> = {};
    for (const name of type.subscribed) {
      if (this.#cache.isFromDisk(type.typeUrl, name)) continue;
      const version = accepted.get(name)?.version ?? seeds?.get(name);
      if (version !== undefined && version !== '') held[name] = version;
    }
    return held;
  }

  #emitNack(event: NackEvent): void {
    queueMicrotask(() => {
      for (const fn of [...this.#nackListeners]) {
        try {
          fn(event);
        } catch (e: unknown) {
          this.#logger.error('onNack listener threw', { error: String(e) });
        }
      }
    });
  }

  #trace(message: string, fields?: Record<string, unknown>): void {
    if (this.#tracing) this.#logger.debug(`${TRACER}: ${message}`, fields);
  }
}

function sortedKey(names: ReadonlySet<string>): string {
  return [...names].sort().join('\n');
}
