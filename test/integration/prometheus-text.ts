// Reading Prometheus text in tests: scraping it over HTTP (status and content type checked), the samples of one metric
// and their sums by label, the families' TYPE and HELP. Whether the text parses is for promtool and Prometheus
// themselves to say (prometheus.ts, metrics-prometheus.test.ts); these only read values out of it.
import assert from 'node:assert/strict';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';

/** The Prometheus text at `url` (asserting a 200 and the 0.0.4 content type). */
export async function scrape(url: string): Promise<string> {
  const res = await request(url);
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return res.body.text();
}

/** One sample line of a metric: its labels (values as written, escapes kept) and its value. */
export interface TextSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Every sample of the metric `name` (exactly that name: `x_count` is not a sample of `x`), in text order. */
export function samples(text: string, name: string): TextSample[] {
  const out: TextSample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^(?:\{(.*)\})? (\S+)$/.exec(line.slice(name.length));
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[1] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}

/** True when `sample` has every label in `labels` (others are ignored). */
export function matches(sample: TextSample, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(labels).every(([k, v]) => sample.labels[k] === v);
}

/** The value of the sample `name{labels...}` (every label given must match; others are ignored), summed. */
export function sampleSum(text: string, name: string, labels: Readonly<Record<string, string>>): number {
  return samples(text, name).reduce((sum, s) => (matches(s, labels) ? sum + s.value : sum), 0);
}

/** Each family's `# TYPE` and `# HELP` (the help as written, escapes kept), by name. */
export function familyHeaders(text: string): Map<string, { type: string; help: string }> {
  const out = new Map<string, { type: string; help: string }>();
  for (const [, kind, name, rest] of text.matchAll(/^# (HELP|TYPE) (\S+) ?(.*)$/gm)) {
    const f = out.get(name!) ?? { type: '', help: '' };
    out.set(name!, kind === 'TYPE' ? { ...f, type: rest! } : { ...f, help: rest! });
  }
  return out;
}

/** A throwaway server for `handler`, scraped once. */
export async function renderVia(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await scrape(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
