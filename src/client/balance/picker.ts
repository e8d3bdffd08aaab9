// The picker contract every balancer implements, the per-endpoint load it may read, and the factory that builds the
// picker a cluster's LoadBalancerPolicy asks for over the endpoints currently available.
import type { HashPolicy, LoadBalancerPolicy } from '../../discovery/mesh-state.js';
import { LeastRequestPicker } from './least-request.js';
import { PeakEwmaPicker } from './peak-ewma.js';
import { RandomPicker } from './random.js';
import { RingHashPicker } from './ring-hash.js';
import { RoundRobinPicker } from './round-robin.js';

/** What a picker needs of an endpoint: a stable identity (its origin) and a relative weight (≥ 1). */
export interface Pickable {
  readonly origin: string;
  readonly weight: number;
}

/**
 * An immutable view of a cluster's endpoints that chooses one per call. pick() is O(1) (ring hash: O(log n)) and
 * allocation-free; call it only when `size > 0`. `hash` is the request's ring-hash key (requestHash()); pickers other
 * than ring hash ignore it, and ring hash picks at random without one.
 */
export interface Picker<T extends Pickable> {
  readonly kind: LoadBalancerPolicy['kind'];
  /** The endpoints it picks from, in configuration order (frozen). */
  readonly items: readonly T[];
  readonly size: number;
  /** Round robin's position in its cycle (0 for the others); seeds a successor picker. */
  readonly position: number;
  pick(hash?: number): T;
  /** What the next pick() would return, for explain(); undefined when empty or not predictable. */
  peek(): T | undefined;
}

/**
 * Per-endpoint load that least-request and peak-EWMA read: calls in flight and a peak-sensitive EWMA of latency.
 * Owned by the compiled backend and carried across picker rebuilds (ejections, endpoint updates) by origin.
 */
export class EndpointLoad {
  /** Calls dispatched to the endpoint and not yet ended. */
  inflight = 0;
  /** Latency estimate in ms (0 until the first response: a new endpoint is tried at once, as Finagle does). */
  ewmaMs = 0;
  /** When `ewmaMs` was last updated (clock ms). */
  stampMs: number;

  constructor(nowMs: number) {
    this.stampMs = nowMs;
  }

  /**
   * Records one call's latency at `nowMs` (Linkerd/Finagle peak EWMA): a latency above the estimate replaces it at
   * once (peak), a lower one is blended in with weight 1 − e^(−Δt/decay).
   */
  observe(latencyMs: number, nowMs: number, decayMs: number): void {
    if (latencyMs > this.ewmaMs) {
      this.ewmaMs = latencyMs;
    } else {
      const w = Math.exp(-Math.max(0, nowMs - this.stampMs) / decayMs);
      this.ewmaMs = this.ewmaMs * w + latencyMs * (1 - w);
    }
    this.stampMs = nowMs;
  }

  /** Peak-EWMA cost at `nowMs`: the estimate decayed for the time since it was updated, × (in flight + 1). */
  cost(nowMs: number, decayMs: number): number {
    const age = nowMs - this.stampMs;
    const estimate = age > 0 ? this.ewmaMs * Math.exp(-age / decayMs) : this.ewmaMs;
    return estimate * (this.inflight + 1);
  }
}

/** The loads of a cluster's endpoints by origin; one per compiled backend, handed to its successor. */
export type LoadTable = Map<string, EndpointLoad>;

/** Options of buildPicker: injectable RNG and clock (tests use seeded and fake ones). */
export interface PickerOptions {
  /** Uniform in [0, 1). Default Math.random. */
  readonly random?: () => number;
  /** Milliseconds, monotonic. Default performance.now. */
  readonly nowMs?: () => number;
}

/**
 * A pick that avoids endpoints a call's earlier attempts used (Envoy's previous_hosts retry predicate): the picker's
 * own choice when it is not `tried`, else up to size − 1 more picks (keeping the balancer's preference), else the
 * first untried endpoint in order, else (every endpoint tried) the picker's last choice. Only retries pay for it.
 */
export function pickAvoiding<T extends Pickable>(picker: Picker<T>, tried: (item: T) => boolean): T {
  let item = picker.pick();
  if (!tried(item)) return item;
  for (let k = 1; k < picker.size; k++) {
    item = picker.pick();
    if (!tried(item)) return item;
  }
  for (const other of picker.items) if (!tried(other)) return other;
  return item;
}

/** True when the policy's picker reads EndpointLoad, so endpoint dispatch must track in-flight calls and latency. */
export function tracksLoad(lb: LoadBalancerPolicy | undefined): boolean {
  return lb?.kind === 'least-request' || lb?.kind === 'peak-ewma';
}

/** Returns the EndpointLoad of `origin` in `loads`, creating it. */
export function loadOf(loads: LoadTable, origin: string, nowMs: number): EndpointLoad {
  let load = loads.get(origin);
  if (load === undefined) {
    load = new EndpointLoad(nowMs);
    loads.set(origin, load);
  }
  return load;
}

/**
 * Builds the picker `lb` asks for (round robin when undefined) over `items` — the endpoints available right now (the
 * outlier detector's non-ejected ones). This is the rebuild seam: call it again with the new available list whenever
 * ejections or endpoints change; `previous` carries round robin's position and `loads` the endpoints' load.
 */
export function buildPicker<T extends Pickable>(
  lb: LoadBalancerPolicy | undefined,
  items: readonly T[],
  previous: Picker<T> | undefined,
  loads: LoadTable,
  options: PickerOptions = {},
): Picker<T> {
  const random = options.random ?? Math.random;
  const nowMs = options.nowMs ?? (() => performance.now());
  switch (lb?.kind) {
    case 'random':
      return new RandomPicker(items, random);
    case 'least-request':
      return new LeastRequestPicker(items, items.map((e) => loadOf(loads, e.origin, nowMs())), lb.choiceCount, random);
    case 'peak-ewma':
      return new PeakEwmaPicker(items, items.map((e) => loadOf(loads, e.origin, nowMs())), lb.decayMs, random, nowMs);
    case 'ring-hash':
      return new RingHashPicker(items, lb.minRingSize, lb.maxRingSize, random);
    case 'round-robin':
    case undefined:
      return new RoundRobinPicker(items, previous?.kind === 'round-robin' ? previous.position : 0);
  }
}

/** Re-exported so callers import hashing with the picker contract. */
export type { HashPolicy };
