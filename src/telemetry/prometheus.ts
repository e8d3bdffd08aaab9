// Prometheus text exposition format 0.0.4: metric families as plain data, and their rendering (names and labels
// sanitised, label values escaped, histograms as cumulative `_bucket{le}` plus `_sum` and `_count`).
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
import type http from 'node:http';

/** The Content-Type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Label names and values of one sample. */
export type Labels = Readonly<Record<string, string>>;

/** One counter or gauge sample. */
export interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

/** One histogram: per-bucket (not cumulative) counts for `bounds` plus one for larger values, with its sum. */
export interface HistogramSample {
  readonly labels: Labels;
  /** Counts per bound, then one for +Inf (length bounds + 1), not cumulative. */
  readonly buckets: ArrayLike<number>;
  readonly sum: number;
  readonly count: number;
}

/** A metric family: counter/gauge samples, or histograms over shared bucket bounds. */
export type Family =
  | { readonly name: string; readonly help: string; readonly type: 'counter' | 'gauge'; readonly samples: readonly Sample[] }
  | { readonly name: string; readonly help: string; readonly type: 'histogram'; readonly bounds: readonly number[]; readonly samples: readonly HistogramSample[] };

/** `name` with every character Prometheus does not allow in a metric name replaced by `_` (`http.client` → `http_client`). */
export function sanitizeMetricName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** `name` as a label name (no `:`; not starting with a digit). */
export function sanitizeLabelName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

function escapeValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function labelText(labels: Labels, extra?: string): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels)) parts.push(`${sanitizeLabelName(k)}="${escapeValue(v)}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/**
 * Renders `families` as Prometheus text 0.0.4: HELP and TYPE once per family, families with no sample left out
 * (a family with the same name twice is merged under the first's HELP). Never throws.
 */
export function renderPrometheus(families: readonly Family[]): string {
  const out: string[] = [];
  const merged = new Map<string, Family>();
  for (const f of families) {
    const name = sanitizeMetricName(f.name);
    const prev = merged.get(name);
    if (prev === undefined) merged.set(name, { ...f, name } as Family);
    else if (prev.type === f.type) merged.set(name, { ...prev, samples: [...prev.samples, ...f.samples] } as Family);
  }
  for (const f of merged.values()) {
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type !== 'histogram') {
      for (const s of f.samples) out.push(`${f.name}${labelText(s.labels)} ${formatNumber(s.value)}`);
      continue;
    }
    const les = f.bounds.map((b) => `le="${formatNumber(b)}"`);
    for (const h of f.samples) {
      let cumulative = 0;
      for (let i = 0; i < les.length; i++) {
        cumulative += h.buckets[i] ?? 0;
        out.push(`${f.name}_bucket${labelText(h.labels, les[i])} ${cumulative}`);
      }
      out.push(`${f.name}_bucket${labelText(h.labels, 'le="+Inf"')} ${h.count}`);
      out.push(`${f.name}_sum${labelText(h.labels)} ${formatNumber(h.sum)}`);
      out.push(`${f.name}_count${labelText(h.labels)} ${h.count}`);
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/**
 * A node:http request listener answering GET and HEAD with `render()` as Prometheus text (405 for other methods, 500
 * with the reason if rendering throws). Shared by the SDK's metrics endpoint and the control plane's `/metrics`.
 */
export function prometheusHandler(render: () => string): http.RequestListener {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      res.end();
      return;
    }
    let body: string;
    try {
      body = render();
    } catch (e: unknown) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`weft: metrics rendering failed: ${e instanceof Error ? e.message : String(e)}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
