// Ring-hash picking (Envoy RING_HASH, Ketama-style): endpoints own points on a 32-bit ring, a request's key hash goes
// to the next point clockwise, so a key sticks to one endpoint and adding one of N endpoints moves about 1/N of keys.
import type { HashPolicy } from '../../discovery/mesh-state.js';
import type { Picker, Pickable } from './picker.js';

/**
 * 32-bit MurmurHash3 (x86_32) of a string's UTF-16 code units, seeded. Fast in JS (Math.imul), well mixed; not
 * Envoy's xxHash, so the same key may land on a different endpoint than in Envoy (each client is consistent alone).
 */
export function hash32(text: string, seed = 0): number {
  let h = seed >>> 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let k = text.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Reads a lower-case header from a request's headers (the adapter passes its own reader, e.g. http/headers getHeader). */
export type HeaderReader<H> = (headers: H, lowerName: string) => string | undefined;

function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  if (cookieHeader === undefined) return undefined;
  for (const part of cookieHeader.split(/;\s*/)) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The request's ring-hash key per Envoy's rules: each policy that yields a value is mixed into the hash in order, and a
 * `terminal` one that yields stops there. Returns undefined when none yields (the picker then picks at random).
 * `sourceIp` is the caller's address as this process sees it (for an in-process mesh: the process itself).
 */
export function requestHash<H>(policies: readonly HashPolicy[], headers: H, read: HeaderReader<H>, sourceIp: string): number | undefined {
  let hash: number | undefined;
  for (const p of policies) {
    const value = p.kind === 'header' ? read(headers, p.name) : p.kind === 'cookie' ? cookieValue(read(headers, 'cookie'), p.name) : sourceIp;
    if (value === undefined) continue;
    const h = hash32(value);
    hash = hash === undefined ? h : (((hash << 1) | (hash >>> 31)) ^ h) >>> 0;
    if (p.terminal) break;
  }
  return hash;
}

/**
 * Picks by ring position. Each endpoint owns `minRingSize × weight / min weight` points hashed from `<origin>_<i>`
 * (independent of the other endpoints, so the ring changes only where endpoints come and go), all scaled down
 * together if the total would pass `maxRingSize`. pick(hash) is a binary search; pick() without a hash is random.
 */
export class RingHashPicker<T extends Pickable> implements Picker<T> {
  readonly kind = 'ring-hash' as const;
  readonly items: readonly T[];
  readonly position = 0;
  /** Sorted point hashes, and the item index owning each. */
  readonly #points: Uint32Array;
  readonly #owners: Uint32Array;
  readonly #random: () => number;

  constructor(items: readonly T[], minRingSize: number, maxRingSize: number, random: () => number) {
    this.items = Object.freeze([...items]);
    this.#random = random;
    const weights = this.items.map((e) => Math.max(1, e.weight));
    const minWeight = Math.min(...weights);
    let perItem = weights.map((w) => Math.max(1, Math.round((minRingSize * w) / minWeight)));
    const total = perItem.reduce((a, b) => a + b, 0);
    if (total > maxRingSize) perItem = perItem.map((c) => Math.max(1, Math.floor((c * maxRingSize) / total)));
    const size = perItem.reduce((a, b) => a + b, 0);
    const hashes = new Float64Array(size); // hash * 2^20 + owner, sorted once (owner fits: < 2^20 endpoints)
    let k = 0;
    this.items.forEach((e, i) => {
      for (let r = 0; r < perItem[i]!; r++) hashes[k++] = hash32(`${e.origin}_${r}`) * 1048576 + i;
    });
    hashes.sort();
    this.#points = new Uint32Array(size);
    this.#owners = new Uint32Array(size);
    for (let j = 0; j < size; j++) {
      const v = hashes[j]!;
      const owner = v % 1048576;
      this.#owners[j] = owner;
      this.#points[j] = (v - owner) / 1048576;
    }
  }

  get size(): number {
    return this.items.length;
  }

  /** Number of points on the ring. */
  get ringSize(): number {
    return this.#points.length;
  }

  /** The owner of the first point at or after `hash` (wrapping), or a random endpoint when `hash` is undefined. */
  pick(hash?: number): T {
    if (hash === undefined) return this.items[Math.floor(this.#random() * this.items.length)]!;
    const points = this.#points;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return this.items[this.#owners[lo === points.length ? 0 : lo]!]!;
  }

  /** Not predictable without a key: undefined. */
  peek(): T | undefined {
    return undefined;
  }
}
