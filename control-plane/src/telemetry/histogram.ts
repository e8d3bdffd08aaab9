// Latency percentiles from bucket counts, as Prometheus' histogram_quantile computes them, and the bucket histogram the
// control plane's own metrics count in.
import { LATENCY_BUCKETS_MS } from '../../../src/telemetry/traffic-summary.js';
import type { HistogramSample } from '../../../src/telemetry/prometheus.js';

/**
 * The `q`-quantile (0..1) of a histogram of non-cumulative `counts` per LATENCY_BUCKETS_MS bucket plus one overflow
 * count, interpolated linearly within the bucket the rank falls in (the first bucket starts at 0). A rank in the
 * overflow bucket answers the largest finite bound, as histogram_quantile does for +Inf. Undefined when empty.
 */
export function histogramQuantile(q: number, counts: readonly number[], bounds: readonly number[] = LATENCY_BUCKETS_MS): number | undefined {
  let total = 0;
  for (const c of counts) total += c;
  if (!(total > 0)) return undefined;
  const rank = Math.min(1, Math.max(0, q)) * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i] ?? 0;
    if (inBucket > 0 && below + inBucket >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const upper = bounds[i]!;
      return lower + (upper - lower) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return bounds[bounds.length - 1];
}

/**
 * A cumulative histogram over fixed `bounds` (any unit), rendered as a Prometheus histogram sample. Single-threaded;
 * observe() is allocation-free. Non-finite values are ignored (a broken clock must not poison the sum).
 */
export class Histogram {
  readonly bounds: readonly number[];
  /** Per-bucket (not cumulative) counts: one per bound, then one for larger values. */
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = Object.freeze([...bounds]);
    this.buckets = new Float64Array(bounds.length + 1);
  }

  /** Counts one value. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    let b = 0;
    while (b < this.bounds.length && value > this.bounds[b]!) b++;
    this.buckets[b]!++;
    this.sum += value;
    this.count++;
  }

  /** Its Prometheus sample (fresh object; the counts are copied). */
  sample(labels: Readonly<Record<string, string>> = {}): HistogramSample {
    return { labels, buckets: Array.from(this.buckets), sum: this.sum, count: this.count };
  }
}
