// Encodes an ADS response once for every stream that sends the same content: the message minus its nonce is encoded
// once (SnapshotCache.sharedEncoding memoizes it per content), and each stream's serializer only appends its nonce.
// Protobuf lets a field follow the others in any order, and `nonce` is field 5 of both DiscoveryResponse and
// DeltaDiscoveryResponse, so body + nonce is the very message a full encode would give, byte for byte in content.
import { protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';

/** Field 5 (`nonce`), wire type 2 (length-delimited): the tag byte of the nonce in both response messages. */
const NONCE_TAG = (5 << 3) | 2;

/** Message names of the two response types, by protocol. */
const MESSAGE = {
  sotw: 'envoy.service.discovery.v3.DiscoveryResponse',
  delta: 'envoy.service.discovery.v3.DeltaDiscoveryResponse',
} as const;

/** A response that carries its pre-encoded body (every field but the nonce). */
export interface PreEncodedResponse {
  readonly nonce: string;
  /** The response minus its nonce, encoded once and shared (never mutated) by every stream sending it. */
  readonly encodedWithoutNonce?: Uint8Array;
}

/**
 * Encodes `response` (proto field names, without `nonce`) as the `protocol`'s response message. Throws only on a
 * malformed object (a bug: resources are encoded Anys the cache already produced).
 */
export function encodeWithoutNonce(protocol: keyof typeof MESSAGE, response: ProtoObject): Uint8Array {
  return protos().encode(MESSAGE[protocol], response);
}

/**
 * The wire bytes of `value` when it carries `encodedWithoutNonce` (its body followed by its nonce field); undefined
 * otherwise, for the caller to encode the whole message as usual.
 */
export function serializePreEncoded(value: object): Buffer | undefined {
  const { encodedWithoutNonce: body, nonce } = value as Partial<PreEncodedResponse>;
  if (!(body instanceof Uint8Array) || typeof nonce !== 'string') return undefined;
  const nonceBytes = Buffer.byteLength(nonce);
  let lengthBytes = 1;
  for (let n = nonceBytes; n >= 0x80; n >>>= 7) lengthBytes++;
  const out = Buffer.allocUnsafe(body.length + 1 + lengthBytes + nonceBytes);
  out.set(body, 0);
  let at = body.length;
  out[at++] = NONCE_TAG;
  let n = nonceBytes;
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[at++] = n;
  out.write(nonce, at, 'utf8');
  return out;
}
