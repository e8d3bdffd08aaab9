// The protocol of one ADS stream, State of the World or incremental (delta): subscriptions, ACK/NACK, stale nonces and
// pushes per type. Rules: docs/xds-mapping.md "ADS stream"; Envoy xds_protocol.rst ("ACK and NACK semantics", "How the
// client specifies what resources to return", "Resource warming", "Incremental xDS"); xds-interop.md §3.1.
import { createHash } from 'node:crypto';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import { RESOURCE_TYPE_URLS, TYPE_URL, type AnyMessage, type ProtoObject, type ResourceTypeUrl } from '../../../src/discovery/xds/protos.js';
import type { XdsResource } from '../model.js';
import type { CachedResource, SnapshotCache } from './snapshot-cache.js';
import { encodeWithoutNonce } from './response-encoding.js';
import { StreamConvergence, type PushObserver } from './convergence.js';

/** A DiscoveryResponse as written to the stream (proto field names). */
export interface DiscoveryResponse {
  version_info: string;
  resources: AnyMessage[];
  type_url: string;
  nonce: string;
  /** Every field but the nonce, encoded once per distinct content and shared by the streams sending it (response-encoding.ts). */
  encodedWithoutNonce?: Uint8Array;
}

/** A Resource of a DeltaDiscoveryResponse: `version` is the resource's content hash (CachedResource.hash). */
export interface DeltaResource {
  name: string;
  version: string;
  resource: AnyMessage;
}

/** A DeltaDiscoveryResponse as written to the stream (proto field names). */
export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: DeltaResource[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
  /** As DiscoveryResponse.encodedWithoutNonce. */
  encodedWithoutNonce?: Uint8Array;
}

/** Which ADS method a stream speaks: StreamAggregatedResources ('sotw') or DeltaAggregatedResources ('delta'). */
export type AdsProtocol = 'sotw' | 'delta';

/** The last NACK a client sent for a type. */
export interface NackInfo {
  /** `error_detail.message` as the client sent it. */
  readonly message: string;
  /** Version of the response that was refused. */
  readonly version: string;
  readonly nonce: string;
  readonly atMs: number;
}

/** Protocol state of one type on one stream, as the admin API shows it. */
export interface ClientTypeStatus {
  readonly typeUrl: string;
  /** Names subscribed; `['*']` for a wildcard subscription. */
  readonly subscribed: readonly string[];
  /** Version of the last response sent ('' before any). */
  readonly sentVersion: string;
  readonly sentNonce: string;
  /** Version the client last ACKed ('' before any). */
  readonly ackedVersion: string;
  /** Set while the client's latest answer for this type is a NACK (cleared by a later ACK). */
  readonly nack?: NackInfo;
}

/** One connected ADS stream as the admin API shows it. */
export interface ClientStatus {
  readonly streamId: number;
  readonly nodeId: string;
  /** `node.cluster`: the service the process runs. */
  readonly service: string;
  readonly peer: string;
  /** The ADS method the stream speaks (always set by AdsStream). */
  readonly protocol?: AdsProtocol;
  /** Bytes of responses written to this stream so far, all types (always set by AdsStream). */
  readonly bytesSent?: number;
  /** The caller's authenticated SPIFFE ID; '' for an anonymous loopback caller (always set by AdsStream). */
  readonly identity?: string;
  readonly connectedAtMs: number;
  /** `user_agent_name user_agent_version` from the node, if sent. */
  readonly userAgent: string;
  readonly types: readonly ClientTypeStatus[];
}

/** What one stream was last sent per type, decoded (like gRPC CSDS). */
export interface ClientConfigDump extends Omit<ClientStatus, 'types'> {
  /** The Node message as the client sent it. */
  readonly node: ProtoObject;
  readonly types: readonly (ClientTypeStatus & { readonly resources: readonly { readonly name: string; readonly hash: string; readonly resource: XdsResource }[] })[];
}

/** What an AdsStream needs from its server. */
export interface AdsStreamOptions {
  readonly id: number;
  readonly peer: string;
  /** The caller's SPIFFE ID ('' = anonymous; default ''). */
  readonly identity?: string;
  readonly cache: SnapshotCache;
  /** The method the stream speaks (default 'sotw'): which of handleRequest / handleDeltaRequest it takes. */
  readonly protocol?: AdsProtocol;
  /** Writes a response to the wire (a DeltaDiscoveryResponse on a 'delta' stream). */
  readonly send: (response: DiscoveryResponse | DeltaDiscoveryResponse) => void;
  /** Returns a fresh nonce, greater than every earlier one. */
  readonly nextNonce: () => string;
  readonly nowMs?: () => number;
  readonly logger?: Logger;
  /** Told of every push, NACK and convergence of this stream (the control plane's metrics). */
  readonly observer?: PushObserver;
  /** What `nodeId` held of `typeUrl` when its previous stream here ended (its resumeState()); enables resuming. */
  readonly resumeFrom?: (nodeId: string, typeUrl: ResourceTypeUrl) => string | undefined;
}

interface Subscription {
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
}

interface TypeState {
  readonly typeUrl: ResourceTypeUrl;
  sub: Subscription;
  /** True while empty requests still mean wildcard (first request for LDS/CDS had no names). */
  legacyWildcard: boolean;
  /** SotW: `resource_names` of the last request, whose subscription `sub` is; an ACK repeating them reuses it. */
  requestedNames: readonly string[] | undefined;
  sentVersion: string;
  sentNonce: string;
  /** What was last sent, by name (the CachedResource objects, shared with the cache). */
  sent: ReadonlyMap<string, CachedResource>;
  /** A response is out and neither ACKed nor NACKed: further pushes wait for the answer (flow control). */
  awaitingAnswer: boolean;
  /** A subscription change arrived before the cache was ready: answer it as soon as there is a snapshot. */
  owed: boolean;
  ackedVersion: string;
  nack: NackInfo | undefined;
  /**
   * Delta only: per name, the version (content hash) the client holds once it has the responses sent so far; '' = it
   * was told the name does not exist. Seeded from `initial_resource_versions`. A NACK leaves it alone on purpose: the
   * refused resource is not resent until it changes (no NACK loop), and a reconnect, which sends the versions the
   * client really kept, gets it again.
   */
  known: Map<string, string>;
}

const TYPE_SET: ReadonlySet<string> = new Set(RESOURCE_TYPE_URLS);
/** LDS and CDS are full state of the world: a response carries every subscribed resource, absence = deleted. */
const FULL_STATE: ReadonlySet<string> = new Set([TYPE_URL.listener, TYPE_URL.cluster]);
/** SnapshotCache.sharedEncoding kinds (which message is encoded), and the mark where a delta key's removals start. */
const SOTW_KEY = Object.freeze({ key: 'sotw' });
const DELTA_KEY = Object.freeze({ key: 'delta' });
const REMOVED_KEY = Object.freeze({ key: 'removed' });
const EMPTY_SUB: Subscription = Object.freeze({ wildcard: false, names: new Set<string>() });

/**
 * One ADS stream. Subscriptions are explicit resource names; wildcard only as the legacy rule allows: a
 * first LDS/CDS request with no names is a wildcard until the client names resources, and `*` always is
 * (names given beside `*` are resolved too: server Listeners exist only by name). After names were given, an
 * empty list unsubscribes everything. Every request whose subscription changed is
 * answered, even with a stale nonce (but for a new stream's first request that resumes what the node already holds,
 * see #resume); other stale requests are ignored. Pushes compare per-resource hashes with
 * what was sent, and wait for the previous response of that type to be ACKed or NACKed.
 * A 'delta' stream takes the same subscriptions as deltas (`resource_names_subscribe` / `_unsubscribe`, `*`), resolves
 * them the same way, and sends only the resources whose hash differs from what the client holds, plus
 * `removed_resources` for names gone or never there; a response with nothing in it is not sent.
 */
export class AdsStream {
  readonly id: number;
  readonly peer: string;
  readonly protocol: AdsProtocol;
  readonly connectedAtMs: number;
  #bytesSent = 0;
  #node: ProtoObject | undefined;
  readonly #types = new Map<ResourceTypeUrl, TypeState>();
  readonly #opts: AdsStreamOptions;
  readonly #nowMs: () => number;
  readonly #logger: Logger;
  readonly #convergence: StreamConvergence | undefined;

  constructor(options: AdsStreamOptions) {
    this.#opts = options;
    this.id = options.id;
    this.peer = options.peer;
    this.protocol = options.protocol ?? 'sotw';
    this.#nowMs = options.nowMs ?? Date.now;
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.connectedAtMs = this.#nowMs();
    this.#convergence = options.observer === undefined ? undefined : new StreamConvergence(options.observer, this.#nowMs);
  }

  /** The node id from the stream's first request that carried a node ('' until then). */
  get nodeId(): string {
    return str(this.#node?.['id']);
  }

  /** Handles one DiscoveryRequest (State of the World). Never throws; unknown type URLs are logged and ignored. */
  handleRequest(request: ProtoObject): void {
    const type = this.#typeOf(request);
    if (type === undefined) return;
    let ts = this.#types.get(type);
    const first = ts === undefined;
    const names = Array.isArray(request['resource_names']) ? (request['resource_names'] as unknown[]).map(str) : [];
    ts ??= this.#newType(type, FULL_STATE.has(type) && names.length === 0);
    if (names.length > 0) ts.legacyWildcard = false;
    // Most requests are ACKs repeating the names: keep their subscription rather than rebuild and compare it.
    const repeated = sameNames(names, ts.requestedNames);
    ts.requestedNames = names;
    const sub: Subscription = repeated
      ? ts.sub
      : ts.legacyWildcard
        ? { wildcard: true, names: new Set() }
        : { wildcard: names.includes('*'), names: new Set(names.filter((n) => n !== '*')) };
    const subChanged = first || (!repeated && !sameSubscription(sub, ts.sub));

    const nonce = str(request['response_nonce']);
    if (ts.sentNonce !== '' && nonce !== ts.sentNonce) {
      // Stale: answers a response the client had not seen the latest of. Only a subscription change matters.
      if (!subChanged) return;
      ts.sub = sub;
      this.#respond(ts, true);
      return;
    }
    if (ts.sentNonce !== '' && nonce === ts.sentNonce) this.#recordAnswer(ts, request, str(request['version_info']));
    ts.sub = sub;
    if (first && nonce === '' && this.#resume(ts, str(request['version_info']))) return;
    this.#respond(ts, subChanged);
  }

  /**
   * Handles one DeltaDiscoveryRequest. Subscription changes apply whatever the nonce (they are deltas, not a state);
   * subscribing again to a subscribed name has it sent again; `initial_resource_versions` counts on the first request
   * of a type only; only an answer to the latest response
   * of a type is an ACK/NACK (as on SotW). Never throws; unknown type URLs are logged and ignored.
   */
  handleDeltaRequest(request: ProtoObject): void {
    const type = this.#typeOf(request);
    if (type === undefined) return;
    const subscribe = strings(request['resource_names_subscribe']);
    const unsubscribe = strings(request['resource_names_unsubscribe']);
    let ts = this.#types.get(type);
    const first = ts === undefined;
    if (ts === undefined) {
      ts = this.#newType(type, FULL_STATE.has(type) && subscribe.length === 0);
      const initial = request['initial_resource_versions'];
      if (typeof initial === 'object' && initial !== null) for (const [name, v] of Object.entries(initial)) ts.known.set(name, str(v));
    }
    // Most requests are ACKs with no subscription delta: the subscription stands, nothing to rebuild or compare.
    const changed = (first || subscribe.length > 0 || unsubscribe.length > 0) && this.#applyDelta(ts, first, subscribe, unsubscribe);
    const nonce = str(request['response_nonce']);
    if (ts.sentNonce !== '' && nonce === ts.sentNonce) this.#recordAnswer(ts, request, ts.sentVersion);
    this.#respond(ts, changed);
  }

  /**
   * Applies a delta request's subscription changes to `ts`. True if it must be answered: the subscription changed (or
   * this is the type's first request), or a name was subscribed again, whose version is then forgotten.
   */
  #applyDelta(ts: TypeState, first: boolean, subscribe: readonly string[], unsubscribe: readonly string[]): boolean {
    let wildcard = ts.legacyWildcard || ts.sub.wildcard;
    if (ts.legacyWildcard && subscribe.some((n) => n !== '*')) wildcard = ts.legacyWildcard = false;
    const names = new Set(ts.sub.names);
    // Subscribing to a name already subscribed asks for it again (a client that dropped its copy): forget its version.
    let resubscribed = false;
    for (const n of subscribe) {
      if (n === '*') wildcard = true;
      else {
        if (!first && names.has(n)) resubscribed = ts.known.delete(n) || resubscribed;
        names.add(n);
      }
    }
    for (const n of unsubscribe) if (n === '*') wildcard = ts.legacyWildcard = false; else names.delete(n);
    const sub: Subscription = { wildcard, names };
    const changed = first || resubscribed || !sameSubscription(sub, ts.sub);
    ts.sub = sub;
    return changed;
  }

  /** Adds `bytes` written to the wire for this stream (the server counts them as grpc-js serializes). */
  countBytesSent(bytes: number): void {
    this.#bytesSent += bytes;
  }

  /** Bytes of responses written to this stream so far. */
  get bytesSent(): number {
    return this.#bytesSent;
  }

  /** The type a request is for, taking its node if it is the first to carry one; undefined for a type Weft does not serve. */
  #typeOf(request: ProtoObject): ResourceTypeUrl | undefined {
    const node = request['node'];
    if (this.#node === undefined && typeof node === 'object' && node !== null) this.#node = node as ProtoObject;
    const typeUrl = str(request['type_url']);
    if (TYPE_SET.has(typeUrl)) return typeUrl as ResourceTypeUrl;
    this.#logger.debug('ads: request for a type Weft does not serve ignored', { stream: this.id, typeUrl });
    return undefined;
  }

  #newType(typeUrl: ResourceTypeUrl, legacyWildcard: boolean): TypeState {
    const ts: TypeState = {
      typeUrl, sub: EMPTY_SUB, legacyWildcard, requestedNames: undefined, sentVersion: '', sentNonce: '', sent: new Map(), awaitingAnswer: false, owed: false, ackedVersion: '', nack: undefined, known: new Map(),
    };
    this.#types.set(typeUrl, ts);
    return ts;
  }

  /**
   * Records the client's answer to the latest response of `ts` (both protocols): a NACK when it carries `error_detail`,
   * else an ACK of `version`. The one place an ACK is recorded, so a convergence observation belongs here.
   */
  #recordAnswer(ts: TypeState, request: ProtoObject, version: string): void {
    ts.awaitingAnswer = false;
    const nonce = ts.sentNonce;
    const errorDetail = request['error_detail'];
    if (typeof errorDetail === 'object' && errorDetail !== null) {
      const message = str((errorDetail as ProtoObject)['message']);
      ts.nack = Object.freeze({ message, version: ts.sentVersion, nonce, atMs: this.#nowMs() });
      this.#logger.warn('ads: NACK', { stream: this.id, node: this.nodeId, typeUrl: ts.typeUrl, version: ts.sentVersion, nonce, message });
      this.#convergence?.answered(ts.typeUrl, 'nack');
    } else {
      ts.ackedVersion = version;
      ts.nack = undefined;
      this.#logger.debug('ads: ACK', { stream: this.id, node: this.nodeId, typeUrl: ts.typeUrl, version, nonce });
      this.#convergence?.answered(ts.typeUrl, 'ack');
    }
  }

  /** Pushes every subscribed type among `changedTypes` whose subscribed content differs from what was sent. */
  onCacheChange(changedTypes: ReadonlySet<ResourceTypeUrl>): void {
    for (const ts of this.#types.values()) if (changedTypes.has(ts.typeUrl)) this.#respond(ts, false);
  }

  /** Current protocol state (fresh frozen objects). */
  status(): ClientStatus {
    return Object.freeze({ ...this.#identity(), types: Object.freeze([...this.#types.values()].map(typeStatus)) });
  }

  /**
   * Per type, what the node holds for sure (it ACKed the latest response, no answer pending): the key its next stream's
   * first request is compared with (AdsStreamOptions.resumeFrom). Called when the stream ends.
   */
  resumeState(): ReadonlyMap<ResourceTypeUrl, string> {
    const out = new Map<ResourceTypeUrl, string>();
    for (const ts of this.#types.values()) {
      if (ts.sentVersion !== '' && ts.ackedVersion === ts.sentVersion && ts.nack === undefined && !ts.awaitingAnswer) out.set(ts.typeUrl, resumeKey(ts.sentVersion, ts.sub, this.#node));
    }
    return out;
  }

  /** What this stream was last sent per type, with versions and NACKs. */
  configDump(): ClientConfigDump {
    return {
      ...this.#identity(),
      node: this.#node ?? {},
      types: [...this.#types.values()].map((ts) => ({
        ...typeStatus(ts),
        resources: [...ts.sent.values()].map((r) => ({ name: r.name, hash: r.hash, resource: r.resource })),
      })),
    };
  }

  #identity(): Omit<ClientStatus, 'types'> {
    const agent = [str(this.#node?.['user_agent_name']), str(this.#node?.['user_agent_version'])].filter(Boolean).join(' ');
    return {
      streamId: this.id, nodeId: this.nodeId, service: str(this.#node?.['cluster']), peer: this.peer, protocol: this.protocol, bytesSent: this.#bytesSent,
      identity: this.#opts.identity ?? '', connectedAtMs: this.connectedAtMs, userAgent: agent,
    };
  }

  /**
   * On a new stream's first request of a type: if the node ACKed exactly `version` for these names on its previous
   * stream to this server, and `version` is still current, it holds what it would be sent, so nothing is sent (no
   * re-push burst when streams reconnect, e.g. at the maximum connection age), as go-control-plane answers an up-to-date
   * SotW request. The state is then as if it had been sent and ACKed here; later changes are pushed as usual.
   * Versions from another process never match: the previous stream's state is looked up in this one.
   */
  #resume(ts: TypeState, version: string): boolean {
    const cache = this.#opts.cache;
    const held = this.#opts.resumeFrom;
    if (held === undefined || version === '' || !cache.ready || version !== cache.get(ts.typeUrl).version) return false;
    if (held(this.nodeId, ts.typeUrl) !== resumeKey(version, ts.sub, this.#node)) return false;
    ts.sent = this.#current(ts);
    ts.sentVersion = version;
    ts.ackedVersion = version;
    this.#logger.debug('ads: resumed without a response (the node holds the current version)', { stream: this.id, node: this.nodeId, typeUrl: ts.typeUrl, version });
    return true;
  }

  /** The resources `ts`'s subscription gets now, by name. */
  #current(ts: TypeState): Map<string, CachedResource> {
    const cache = this.#opts.cache;
    const current = new Map<string, CachedResource>();
    if (ts.sub.wildcard) for (const [name, r] of cache.get(ts.typeUrl).resources) current.set(name, r);
    // Every named subscription is resolved here, the one place that decides what a name gets: a snapshot resource
    // (client Listeners, per Service) or a server Listener derived from its name (gRFC A36), side by side in LDS.
    for (const name of ts.sub.names) {
      const r = current.has(name) ? undefined : cache.resolve(ts.typeUrl, name, this.#node);
      if (r) current.set(name, r);
    }
    return current;
  }

  /**
   * Sends what `ts`'s subscription needs when `forced` (the subscription changed) or when the subscribed content
   * differs from what was sent and no earlier response awaits its answer: its whole state on SotW, the difference on delta.
   */
  #respond(ts: TypeState, forced: boolean): void {
    const cache = this.#opts.cache;
    if (!cache.ready) {
      ts.owed ||= forced; // answered by onCacheChange after the first snapshot
      return;
    }
    forced ||= ts.owed;
    ts.owed = false;
    if (this.protocol === 'sotw' && !ts.sub.wildcard && ts.sub.names.size === 0) {
      // Unsubscribed from everything: nothing to send; forget what was sent so a re-subscribe is answered in full.
      ts.sent = new Map();
      ts.awaitingAnswer = false;
      this.#convergence?.answered(ts.typeUrl, 'gone');
      return;
    }
    if (!forced && ts.awaitingAnswer) return;
    const snapshot = cache.get(ts.typeUrl);
    // Same subscription, same version as last sent (an ACK, or a change to other types): nothing can differ. On delta
    // too: sentVersion is only set once the held versions (`known`) match that version's content for the subscription.
    if (!forced && ts.sentVersion === snapshot.version) return;
    const current = this.#current(ts);
    if (this.protocol === 'delta') return this.#respondDelta(ts, snapshot.version, current);
    if (!forced && !differs(current, ts.sent, FULL_STATE.has(ts.typeUrl))) return;
    const nonce = this.#markSent(ts, snapshot.version, current);
    const resources = [...current.values()];
    this.#logger.debug('ads: response', { stream: this.id, node: this.nodeId, typeUrl: ts.typeUrl, version: snapshot.version, nonce, resources: resources.length });
    const response: DiscoveryResponse = { version_info: snapshot.version, resources: resources.map((r) => r.any), type_url: ts.typeUrl, nonce: '' };
    // Every stream with this view sends the same bytes: encoded once (without the nonce), then only the nonce differs.
    response.encodedWithoutNonce = cache.sharedEncoding(ts.typeUrl, SOTW_KEY, resources, () => encodeWithoutNonce('sotw', { ...response, nonce: undefined }));
    response.nonce = nonce;
    this.#opts.send(response);
  }

  /**
   * The delta half of #respond: sends the resources of `current` whose hash the client does not hold, and as removed
   * every name it holds that is gone (or, for a named subscription, that it was never told does not exist). Names no
   * longer subscribed are forgotten without a word: the client dropped them itself.
   */
  #respondDelta(ts: TypeState, version: string, current: ReadonlyMap<string, CachedResource>): void {
    const changed: CachedResource[] = [];
    const removed: string[] = [];
    for (const [name, r] of current) if (ts.known.get(name) !== r.hash) changed.push(r);
    for (const [name, held] of ts.known) {
      if (current.has(name)) continue;
      const named = ts.sub.names.has(name);
      if (held !== '' && (named || ts.sub.wildcard)) removed.push(name);
      if (named) ts.known.set(name, '');
      else ts.known.delete(name);
    }
    for (const name of ts.sub.names) {
      if (current.has(name) || ts.known.has(name)) continue;
      removed.push(name);
      ts.known.set(name, '');
    }
    if (changed.length === 0 && removed.length === 0) {
      ts.sent = current;
      // The client holds exactly the current state (e.g. after a reconnect with initial_resource_versions): say so.
      if (!ts.awaitingAnswer && ts.nack === undefined) ts.sentVersion = ts.ackedVersion = version;
      return;
    }
    for (const r of changed) ts.known.set(r.name, r.hash);
    const nonce = this.#markSent(ts, version, current);
    this.#logger.debug('ads: delta response', { stream: this.id, node: this.nodeId, typeUrl: ts.typeUrl, version, nonce, resources: changed.length, removed: removed.length });
    const response: DeltaDiscoveryResponse = {
      system_version_info: version,
      resources: changed.map((r) => ({ name: r.name, version: r.hash, resource: r.any })),
      type_url: ts.typeUrl,
      removed_resources: removed,
      nonce: '',
    };
    // Removed names come from the client: the REMOVED marker object keeps them apart from the resources in the key.
    const key = [...changed, REMOVED_KEY, ...removed];
    // Fields set on the literal, not spread into a copy: a spread per stream per push costs more than all the rest.
    response.encodedWithoutNonce = this.#opts.cache.sharedEncoding(ts.typeUrl, DELTA_KEY, key, () => encodeWithoutNonce('delta', { ...response, nonce: undefined }));
    response.nonce = nonce;
    this.#opts.send(response);
  }

  /** Records that `current` goes out at `version` under a fresh nonce, which it returns. */
  #markSent(ts: TypeState, version: string, current: ReadonlyMap<string, CachedResource>): string {
    const nonce = this.#opts.nextNonce();
    // A new version to a stream that had one carries a change (convergence is timed from it); a first answer does not.
    this.#convergence?.sent(ts.typeUrl, ts.sentVersion !== '' && version !== ts.sentVersion ? this.#opts.cache.get(ts.typeUrl).changedAtMs : undefined);
    ts.sent = current;
    ts.sentVersion = version;
    ts.sentNonce = nonce;
    ts.awaitingAnswer = true;
    return nonce;
  }
}

/**
 * What a node held of one type when its stream ended, as compared on its next stream: the version it ACKed, and a
 * hash of the names it was subscribed to and its cluster (the inputs of derived Listeners).
 */
function resumeKey(version: string, sub: Subscription, node: ProtoObject | undefined): string {
  const names = [...sub.names].sort().join('\n');
  const hash = createHash('sha256').update(`${str(node?.['cluster'])}\n${sub.wildcard ? '*\n' : ''}${names}`).digest('base64url').slice(0, 16);
  return `${version}\n${hash}`;
}

/**
 * True if `current` must be pushed given `sent`: a subscribed resource is new or changed, or (full-state types
 * only) one was removed. RDS/EDS removals are not pushed: those types are partial, deletion follows LDS/CDS.
 */
function differs(current: ReadonlyMap<string, CachedResource>, sent: ReadonlyMap<string, CachedResource>, fullState: boolean): boolean {
  for (const [name, r] of current) if (sent.get(name)?.hash !== r.hash) return true;
  if (fullState) for (const name of sent.keys()) if (!current.has(name)) return true;
  return false;
}

function sameNames(a: readonly string[], b: readonly string[] | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameSubscription(a: Subscription, b: Subscription): boolean {
  if (a.wildcard !== b.wildcard || a.names.size !== b.names.size) return false;
  for (const n of a.names) if (!b.names.has(n)) return false;
  return true;
}

function typeStatus(ts: TypeState): ClientTypeStatus {
  const base = {
    typeUrl: ts.typeUrl,
    subscribed: ts.sub.wildcard ? ['*'] : [...ts.sub.names].sort(),
    sentVersion: ts.sentVersion,
    sentNonce: ts.sentNonce,
    ackedVersion: ts.ackedVersion,
  };
  return Object.freeze(ts.nack ? { ...base, nack: ts.nack } : base);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map(str) : [];
}
