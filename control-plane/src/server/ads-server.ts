// Serves Envoy's Aggregated Discovery Service, State of the World and incremental (delta), from a SnapshotCache on a grpc-js Server.
import * as grpc from '@grpc/grpc-js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import type { Disposable } from '../../../src/core/watch.js';
import { RESOURCE_TYPE_URLS, protos, type ProtoObject, type ResourceTypeUrl } from '../../../src/discovery/xds/protos.js';
import { AdsStream, type AdsProtocol, type ClientConfigDump, type ClientStatus, type DeltaDiscoveryResponse, type DiscoveryResponse } from './ads-stream.js';
import type { SnapshotCache } from './snapshot-cache.js';
import { serializePreEncoded } from './response-encoding.js';
import type { PushObserver } from './convergence.js';

/** Options of the AdsServer constructor. */
export interface AdsServerOptions {
  readonly cache: SnapshotCache;
  readonly logger?: Logger;
  /** Clock for connection and NACK times (default Date.now). */
  readonly nowMs?: () => number;
  /**
   * Decides, before a stream is served, whether its caller may connect (docs/security-design.md "xDS clients
   * authenticate"); `identity` is the caller's SPIFFE ID ('' = anonymous loopback). Default: everyone, anonymously.
   */
  readonly authorize?: (metadata: grpc.Metadata, peer: string) => Promise<StreamAuthorization>;
  /** Told of every push, NACK and stream convergence (the control plane's metrics); default none. */
  readonly observer?: PushObserver;
}

/** The answer of AdsServerOptions.authorize. */
export type StreamAuthorization = { readonly ok: true; readonly identity: string } | { readonly ok: false; readonly message: string };

/**
 * How many disconnected nodes' last ACKed state is remembered for resuming (AdsStream resumeFrom); past it the
 * oldest is forgotten, and that node is sent everything again when it reconnects. About 100 bytes per type per node.
 */
export const MAX_RESUMABLE_NODES = 20_000;

/** A config dump for one node id: every live stream of that node (usually one). */
export interface NodeConfigDump {
  readonly nodeId: string;
  readonly clients: readonly ClientConfigDump[];
}

/** Responses and their bytes on the wire (serialized DiscoveryResponse / DeltaDiscoveryResponse), in all and per type URL. */
export interface AdsTraffic {
  readonly responses: number;
  readonly bytes: number;
  readonly byType: Readonly<Record<ResourceTypeUrl, { readonly responses: number; readonly bytes: number }>>;
}

/** What the server has written since it started, per protocol (streams that ended included), and per live stream. */
export interface AdsBytesSent {
  readonly sotw: AdsTraffic;
  readonly delta: AdsTraffic;
  readonly streams: readonly { readonly streamId: number; readonly nodeId: string; readonly protocol: AdsProtocol; readonly bytes: number }[];
}

/** Result of looking a node up by id or unique id prefix. */
export type ConfigDumpResult =
  | { readonly ok: true; readonly dump: NodeConfigDump }
  | { readonly ok: false; readonly reason: 'not-found' }
  | { readonly ok: false; readonly reason: 'ambiguous'; readonly candidates: readonly string[] };

/**
 * The ADS server: one AdsStream per gRPC stream, several streams per node id allowed, on either ADS method
 * (StreamAggregatedResources or DeltaAggregatedResources; both share authorization, status, NACK records and config
 * dumps). Cache changes are pushed to every stream subscribed to a changed resource. Bytes written are counted per
 * protocol, type and stream (bytesSent()). After close() new streams are refused with UNAVAILABLE.
 */
export class AdsServer {
  readonly #cache: SnapshotCache;
  readonly #logger: Logger;
  readonly #nowMs: () => number;
  readonly #authorize: AdsServerOptions['authorize'];
  readonly #observer: PushObserver | undefined;
  readonly #streams = new Map<AdsStream, grpc.ServerDuplexStream<ProtoObject, AnyResponse>>();
  readonly #traffic: Record<AdsProtocol, TrafficCounter> = { sotw: newCounter(), delta: newCounter() };
  /** Responses written and not yet serialized, with who to charge their bytes to (see #definition). */
  readonly #unserialized = new WeakMap<object, (bytes: number) => void>();
  readonly #cacheWatch: Disposable;
  /** Per node id, what it held per type when its latest stream ended (insertion order = age, for eviction). */
  readonly #resumable = new Map<string, ReadonlyMap<ResourceTypeUrl, string>>();
  /** Per node id, its latest live stream: a reconnect may arrive before the stream it replaces has ended. */
  readonly #liveByNode = new Map<string, AdsStream>();
  #nextStreamId = 0;
  #nonce = 0;
  #closed = false;

  constructor(options: AdsServerOptions) {
    this.#cache = options.cache;
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#authorize = options.authorize;
    this.#observer = options.observer;
    this.#cacheWatch = this.#cache.onChange((types) => {
      for (const stream of this.#streams.keys()) {
        try {
          stream.onCacheChange(types);
        } catch (e: unknown) {
          this.#logger.error('ads: push failed', { stream: stream.id, error: String(e) });
        }
      }
    });
  }

  /** Adds the AggregatedDiscoveryService to `server`, with response serializers that count bytes for bytesSent(). */
  addTo(server: grpc.Server): void {
    server.addService(this.#definition(), this.handlers());
  }

  /** grpc-js handlers of envoy.service.discovery.v3.AggregatedDiscoveryService. */
  handlers(): grpc.UntypedServiceImplementation {
    const StreamAggregatedResources: grpc.handleBidiStreamingCall<ProtoObject, AnyResponse> = (call) => this.#serve(call, 'sotw');
    const DeltaAggregatedResources: grpc.handleBidiStreamingCall<ProtoObject, AnyResponse> = (call) => this.#serve(call, 'delta');
    return { StreamAggregatedResources, DeltaAggregatedResources };
  }

  /**
   * Bytes written since the server started, per protocol and type (fresh objects). Counted as grpc-js serializes each
   * response, so a benchmark can compare what one edit costs on delta and on SotW streams.
   */
  bytesSent(): AdsBytesSent {
    const freeze = (c: TrafficCounter): AdsTraffic => Object.freeze({
      responses: c.responses,
      bytes: c.bytes,
      byType: Object.freeze(Object.fromEntries(RESOURCE_TYPE_URLS.map((t) => [t, Object.freeze({ ...c.byType[t] })])) as AdsTraffic['byType']),
    });
    const streams = [...this.#streams.keys()].map((s) => Object.freeze({ streamId: s.id, nodeId: s.nodeId, protocol: s.protocol, bytes: s.bytesSent }));
    return Object.freeze({ sotw: freeze(this.#traffic.sotw), delta: freeze(this.#traffic.delta), streams: Object.freeze(streams) });
  }

  /** Every live stream's protocol state, ordered by node id then connection time. */
  clients(): readonly ClientStatus[] {
    return [...this.#streams.keys()]
      .map((s) => s.status())
      .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : a.connectedAtMs - b.connectedAtMs));
  }

  /** What the node `nodeIdOrPrefix` (an exact id, or a prefix of exactly one id) was last sent. */
  configDump(nodeIdOrPrefix: string): ConfigDumpResult {
    const ids = new Set([...this.#streams.keys()].map((s) => s.nodeId));
    let nodeId: string | undefined;
    if (ids.has(nodeIdOrPrefix)) nodeId = nodeIdOrPrefix;
    else {
      const matches = [...ids].filter((id) => id.startsWith(nodeIdOrPrefix)).sort();
      if (matches.length > 1) return { ok: false, reason: 'ambiguous', candidates: matches };
      nodeId = matches[0];
    }
    if (nodeId === undefined) return { ok: false, reason: 'not-found' };
    const clients = [...this.#streams.keys()].filter((s) => s.nodeId === nodeId).map((s) => s.configDump());
    return { ok: true, dump: { nodeId, clients } };
  }

  /** Ends every stream with UNAVAILABLE (clients reconnect elsewhere or later) and refuses new ones. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cacheWatch.dispose();
    for (const [stream, call] of this.#streams) {
      this.#streams.delete(stream);
      try {
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'control plane shutting down' });
      } catch (e: unknown) {
        // The call was already finishing; the server's shutdown cancels whatever is left.
        this.#logger.debug('ads: could not end a stream', { stream: stream.id, error: String(e) });
      }
    }
  }

  /** The ADS service definition with response serializers that charge each response's bytes (see #unserialized). */
  #definition(): grpc.ServiceDefinition {
    const base = protos().adsService;
    const counted: Record<string, grpc.MethodDefinition<ProtoObject, ProtoObject>> = {};
    for (const [name, method] of Object.entries(base) as [string, grpc.MethodDefinition<ProtoObject, ProtoObject>][]) {
      counted[name] = {
        ...method,
        responseSerialize: (value: ProtoObject) => {
          const bytes = serializePreEncoded(value) ?? method.responseSerialize(value);
          const charge = this.#unserialized.get(value);
          if (charge !== undefined) {
            this.#unserialized.delete(value);
            charge(bytes.length);
          }
          return bytes;
        },
      };
    }
    return counted;
  }

  #remember(stream: AdsStream): void {
    if (stream.nodeId === '' || this.#closed) return;
    if (this.#liveByNode.get(stream.nodeId) !== stream) return; // a newer stream of the node took over
    this.#liveByNode.delete(stream.nodeId);
    const state = stream.resumeState();
    this.#resumable.delete(stream.nodeId);
    if (state.size === 0) return;
    this.#resumable.set(stream.nodeId, state);
    if (this.#resumable.size > MAX_RESUMABLE_NODES) this.#resumable.delete(this.#resumable.keys().next().value!);
  }

  #serve(call: grpc.ServerDuplexStream<ProtoObject, AnyResponse>, protocol: AdsProtocol): void {
    if (this.#closed) {
      call.on('error', () => {});
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'control plane shutting down' });
      return;
    }
    if (this.#authorize === undefined) return this.#open(call, '', protocol);
    // Requests wait in the stream's buffer until the caller is known: no 'data' listener before then.
    let gone = false;
    const onGone = () => (gone = true);
    call.on('cancelled', onGone);
    call.on('error', onGone);
    this.#authorize(call.metadata, call.getPeer()).then(
      (decision) => {
        call.off('cancelled', onGone);
        call.off('error', onGone);
        if (gone) return;
        if (this.#closed) decision = { ok: false, message: 'control plane shutting down' };
        if (decision.ok) return this.#open(call, decision.identity, protocol);
        call.on('error', () => {});
        call.emit('error', { code: this.#closed ? grpc.status.UNAVAILABLE : grpc.status.UNAUTHENTICATED, details: decision.message });
      },
      (e: unknown) => {
        this.#logger.error('ads: authorization failed', { error: String(e) });
        call.on('error', () => {});
        call.emit('error', { code: grpc.status.INTERNAL, details: 'authorization failed' });
      },
    );
  }

  #open(call: grpc.ServerDuplexStream<ProtoObject, AnyResponse>, identity: string, protocol: AdsProtocol): void {
    let open = true;
    const traffic = this.#traffic[protocol];
    let held: ReadonlyMap<ResourceTypeUrl, string> | null | undefined;
    const stream: AdsStream = new AdsStream({
      id: ++this.#nextStreamId,
      peer: call.getPeer(),
      identity,
      protocol,
      cache: this.#cache,
      nowMs: this.#nowMs,
      logger: this.#logger,
      nextNonce: () => String(++this.#nonce),
      ...(this.#observer === undefined ? {} : { observer: this.#observer }),
      resumeFrom: (nodeId, typeUrl): string | undefined => {
        // Read once, at the stream's first request: the node's previous live stream (a reconnect can come before the
        // old stream ends), else what its last ended stream held. A copy: the old stream itself is not kept alive.
        if (held === undefined) {
          const live = this.#liveByNode.get(nodeId);
          held = (live !== undefined && live !== stream ? live.resumeState() : this.#resumable.get(nodeId)) ?? null;
        }
        return held?.get(typeUrl);
      },
      send: (response) => {
        if (!open) return;
        const typeUrl = response.type_url as ResourceTypeUrl;
        this.#unserialized.set(response, (bytes) => {
          stream.countBytesSent(bytes);
          traffic.responses += 1;
          traffic.bytes += bytes;
          const perType = traffic.byType[typeUrl];
          perType.responses += 1;
          perType.bytes += bytes;
        });
        call.write(response);
      },
    });
    this.#streams.set(stream, call);
    this.#logger.debug('ads: stream opened', { stream: stream.id, peer: stream.peer, protocol });
    // Headers now tell the client it is connected (and authorized) even when there is nothing to send: a delta client
    // that reconnects holding the current versions gets no response at all.
    try {
      call.sendMetadata(new grpc.Metadata());
    } catch (e: unknown) {
      this.#logger.debug('ads: could not send headers', { stream: stream.id, error: String(e) });
    }
    const finish = (why: string) => {
      if (!open) return;
      open = false;
      this.#streams.delete(stream);
      this.#remember(stream);
      this.#logger.info('ads: stream closed', { stream: stream.id, node: stream.nodeId, peer: stream.peer, why });
    };
    call.on('data', (request: ProtoObject) => {
      if (!open) return;
      const firstNode = stream.nodeId;
      try {
        if (protocol === 'delta') stream.handleDeltaRequest(request);
        else stream.handleRequest(request);
      } catch (e: unknown) {
        this.#logger.error('ads: request handling failed', { stream: stream.id, error: String(e) });
      }
      if (firstNode === '' && stream.nodeId !== '') {
        this.#liveByNode.set(stream.nodeId, stream); // after its first request: that one resumes from the previous stream
        this.#logger.info('ads: client connected', { stream: stream.id, node: stream.nodeId, peer: stream.peer, identity: identity || '(anonymous loopback)' });
      }
    });
    call.on('end', () => {
      finish('client ended the stream');
      call.end();
    });
    call.on('error', (e: unknown) => finish(`error: ${e instanceof Error ? e.message : String(e)}`));
    call.on('cancelled', () => finish('cancelled'));
    call.on('close', () => finish('closed'));
  }
}

type AnyResponse = DiscoveryResponse | DeltaDiscoveryResponse;

interface TrafficCounter {
  responses: number;
  bytes: number;
  readonly byType: Record<ResourceTypeUrl, { responses: number; bytes: number }>;
}

function newCounter(): TrafficCounter {
  return { responses: 0, bytes: 0, byType: Object.fromEntries(RESOURCE_TYPE_URLS.map((t) => [t, { responses: 0, bytes: 0 }])) as TrafficCounter['byType'] };
}
