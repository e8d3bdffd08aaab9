// The SDK's xDS client: one State-of-the-World ADS stream per process, on-demand targets, ACK/NACK, compiled MeshState.
import * as grpc from '@grpc/grpc-js';
import { invalidArg } from '../../core/errors.js';
import { NOOP_LOGGER, type Logger } from '../../core/logger.js';
import { WatchCell, type Disposable, type Watch } from '../../core/watch.js';
import type { Discovery, DiscoveryStatus, NackEvent, TypeStatus } from '../discovery.js';
import type { InboundState } from '../inbound-policy.js';
import { EMPTY_MESH_STATE, type MeshState, type TargetState } from '../mesh-state.js';
import { ADS_METHOD, deserializeResponse, nodeProto, serializeRequest, type RawResponse } from './ads-wire.js';
import { Backoff } from './backoff.js';
import { compileMeshState, requiredResourceNames } from './compile.js';
import { RESOURCE_TYPE_URLS, TYPE_URL, type ProtoObject, type ResourceTypeUrl } from './protos.js';
import { ResourceCache } from './resource-cache.js';
import { RESOURCE_TYPES, type SecretResource } from './resources/index.js';
import { SecretWatchers } from './secret-watchers.js';

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
}

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
  /** Every name asked for on this stream: only those can be deleted by omission from an LDS/CDS response. */
  readonly sentOnStream: Set<string>;
}

/** A bounded wait for a target's or an inbound policy's state; `settle` resolves it when decisive (or when `final`). */
interface Waiter {
  readonly settle: (state: MeshState, final: boolean) => boolean;
  readonly timer: NodeJS.Timeout;
}

const PENDING = Object.freeze({ status: 'pending' as const });

/**
 * Creates an xDS client. It opens its ADS stream on the first `resolve()`, subscribes only to the Listeners asked for
 * and what they reference, and reconnects with jittered exponential backoff while keeping its last good MeshState.
 * Throws WEFT_ERR_INVALID_ARG for a missing server or node id; never throws afterwards except from close().
 * See https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol and gRFC A27/A46.
 */
export function createXdsClient(options: XdsClientOptions): XdsClient {
  if (typeof options?.server !== 'string' || options.server === '') invalidArg('createXdsClient: options.server must be "host:port"');
  if (typeof options.node?.id !== 'string' || options.node.id === '') invalidArg('createXdsClient: options.node.id must be a non-empty string');
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
  #call: grpc.ClientDuplexStream<ProtoObject, RawResponse> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
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
        typeUrl, subscribed: new Set(), version: '', nonce: '', error: undefined, lastNack: undefined, sentKey: undefined, sentOnStream: new Set(),
      });
    }
    this.#node = nodeProto(options.node);
    this.#secrets = new SecretWatchers(this.#logger, () => this.#closed);
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
      peer: this.#connected ? this.#peer : undefined,
      connectedAtMs: this.#connectedAtMs,
      disconnectedAtMs: this.#disconnectedAtMs,
      types: Object.freeze(
        this.#shownTypes().map((t) =>
          Object.freeze({ typeUrl: t.typeUrl, subscribed: Object.freeze([...t.subscribed].sort()), ackedVersion: t.version, lastNack: t.lastNack }),
        ),
      ),
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
    let call: grpc.ClientDuplexStream<ProtoObject, RawResponse>;
    try {
      this.#client ??= new grpc.Client(this.#options.server, grpc.credentials.createInsecure(), {
        // The channel's own reconnect backoff must not outlast ours, or a restarted server is found late.
        'grpc.initial_reconnect_backoff_ms': initialMs,
        'grpc.max_reconnect_backoff_ms': Math.max(this.#options.maxBackoffMs ?? 5000, initialMs),
      });
      const metadata = new grpc.Metadata();
      const credential = this.#options.credential?.();
      if (credential !== undefined && credential !== '') metadata.set('authorization', `Bearer ${credential}`);
      call = this.#client.makeBidiStreamRequest(ADS_METHOD, serializeRequest, deserializeResponse, metadata);
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
      t.sentOnStream.clear();
    }
    call.on('data', (response: RawResponse) => {
      if (call !== this.#call) return;
      if (!this.#connected) {
        this.#peer = call.getPeer();
        this.#connectedAtMs = Date.now();
        this.#logger.info('xDS stream connected', { server: this.#options.server, peer: this.#peer });
      }
      this.#connected = true;
      this.#backoff.reset();
      this.#onResponse(response);
    });
    call.on('error', (e: Error) => this.#trace('stream error', { error: e.message }));
    call.on('status', (status: grpc.StatusObject) => {
      if (call !== this.#call) return;
      this.#call = undefined;
      const peer = this.#connected ? this.#peer : undefined;
      this.#connected = false;
      this.#disconnectedAtMs = Date.now();
      if (this.#closed) return;
      this.#logger.warn('xDS stream ended; keeping the last good state and reconnecting', {
        server: this.#options.server, peer, code: status.code, details: status.details,
      });
      this.#scheduleReconnect();
    });
    this.#trace('stream started', { server: this.#options.server });
    this.#flushSubscriptions();
  }

  #scheduleReconnect(): void {
    const delayMs = this.#backoff.next();
    this.#trace('reconnect scheduled', { inMs: delayMs });
    this.#retryTimer = setTimeout(() => this.#startStream(), delayMs);
    this.#retryTimer.unref(); // reconnecting alone must not keep the process alive
  }

  #onResponse(response: RawResponse): void {
    const type = this.#types.get(response.type_url as ResourceTypeUrl);
    if (type === undefined) {
      this.#logger.warn('xDS response of an unknown type ignored', { typeUrl: response.type_url });
      return;
    }
    const short = RESOURCE_TYPES[type.typeUrl].shortName;
    this.#trace(`${short} response`, { version: response.version_info, nonce: response.nonce, resources: response.resources.length });
    if (type.sentKey === undefined && type.subscribed.size === 0) {
      // Never asked for on this stream: answering would send empty resource_names, which old servers read as wildcard.
      this.#logger.warn(`xDS ${short} response for a type never requested ignored`, { nonce: response.nonce });
      return;
    }
    type.nonce = response.nonce;
    const result = this.#cache.apply(type.typeUrl, response.version_info, response.resources, type.subscribed, type.sentOnStream);
    let nack: NackEvent | undefined;
    if (result.errors.length > 0) {
      const message = result.errors.join('\n');
      type.error = message;
      type.lastNack = Object.freeze({ version: response.version_info, nonce: response.nonce, message, atMs: Date.now() });
      nack = Object.freeze({ typeUrl: type.typeUrl, version: response.version_info, nonce: response.nonce, message });
      this.#logger.warn(`xDS ${short} update refused (NACK); keeping the last good values`, { version: response.version_info, message });
    } else {
      type.version = response.version_info;
      type.error = undefined;
      type.lastNack = undefined;
    }
    if (result.changed) this.#recompute();
    this.#send(type); // ACK or NACK, with this type's current names
    this.#flushSubscriptions();
    if (nack !== undefined) this.#emitNack(nack);
    if (result.changed && type.typeUrl === TYPE_URL.secret) {
      const accepted = this.#cache.accepted(TYPE_URL.secret);
      this.#secrets.deliver((name) => accepted.get(name)?.value as SecretResource | undefined);
    }
  }

  /** Compiles and publishes the MeshState, updates subscriptions, and settles waiters. One compile per response. */
  #recompute(): void {
    const input = { targets: this.#targets, resources: this.#cache, inbound: this.#inbound };
    const next = compileMeshState(input, this.#state.get());
    const required = new Map(requiredResourceNames(input, next));
    required.set(TYPE_URL.secret, new Set(this.#secrets.names()));
    for (const type of this.#types.values()) {
      const names = required.get(type.typeUrl) ?? new Set<string>();
      for (const name of type.subscribed) {
        if (!names.has(name)) {
          this.#trace(`unsubscribe ${RESOURCE_TYPES[type.typeUrl].shortName}`, { name });
          this.#cache.drop(type.typeUrl, name);
        }
      }
      type.subscribed = new Set(names);
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

  /** Sends a request for every type whose names differ from the last request on this stream. */
  #flushSubscriptions(): void {
    for (const type of this.#types.values()) {
      const key = sortedKey(type.subscribed);
      if (key === type.sentKey || (type.sentKey === undefined && type.subscribed.size === 0)) continue;
      this.#send(type);
    }
  }

  #send(type: TypeState): void {
    const call = this.#call;
    if (call === undefined || this.#closed) return;
    const names = [...type.subscribed].sort();
    const request: ProtoObject = {
      type_url: type.typeUrl,
      resource_names: names,
      version_info: type.version,
      response_nonce: type.nonce,
    };
    if (!this.#nodeSent) {
      request['node'] = this.#node;
      this.#nodeSent = true;
    }
    if (type.error !== undefined) request['error_detail'] = { code: INVALID_ARGUMENT, message: type.error };
    type.sentKey = names.join('\n');
    for (const n of names) type.sentOnStream.add(n);
    this.#trace(`${RESOURCE_TYPES[type.typeUrl].shortName} request`, {
      names, version: type.version, nonce: type.nonce, nack: type.error !== undefined,
    });
    call.write(request);
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
