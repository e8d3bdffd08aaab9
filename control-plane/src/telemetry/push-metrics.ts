// The control plane's own metrics: convergence time (Istio's pilot_proxy_convergence_time), pushes and NACKs per xDS
// type, snapshot rebuild duration and connected clients, as Prometheus families and as percentiles for `weft status`.
import { renderPrometheus, type Family } from '../../../src/telemetry/prometheus.js';
import { shortType } from '../../../src/telemetry/mesh-gauges.js';
import type { PushObserver } from '../server/convergence.js';
import { Histogram } from './histogram.js';

/** Convergence-time buckets in seconds: those of Istio's pilot_proxy_convergence_time. */
export const CONVERGENCE_BUCKETS_S: readonly number[] = Object.freeze([0.1, 0.5, 1, 3, 5, 10, 20, 30]);
/** Rebuild (translate + snapshot diff) duration buckets in seconds. */
export const REBUILD_BUCKETS_S: readonly number[] = Object.freeze([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]);
/** How many of the latest convergence times `status()` computes exact percentiles over. */
export const CONVERGENCE_WINDOW = 1_000;

/** Convergence percentiles as the admin API's `/v1/status` shows them. */
export interface ConvergenceStatus {
  /** Convergences observed since start. */
  readonly count: number;
  /** Of the latest CONVERGENCE_WINDOW (fewer at first): median and 99th percentile in ms; absent before any. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  /** How many convergences the percentiles are over. */
  readonly window: number;
}

/** Options of PushMetrics. */
export interface PushMetricsOptions {
  /** Streams connected now (read at scrape time). */
  readonly clients: () => number;
}

/**
 * Counts what the ADS server reports (it is the server's PushObserver) and what the rebuild loop measures. Memory is
 * bounded: counters per xDS type (a fixed set), two histograms, and a ring of the latest CONVERGENCE_WINDOW delays.
 * Synchronous; never throws.
 */
export class PushMetrics implements PushObserver {
  readonly #clients: () => number;
  readonly #convergence = new Histogram(CONVERGENCE_BUCKETS_S);
  readonly #rebuild = new Histogram(REBUILD_BUCKETS_S);
  readonly #pushes = new Map<string, number>();
  readonly #nacks = new Map<string, number>();
  readonly #recentMs = new Float64Array(CONVERGENCE_WINDOW);
  #recentNext = 0;

  constructor(options: PushMetricsOptions) {
    this.#clients = options.clients;
  }

  pushed(typeUrl: string): void {
    this.#pushes.set(typeUrl, (this.#pushes.get(typeUrl) ?? 0) + 1);
  }

  nacked(typeUrl: string): void {
    this.#nacks.set(typeUrl, (this.#nacks.get(typeUrl) ?? 0) + 1);
  }

  converged(delayMs: number): void {
    this.#convergence.observe(delayMs / 1000);
    this.#recentMs[this.#recentNext++ % CONVERGENCE_WINDOW] = delayMs;
  }

  /** Records one snapshot rebuild (translate + diff) that took `durationMs`. */
  rebuilt(durationMs: number): void {
    this.#rebuild.observe(durationMs / 1000);
  }

  /** Exact p50/p99 of the latest convergences (nearest rank), with the total count. Fresh object. */
  status(): ConvergenceStatus {
    const window = Math.min(this.#recentNext, CONVERGENCE_WINDOW);
    if (window === 0) return { count: this.#convergence.count, window };
    const sorted = this.#recentMs.slice(0, window).sort();
    const rank = (q: number) => Math.round(sorted[Math.min(window - 1, Math.ceil(q * window) - 1)]!);
    return { count: this.#convergence.count, p50Ms: rank(0.5), p99Ms: rank(0.99), window };
  }

  /** The Prometheus families (names `weft_control_plane_*`; durations in seconds). */
  families(): Family[] {
    const byType = (m: ReadonlyMap<string, number>) => [...m].map(([typeUrl, value]) => ({ labels: { type: shortType(typeUrl), type_url: typeUrl }, value }));
    return [
      {
        name: 'weft_control_plane_proxy_convergence_time_seconds',
        help: 'Delay in seconds between a config or registry change and an xDS client having ACKed all configuration that followed it (as Istio\'s pilot_proxy_convergence_time; debounce time included).',
        type: 'histogram',
        bounds: CONVERGENCE_BUCKETS_S,
        samples: [this.#convergence.sample()],
      },
      { name: 'weft_control_plane_xds_clients', help: 'xDS (ADS) streams connected now.', type: 'gauge', samples: [{ labels: {}, value: this.#clients() }] },
      { name: 'weft_control_plane_xds_pushes_total', help: 'xDS responses sent, per resource type.', type: 'counter', samples: byType(this.#pushes) },
      { name: 'weft_control_plane_xds_nacks_total', help: 'xDS responses clients refused (NACKed), per resource type.', type: 'counter', samples: byType(this.#nacks) },
      {
        name: 'weft_control_plane_rebuild_duration_seconds',
        help: 'Time to translate the config and registry into an xDS snapshot and diff it against the served one, seconds.',
        type: 'histogram',
        bounds: REBUILD_BUCKETS_S,
        samples: [this.#rebuild.sample()],
      },
    ];
  }

  /** The Prometheus text of families(). */
  render(): string {
    return renderPrometheus(this.families());
  }
}
