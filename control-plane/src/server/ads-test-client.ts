// A hand-driven ADS client for tests: sends raw DiscoveryRequests and checks protocol invariants on every response.
import * as grpc from '@grpc/grpc-js';
import { RESOURCE_TYPE_URLS, protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';

/** A DiscoveryResponse as a grpc-js client decodes it (resources expanded to `{ '@type', ...fields }`). */
export interface ReceivedResponse {
  readonly version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: readonly (ProtoObject & { readonly '@type': string })[];
}

/** Fields of a DiscoveryRequest a test sets; missing ones are sent empty. */
export interface RequestFields {
  readonly typeUrl: string;
  readonly names?: readonly string[];
  readonly version?: string;
  readonly nonce?: string;
  /** Set to NACK. */
  readonly errorMessage?: string;
  readonly node?: ProtoObject;
}

/**
 * One ADS stream to `address`. Every response is checked as it arrives: nonces strictly increase (as numbers
 * when both are numeric, else as different strings), `version_info` is non-empty, the type URL is an xDS
 * resource type and every resource carries the same type URL. A violation fails the next `next()` call.
 */
export class AdsTestClient {
  readonly #client: grpc.Client;
  readonly #call: grpc.ClientDuplexStream<ProtoObject, ProtoObject>;
  readonly #queue: ReceivedResponse[] = [];
  #waiter: (() => void) | undefined;
  #violation: string | undefined;
  #lastNonce: string | undefined;
  #status: grpc.StatusObject | undefined;
  #ended: Promise<grpc.StatusObject>;

  /** Opens the stream; `metadata` (e.g. `authorization`) is sent with it. */
  constructor(address: string, metadata: grpc.Metadata = new grpc.Metadata()) {
    const Ctor = grpc.makeGenericClientConstructor(protos().adsService, 'AggregatedDiscoveryService');
    this.#client = new Ctor(address, grpc.credentials.createInsecure());
    const method = (this.#client as unknown as Record<string, (md: grpc.Metadata) => grpc.ClientDuplexStream<ProtoObject, ProtoObject>>)['StreamAggregatedResources'];
    if (!method) throw new Error('ads-test-client: no StreamAggregatedResources method');
    this.#call = method.call(this.#client, metadata);
    this.#call.on('data', (res: ProtoObject) => {
      const r = res as unknown as ReceivedResponse;
      this.#check(r);
      this.#queue.push(r);
      this.#wake();
    });
    this.#ended = new Promise((resolve) => {
      this.#call.on('status', (s: grpc.StatusObject) => {
        this.#status = s;
        this.#wake();
        resolve(s);
      });
    });
    this.#call.on('error', () => {}); // the status event carries it
  }

  /** Sends one DiscoveryRequest. */
  send(f: RequestFields): void {
    this.#call.write({
      version_info: f.version ?? '',
      node: f.node ?? null,
      resource_names: [...(f.names ?? [])],
      type_url: f.typeUrl,
      response_nonce: f.nonce ?? '',
      error_detail: f.errorMessage === undefined ? null : { code: 3, message: f.errorMessage },
    });
  }

  /** ACKs `response` (same names as given). */
  ack(response: ReceivedResponse, names: readonly string[]): void {
    this.send({ typeUrl: response.type_url, names, version: response.version_info, nonce: response.nonce });
  }

  /** Resolves with the next response; rejects after `timeoutMs`, on an invariant violation or if the stream ended. */
  async next(timeoutMs = 2_000): Promise<ReceivedResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#violation) throw new Error(`ADS invariant violated: ${this.#violation}`);
      const r = this.#queue.shift();
      if (r) return r;
      if (this.#status) throw new Error(`ADS stream ended: ${this.#status.code} ${this.#status.details}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ADS response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Responses received and not yet taken by next(). */
  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves with the stream's final status. */
  ended(): Promise<grpc.StatusObject> {
    return this.#ended;
  }

  /** Half-closes and closes the channel. */
  close(): void {
    this.#call.end();
    this.#call.cancel();
    this.#client.close();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  #check(r: ReceivedResponse): void {
    const problems: string[] = [];
    if (!r.version_info) problems.push('empty version_info');
    if (!(RESOURCE_TYPE_URLS as readonly string[]).includes(r.type_url)) problems.push(`unknown type_url ${r.type_url}`);
    for (const res of r.resources) if (res['@type'] !== r.type_url) problems.push(`resource type ${res['@type']} in a ${r.type_url} response`);
    if (!r.nonce) problems.push('empty nonce');
    else if (this.#lastNonce !== undefined) {
      const increasing = /^\d+$/.test(r.nonce) && /^\d+$/.test(this.#lastNonce) ? BigInt(r.nonce) > BigInt(this.#lastNonce) : r.nonce !== this.#lastNonce;
      if (!increasing) problems.push(`nonce ${r.nonce} after ${this.#lastNonce}`);
    }
    this.#lastNonce = r.nonce;
    if (problems.length > 0) this.#violation ??= problems.join('; ');
  }
}
