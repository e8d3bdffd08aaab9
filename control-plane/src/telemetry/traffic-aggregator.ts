// Turns the cumulative traffic reports of every process into rates, success rates and latency percentiles per
// service, per route and per edge (source → destination), over a window, with bounded memory.
import { LATENCY_BUCKETS_MS, MAX_TRAFFIC_ROWS, type RouteTraffic } from '../../../src/telemetry/traffic-summary.js';
import { histogramQuantile } from './histogram.js';
import type { EdgeStats, InstanceView, MeshStats, RouteStats, SeriesPoint, ServiceStats, TrafficReport, TrafficStats } from './traffic-views.js';

/** How long reports are kept per instance (ms): the longest window or series range that can be asked for. */
export const DEFAULT_RETENTION_MS = 15 * 60_000;
/** An instance whose last report is older than this (ms) no longer counts (3 default report intervals). */
export const DEFAULT_STALE_AFTER_MS = 30_000;
/** Reports closer together than this (ms) replace each other in the ring (the newest one always stays). */
export const DEFAULT_SAMPLE_SPACING_MS = 5_000;
/** Most instances tracked; a report from one more evicts the one that reported least recently. */
export const DEFAULT_MAX_INSTANCES = 1_000;
/** Reports younger than this (ms) are kept `sampleSpacingMs` apart: the dashboard's 5-minute chart and any window. */
export const DENSE_HISTORY_MS = 6 * 60_000;
/** Older reports are kept this far apart (ms): enough for windows up to the retention, at a minute's precision. */
export const SPARSE_SPACING_MS = 60_000;
/** Default window of stats() (ms). */
export const DEFAULT_WINDOW_MS = 60_000;

/** Options of TrafficAggregator. */
export interface TrafficAggregatorOptions {
  readonly retentionMs?: number;
  readonly staleAfterMs?: number;
  readonly sampleSpacingMs?: number;
  readonly maxInstances?: number;
  /** Clock (default Date.now). */
  readonly nowMs?: () => number;
}

interface Sample {
  readonly atMs: number;
  readonly startedAtMs: number;
  readonly rows: ReadonlyMap<string, RouteTraffic>;
}

interface Instance {
  meta: Omit<TrafficReport, 'traffic'>;
  lastReportAtMs: number;
  samples: Sample[];
}

interface Acc {
  requests: number;
  failures: number;
  retries: number;
  rps: number;
  latency: number[];
}

const BUCKETS = LATENCY_BUCKETS_MS.length + 1;
const EMPTY_ROWS: ReadonlyMap<string, RouteTraffic> = new Map();

/**
 * Keeps, per reporting process (node id), a ring of its recent cumulative reports (at most retention / spacing + 2
 * samples of at most MAX_TRAFFIC_ROWS rows, for at most maxInstances processes), and answers windowed questions by
 * differencing them: a counter that went down, or a new `startedAtMs`, is a restart and counts from 0; a process that
 * started inside the window counts from 0 at its start. Rates are per instance between its reports in the window (as
 * Prometheus' rate()), summed; percentiles and success rates come from the merged deltas. Instances silent for `staleAfterMs` stop counting, and are
 * forgotten after `retentionMs`. Synchronous and never throws.
 */
export class TrafficAggregator {
  readonly #instances = new Map<string, Instance>();
  readonly #retentionMs: number;
  readonly #staleAfterMs: number;
  readonly #spacingMs: number;
  readonly #maxInstances: number;
  readonly #nowMs: () => number;

  constructor(options: TrafficAggregatorOptions = {}) {
    this.#retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.#staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.#spacingMs = options.sampleSpacingMs ?? DEFAULT_SAMPLE_SPACING_MS;
    this.#maxInstances = options.maxInstances ?? DEFAULT_MAX_INSTANCES;
    this.#nowMs = options.nowMs ?? Date.now;
  }

  /** Records one report, received now. */
  record(report: TrafficReport): void {
    const now = this.#nowMs();
    this.#prune(now);
    let inst = this.#instances.get(report.nodeId);
    if (inst === undefined) {
      if (this.#instances.size >= this.#maxInstances) this.#evictOldest();
      inst = { meta: report, lastReportAtMs: now, samples: [] };
      this.#instances.set(report.nodeId, inst);
    }
    const { traffic, ...meta } = report;
    inst.meta = meta;
    inst.lastReportAtMs = now;
    const s = inst.samples;
    const previous = s[s.length - 1]?.rows;
    const rows = new Map<string, RouteTraffic>();
    for (const row of traffic.slice(0, MAX_TRAFFIC_ROWS)) {
      const key = rowKey(row);
      // An idle row is the same as last time: share that object, so idle routes cost one row, not one per sample.
      const same = previous?.get(key);
      rows.set(key, same !== undefined && same.requests === row.requests && same.failures === row.failures && same.retries === row.retries ? same : row);
    }
    const sample: Sample = { atMs: now, startedAtMs: report.startedAtMs, rows };
    // Keep samples about `spacing` apart: the newest replaces the previous newest while they are closer than that,
    // except across a restart, whose last sample before it must stay (it holds the old life's final counts).
    const restarted = s.length > 0 && s[s.length - 1]!.startedAtMs !== report.startedAtMs;
    if (!restarted && s.length >= 2 && now - s[s.length - 2]!.atMs < this.#spacingMs) s[s.length - 1] = sample;
    else {
      s.push(sample);
      thin(s, now - DENSE_HISTORY_MS, SPARSE_SPACING_MS);
    }
  }

  /** Every process that reported within the retention, by service then node id. */
  instances(): InstanceView[] {
    const now = this.#nowMs();
    this.#prune(now);
    return [...this.#instances.values()]
      .map((i) => ({
        nodeId: i.meta.nodeId,
        service: i.meta.service,
        instance: i.meta.instance,
        identity: i.meta.identity,
        sdkVersion: i.meta.sdkVersion,
        lastReportAtMs: i.lastReportAtMs,
        certificateExpiresAtMs: i.meta.certificateExpiresAtMs > 0 ? i.meta.certificateExpiresAtMs : undefined,
        live: now - i.lastReportAtMs <= this.#staleAfterMs,
      }))
      .sort((a, b) => a.service.localeCompare(b.service) || a.nodeId.localeCompare(b.nodeId));
  }

  /** Stats over the `windowMs` (default 1 min) that ends now, optionally only what touches `service`. */
  stats(options: { readonly windowMs?: number; readonly service?: string } = {}): MeshStats {
    const now = this.#nowMs();
    this.#prune(now);
    const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    const inbound = new Map<string, Acc>();
    const outbound = new Map<string, Acc>();
    const routes = new Map<string, { service: string; route: string; direction: 'inbound' | 'outbound'; acc: Acc }>();
    const edges = new Map<string, { source: string; destination: string; acc: Acc }>();
    const meshed = new Map<string, number>();
    for (const inst of this.#instances.values()) {
      const service = inst.meta.service;
      const w = this.#window(inst, now, windowMs);
      if (w === undefined) continue;
      meshed.set(service, (meshed.get(service) ?? 0) + 1);
      if (!inbound.has(service)) inbound.set(service, newAcc());
      if (!outbound.has(service)) outbound.set(service, newAcc());
      for (const { row, delta } of w.deltas) {
        if (row.direction === 'inbound') {
          add(inbound.get(service)!, delta, w.spanMs);
          const k = `${service}\u0000in\u0000${row.route}`;
          let r = routes.get(k);
          if (!r) routes.set(k, (r = { service, route: row.route, direction: 'inbound', acc: newAcc() }));
          add(r.acc, delta, w.spanMs);
        } else {
          add(outbound.get(service)!, delta, w.spanMs);
          const ek = `${service}\u0000${row.peer}`;
          let e = edges.get(ek);
          if (!e) edges.set(ek, (e = { source: service, destination: row.peer, acc: newAcc() }));
          add(e.acc, delta, w.spanMs);
          const rk = `${row.peer}\u0000out\u0000${row.route}`;
          let r = routes.get(rk);
          if (!r) routes.set(rk, (r = { service: row.peer, route: row.route, direction: 'outbound', acc: newAcc() }));
          add(r.acc, delta, w.spanMs);
        }
      }
    }
    const only = options.service;
    const services = [...inbound.keys()]
      .filter((s) => only === undefined || s === only)
      .sort()
      .map((service): ServiceStats => ({ service, meshed: meshed.get(service) ?? 0, ...finish(inbound.get(service)!), outbound: finish(outbound.get(service)!) }));
    return {
      windowMs,
      atMs: now,
      services,
      routes: [...routes.values()]
        .filter((r) => only === undefined || r.service === only)
        .sort((a, b) => a.service.localeCompare(b.service) || a.direction.localeCompare(b.direction) || a.route.localeCompare(b.route))
        .map((r) => ({ service: r.service, route: r.route, direction: r.direction, ...finish(r.acc) })),
      edges: [...edges.values()]
        .filter((e) => only === undefined || e.source === only || e.destination === only)
        .sort((a, b) => a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination))
        .map((e) => ({ source: e.source, destination: e.destination, ...finish(e.acc) })),
    };
  }

  /**
   * `service`'s inbound traffic as points `stepMs` apart across the `rangeMs` that ends now, oldest first; at most 1000
   * points (the step grows to fit). Each point covers the step before it, or the span of the last two kept reports of
   * each instance if that is longer (a shorter window could fall between two reports and read as no traffic).
   */
  series(service: string, options: { readonly rangeMs?: number; readonly stepMs?: number } = {}): SeriesPoint[] {
    const now = this.#nowMs();
    this.#prune(now);
    const rangeMs = Math.min(options.rangeMs ?? 5 * 60_000, this.#retentionMs);
    const stepMs = Math.max(options.stepMs ?? 10_000, Math.ceil(rangeMs / 1000), 1);
    const mine = [...this.#instances.values()].filter((i) => i.meta.service === service);
    const points: SeriesPoint[] = [];
    for (let end = now - Math.floor(rangeMs / stepMs) * stepMs; end <= now; end += stepMs) {
      const acc = newAcc();
      for (const inst of mine) {
        const w = this.#window(inst, end, stepMs, true);
        if (w === undefined) continue;
        for (const { row, delta } of w.deltas) if (row.direction === 'inbound') add(acc, delta, w.spanMs);
      }
      const f = finish(acc);
      points.push({ atMs: end, rps: f.rps, successRate: f.successRate, p50Ms: f.p50Ms, p99Ms: f.p99Ms });
    }
    return points;
  }

  /** How much is held: processes, and report samples over all of them (for memory bounds and tests). */
  size(): { readonly instances: number; readonly samples: number } {
    let samples = 0;
    for (const inst of this.#instances.values()) samples += inst.samples.length;
    return { instances: this.#instances.size, samples };
  }

  /** Forgets everything. */
  clear(): void {
    this.#instances.clear();
  }

  /**
   * The traffic of `inst` in (endMs − windowMs, endMs]: undefined when it was not live at `endMs` (silent for
   * staleAfterMs, or not yet reporting); else per row the counter deltas, and the span (ms) the rate is taken over.
   * With `atLeastTwoReports`, a window holding a single report reaches back to the one before it.
   */
  #window(inst: Instance, endMs: number, windowMs: number, atLeastTwoReports = false): { deltas: { row: RouteTraffic; delta: Delta }[]; spanMs: number } | undefined {
    const s = inst.samples;
    let last = -1;
    for (let i = s.length - 1; i >= 0; i--) {
      if (s[i]!.atMs <= endMs) {
        last = i;
        break;
      }
    }
    // Live at endMs: reported shortly before, or again later (old history is thinned to a report a minute).
    if (last < 0 || (endMs - s[last]!.atMs > this.#staleAfterMs && last === s.length - 1)) return undefined;
    const startMs = endMs - windowMs;
    let base = 0;
    for (let i = last; i >= 0; i--) {
      if (s[i]!.atMs <= startMs) {
        base = i;
        break;
      }
    }
    // For a series, a step shorter than the gap between two reports still spans two of them (the rate over that gap).
    if (atLeastTwoReports && base === last && last > 0) base = last - 1;
    // A process that started inside the window counts from 0 at its start (its first report holds traffic since then).
    const fromZero = s[base]!.atMs > startMs && s[base]!.startedAtMs > startMs;
    const spanStart = fromZero ? Math.min(s[base]!.startedAtMs, s[base]!.atMs) : s[base]!.atMs;
    // Rates come from the reports themselves, as Prometheus' rate() does: counting from the start would spread the
    // traffic over the process's idle start-up. With a single report, the average since the start is all there is.
    const sampledMs = s[last]!.atMs - s[base]!.atMs;
    const rateFromZero = fromZero && sampledMs <= 0;
    const spanMs = rateFromZero ? s[last]!.atMs - spanStart : sampledMs;
    const deltas = new Map<string, { row: RouteTraffic; delta: Delta }>();
    const step = (prev: Sample | undefined, cur: Sample, inRate: boolean) => {
      const restarted = prev !== undefined && prev.startedAtMs !== cur.startedAtMs;
      for (const [key, row] of cur.rows) {
        const before = restarted ? undefined : prev?.rows.get(key);
        const d = diff(before, row);
        if (inRate) d.rateRequests = d.requests;
        const acc = deltas.get(key);
        if (acc) {
          acc.row = row;
          addDelta(acc.delta, d);
        } else deltas.set(key, { row, delta: d });
      }
    };
    if (fromZero) step({ atMs: spanStart, startedAtMs: s[base]!.startedAtMs, rows: EMPTY_ROWS }, s[base]!, rateFromZero);
    for (let i = base + 1; i <= last; i++) step(s[i - 1], s[i]!, true);
    if (spanMs <= 0) return { deltas: [], spanMs: 0 };
    return { deltas: [...deltas.values()], spanMs };
  }

  #prune(now: number): void {
    for (const [id, inst] of this.#instances) {
      if (now - inst.lastReportAtMs > this.#retentionMs) {
        this.#instances.delete(id);
        continue;
      }
      const s = inst.samples;
      // Keep one sample at or before the retention horizon, as the base of the longest window.
      let drop = 0;
      while (drop + 1 < s.length && s[drop + 1]!.atMs <= now - this.#retentionMs) drop++;
      if (drop > 0) s.splice(0, drop);
    }
  }

  #evictOldest(): void {
    let oldest: [string, number] | undefined;
    for (const [id, inst] of this.#instances) if (!oldest || inst.lastReportAtMs < oldest[1]) oldest = [id, inst.lastReportAtMs];
    if (oldest) this.#instances.delete(oldest[0]);
  }
}

/**
 * Drops samples older than `horizonMs` that are closer than `spacingMs` to the previous one kept, except the last
 * sample of a process life (its final counts) and the newest sample before the horizon (the base of the dense part).
 */
function thin(samples: Sample[], horizonMs: number, spacingMs: number): void {
  let kept = 0;
  for (let i = 1; i < samples.length && samples[i]!.atMs < horizonMs; i++) {
    const cur = samples[i]!;
    const next = samples[i + 1];
    const lastOfLife = next !== undefined && next.startedAtMs !== cur.startedAtMs;
    const lastBeforeHorizon = next === undefined || next.atMs >= horizonMs;
    // A dropped sample loses nothing: the counters are cumulative, so the next kept one holds its traffic.
    if (cur.atMs - samples[kept]!.atMs >= spacingMs || lastOfLife || lastBeforeHorizon) samples[++kept] = cur;
  }
  const firstDense = samples.findIndex((x) => x.atMs >= horizonMs);
  if (firstDense < 0) {
    samples.length = Math.min(samples.length, kept + 1);
    return;
  }
  if (firstDense > kept + 1) samples.splice(kept + 1, firstDense - kept - 1);
}

interface Delta {
  requests: number;
  /** The part of `requests` the rate is computed from (0 for the traffic before a process's first report). */
  rateRequests: number;
  failures: number;
  retries: number;
  latency: number[];
}

function rowKey(r: RouteTraffic): string {
  return `${r.direction}\u0000${r.protocol}\u0000${r.peer}\u0000${r.route}`;
}

/** Counter increase from `before` to `after`; a counter that went down restarted, so counts from 0. */
function diff(before: RouteTraffic | undefined, after: RouteTraffic): Delta {
  const reset = before !== undefined && (after.requests < before.requests || after.failures < before.failures || after.retries < before.retries);
  const b = reset ? undefined : before;
  const latency = new Array<number>(BUCKETS);
  for (let i = 0; i < BUCKETS; i++) {
    const a = after.latency[i] ?? 0;
    const p = b?.latency[i] ?? 0;
    latency[i] = a >= p ? a - p : a;
  }
  return { requests: after.requests - (b?.requests ?? 0), rateRequests: 0, failures: after.failures - (b?.failures ?? 0), retries: after.retries - (b?.retries ?? 0), latency };
}

function addDelta(into: Delta, d: Delta): void {
  into.requests += d.requests;
  into.rateRequests += d.rateRequests;
  into.failures += d.failures;
  into.retries += d.retries;
  for (let i = 0; i < BUCKETS; i++) into.latency[i]! += d.latency[i]!;
}

function newAcc(): Acc {
  return { requests: 0, failures: 0, retries: 0, rps: 0, latency: new Array<number>(BUCKETS).fill(0) };
}

function add(acc: Acc, d: Delta, spanMs: number): void {
  acc.requests += d.requests;
  acc.failures += d.failures;
  acc.retries += d.retries;
  if (spanMs > 0) acc.rps += (d.rateRequests * 1000) / spanMs;
  for (let i = 0; i < BUCKETS; i++) acc.latency[i]! += d.latency[i]!;
}

function finish(acc: Acc): TrafficStats {
  const has = acc.requests > 0;
  return {
    requests: acc.requests,
    failures: acc.failures,
    retries: acc.retries,
    rps: round(acc.rps, 3),
    successRate: has ? round(1 - acc.failures / acc.requests, 4) : undefined,
    p50Ms: has ? roundMs(histogramQuantile(0.5, acc.latency)) : undefined,
    p95Ms: has ? roundMs(histogramQuantile(0.95, acc.latency)) : undefined,
    p99Ms: has ? roundMs(histogramQuantile(0.99, acc.latency)) : undefined,
  };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function roundMs(v: number | undefined): number | undefined {
  return v === undefined ? undefined : round(v, 3);
}
