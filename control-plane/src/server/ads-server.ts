// Serves Envoy's Aggregated Discovery Service (State of the World) from a SnapshotCache on a grpc-js Server.
import * as grpc from '@grpc/grpc-js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import type { Disposable } from '../../../src/core/watch.js';
import { protos, type ProtoObject, type ResourceTypeUrl } from '../../../src/discovery/xds/protos.js';
import { AdsStream, type ClientConfigDump, type ClientStatus, type DiscoveryResponse } from './ads-stream.js';
import type { SnapshotCache } from './snapshot-cache.js';
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

/** Result of looking a node up by id or unique id prefix. */
export type ConfigDumpResult =
  | { readonly ok: true; readonly dump: NodeConfigDump }
  | { readonly ok: false; readonly reason: 'not-found' }
  | { readonly ok: false; readonly reason: 'ambiguous'; readonly candidates: readonly string[] };

/**
 * The ADS server: one AdsStream per gRPC stream, several streams per node id allowed. Cache changes are
 * pushed to every stream subscribed to a changed resource. Delta xDS is answered UNIMPLEMENTED.
 * After close() new streams are refused with UNAVAILABLE.
 */
export class AdsServer {
  readonly #cache: SnapshotCache;
  readonly #logger: Logger;
  readonly #nowMs: () => number;
  readonly #authorize: AdsServerOptions['authorize'];
  readonly #observer: PushObserver | undefined;
  readonly #streams = new Map<AdsStream, grpc.ServerDuplexStream<ProtoObject, DiscoveryResponse>>();
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

  /** Adds the AggregatedDiscoveryService to `server`. */
  addTo(server: grpc.Server): void {
    server.addService(protos().adsService, this.handlers());
  }

  /** grpc-js handlers of envoy.service.discovery.v3.AggregatedDiscoveryService. */
  handlers(): grpc.UntypedServiceImplementation {
    const StreamAggregatedResources: grpc.handleBidiStreamingCall<ProtoObject, DiscoveryResponse> = (call) => this.#serve(call);
    const DeltaAggregatedResources: grpc.handleBidiStreamingCall<ProtoObject, ProtoObject> = (call) => {
      call.on('error', () => {});
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'Weft serves State-of-the-World ADS only (StreamAggregatedResources)' });
    };
    return { StreamAggregatedResources, DeltaAggregatedResources };
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

  #serve(call: grpc.ServerDuplexStream<ProtoObject, DiscoveryResponse>): void {
    if (this.#closed) {
      call.on('error', () => {});
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'control plane shutting down' });
      return;
    }
    if (this.#authorize === undefined) return this.#open(call, '');
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
        if (decision.ok) return this.#open(call, decision.identity);
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

  #open(call: grpc.ServerDuplexStream<ProtoObject, DiscoveryResponse>, identity: string): void {
    let open = true;
    let held: ReadonlyMap<ResourceTypeUrl, string> | null | undefined;
    const stream = new AdsStream({
      id: ++this.#nextStreamId,
      peer: call.getPeer(),
      identity,
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
        if (open) call.write(response);
      },
    });
    this.#streams.set(stream, call);
    // Headers now tell the client the stream is accepted, even if no response follows (a resumed stream).
    try {
      call.sendMetadata(new grpc.Metadata());
    } catch (e: unknown) {
      this.#logger.debug('ads: could not send headers; the stream is ending', { stream: stream.id, error: String(e) });
    }
    this.#logger.debug('ads: stream opened', { stream: stream.id, peer: stream.peer });
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
        stream.handleRequest(request);
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
