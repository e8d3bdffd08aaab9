// For tests of the reporter and the control plane's view: a TrafficSource that keeps real cumulative counters which a
// test increments as a metrics registry would, request by request.
import { LATENCY_BUCKETS_MS, type RouteTraffic, type TrafficSource } from './traffic-summary.js';

type MutableRow = { -readonly [K in keyof RouteTraffic]: K extends 'latency' ? number[] : RouteTraffic[K] };

/** A TrafficSource over counters a test drives with record(). */
export class CountingTrafficSource implements TrafficSource {
  readonly #rows = new Map<string, MutableRow>();
  /** How many times traffic() was read. */
  reads = 0;

  /** Counts one ended request of `latencyMs` on (direction, peer, route), failed or not, with `retries` retries. */
  record(direction: RouteTraffic['direction'], peer: string, route: string, latencyMs: number, options: { failed?: boolean; retries?: number; protocol?: RouteTraffic['protocol'] } = {}): void {
    const protocol = options.protocol ?? 'http';
    const key = `${direction}|${protocol}|${peer}|${route}`;
    let row = this.#rows.get(key);
    if (!row) {
      row = { direction, protocol, peer, route, requests: 0, failures: 0, retries: 0, latency: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0) };
      this.#rows.set(key, row);
    }
    row.requests++;
    if (options.failed) row.failures++;
    row.retries += options.retries ?? 0;
    const bucket = LATENCY_BUCKETS_MS.findIndex((b) => latencyMs <= b);
    row.latency[bucket < 0 ? LATENCY_BUCKETS_MS.length : bucket]!++;
  }

  /** Adds a row with no traffic yet (to grow the report, e.g. past MAX_TRAFFIC_ROWS). */
  touch(direction: RouteTraffic['direction'], peer: string, route: string): void {
    const key = `${direction}|http|${peer}|${route}`;
    if (!this.#rows.has(key)) this.#rows.set(key, { direction, protocol: 'http', peer, route, requests: 0, failures: 0, retries: 0, latency: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0) });
  }

  traffic(): readonly RouteTraffic[] {
    this.reads++;
    return [...this.#rows.values()].map((r) => Object.freeze({ ...r, latency: Object.freeze([...r.latency]) }));
  }
}
