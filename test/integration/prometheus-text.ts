// Reading Prometheus text in tests: scraping it over HTTP (status and content type checked), and summing the samples
// of one metric whose labels match (the real parsers are promtool and Prometheus itself, see prometheus.ts).
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

/** The value of the sample `name{labels...}` (every label given must match; others are ignored), summed. */
export function sampleSum(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const body = line.slice(name.length);
    const m = /^(?:\{(.*)\})? (\S+)$/.exec(body);
    if (m === null) continue;
    const have = new Map<string, string>();
    for (const [, k, v] of (m[1] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(k!, v!);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[2]);
  }
  return sum;
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
