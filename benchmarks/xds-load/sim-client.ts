// One simulated xDS client of the load harness: a minimal real ADS stream (State of the World or delta) over grpc-js, with the
// node view an SDK process has (Listeners of its dependsOn targets plus its own inbound Listener, their routes,
// clusters and endpoints), ACKing every response and reporting when it first ACKs a version carrying a marker.
import * as grpc from '@grpc/grpc-js';
import {
  ADS_METHOD, DELTA_ADS_METHOD, deserializeDeltaResponse, deserializeResponse, nodeProto, serializeDeltaRequest, serializeRequest, type RawDeltaResponse, type RawResponse,
} from '../../src/discovery/xds/ads-wire.js';
import { TYPE_URL, type ProtoObject, type ResourceTypeUrl } from '../../src/discovery/xds/protos.js';
import { inboundListenerName } from '../../src/discovery/inbound-policy.js';

/** Who one simulated client is: its node id, the Service it runs (`node.cluster`) and the Services it calls. */
export interface SimClientSpec {
  readonly id: number;
  readonly service: string;
  readonly dependsOn: readonly string[];
  /** The port of every dependsOn Service (its Cluster is `<service>:<port>`). */
  readonly port: number;
  /** StreamAggregatedResources ('sotw', the default) or DeltaAggregatedResources ('delta'). */
  readonly protocol?: 'sotw' | 'delta';
}

/**
 * Markers let a benchmark tell which version carries its change without reading versions: an HTTPRoute path prefix
 * `/wmark-<n>-` (see markerPath) or a registered endpoint at `10.77.<n / 256>.<n % 256>` (see markerAddress).
 */
const MARKER = /wmark-(\d+)-|10\.77\.(\d+)\.(\d+)/g;

/** The path prefix that marks change `n` in a RouteConfiguration. */
export function markerPath(n: number): string {
  return `/wmark-${n}-`;
}

/** The endpoint address that marks change `n` (0 ≤ n < 65 536) in a ClusterLoadAssignment. */
export function markerAddress(n: number): string {
  return `10.77.${n >> 8}.${n & 255}`;
}

/** Highest marker in `bytes` (a resource as sent), or -1. */
function markerIn(bytes: Uint8Array): number {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  let best = -1;
  for (const m of text.matchAll(MARKER)) {
    const n = m[1] !== undefined ? Number(m[1]) : Number(m[2]) * 256 + Number(m[3]);
    if (n > best) best = n;
  }
  return best;
}

/** What a SimClient tells its owner. Called synchronously from grpc-js callbacks; must not throw. */
export interface SimClientEvents {
  /** Every subscribed type got its first response, and it was ACKed. */
  readonly onReady: (client: SimClient) => void;
  /** The client just ACKed a response carrying `marker`, higher than every marker it saw before. */
  readonly onMarker: (client: SimClient, marker: number, ackedAtMs: number) => void;
  /** The stream ended (the control plane closed it or the channel failed). */
  readonly onEnd: (client: SimClient, status: grpc.StatusObject) => void;
}

/** One ADS stream on a shared grpc-js channel. Never reconnects: a benchmark wants to see a lost stream, not hide it. */
export class SimClient {
  readonly spec: SimClientSpec;
  /** Bytes of DiscoveryResponses received (serialized size) and their count. */
  bytesReceived = 0;
  responses = 0;
  /** Responses answered with a NACK (never, unless a resource fails to decode as its type). */
  nacks = 0;
  ready = false;
  #marker = -1;
  readonly #names: ReadonlyMap<ResourceTypeUrl, readonly string[]>;
  readonly #answered = new Set<string>();
  readonly #call: grpc.ClientDuplexStream<ProtoObject, RawResponse | RawDeltaResponse>;

  /** Opens the stream on `channel` and sends the four subscriptions (the first with the node). */
  constructor(channel: grpc.Client, spec: SimClientSpec, events: SimClientEvents) {
    this.spec = spec;
    const clusters = spec.dependsOn.map((d) => `${d}:${spec.port}`);
    this.#names = new Map<ResourceTypeUrl, readonly string[]>([
      [TYPE_URL.listener, [...spec.dependsOn, inboundListenerName(spec.service)].sort()],
      [TYPE_URL.routeConfiguration, [...spec.dependsOn].sort()],
      [TYPE_URL.cluster, [...clusters].sort()],
      [TYPE_URL.clusterLoadAssignment, [...clusters].sort()],
    ]);
    const delta = spec.protocol === 'delta';
    const count = (bytes: Buffer) => void (this.bytesReceived += bytes.length);
    this.#call = delta
      ? channel.makeBidiStreamRequest(DELTA_ADS_METHOD, serializeDeltaRequest, (b: Buffer) => (count(b), deserializeDeltaResponse(b)))
      : channel.makeBidiStreamRequest(ADS_METHOD, serializeRequest, (b: Buffer) => (count(b), deserializeResponse(b)));
    this.#call.on('data', (response: RawResponse | RawDeltaResponse) => {
      this.responses++;
      const names = this.#names.get(response.type_url as ResourceTypeUrl);
      if (names === undefined) return;
      let marker = -1;
      let bad = '';
      for (const r of response.resources) {
        const any = 'value' in r ? r : r.resource;
        if (any === undefined) continue; // a delta resource named without a payload: nothing to scan
        if (any.type_url !== response.type_url) bad = `resource of type ${any.type_url} in a ${response.type_url} response`;
        const m = markerIn(any.value);
        if (m > marker) marker = m;
      }
      if (bad !== '') this.nacks++;
      // An ACK (or NACK) of this response: SotW repeats the names and the version, delta only answers the nonce.
      this.#call.write({
        type_url: response.type_url,
        response_nonce: response.nonce,
        ...(delta ? {} : { resource_names: names, version_info: bad === '' ? (response as RawResponse).version_info : '' }),
        ...(bad === '' ? {} : { error_detail: { code: 3, message: bad } }),
      });
      const now = Date.now();
      if (marker > this.#marker) {
        this.#marker = marker;
        events.onMarker(this, marker, now);
      }
      this.#answered.add(response.type_url);
      if (!this.ready && this.#answered.size === this.#names.size) {
        this.ready = true;
        events.onReady(this);
      }
    });
    this.#call.on('status', (status: grpc.StatusObject) => events.onEnd(this, status));
    this.#call.on('error', () => {}); // the status event carries it
    let first = true;
    for (const [typeUrl, names] of this.#names) {
      const subscribe = delta ? { resource_names_subscribe: names } : { resource_names: names, version_info: '', response_nonce: '' };
      this.#call.write({ type_url: typeUrl, ...subscribe, ...(first ? { node: nodeProto({ id: `sim-${spec.id}`, cluster: spec.service }) } : {}) });
      first = false;
    }
  }

  /** Cancels the stream. */
  close(): void {
    this.#call.cancel();
  }
}
