// Types of parse-prometheus-text-format (a test devDependency that ships none): the shape of what parse() returns.
declare module 'parse-prometheus-text-format' {
  /** One parsed family: counters and gauges have `value`, histograms `buckets`/`count`/`sum` (single series only). */
  interface PrometheusFamily {
    readonly name: string;
    readonly help: string;
    readonly type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    readonly metrics: readonly Record<string, unknown>[];
  }
  /** Parses Prometheus text exposition format; throws InvalidLineError on a malformed line. */
  export default function parsePrometheusTextFormat(text: string): PrometheusFamily[];
}
