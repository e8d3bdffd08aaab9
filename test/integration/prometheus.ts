// The real Prometheus tools for integration tests: `promtool check metrics` over exposition text, and a Prometheus
// server on loopback scraping given targets every second, queried through its HTTP API.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stopChild, waitFor } from './helpers.js';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const PROMTOOL_BIN = '/usr/bin/promtool';

/**
 * Throws (so the test fails, not skips) when the Debian `prometheus` package's binaries are missing: the metrics
 * tests prove the endpoint against the real Prometheus, and .ci/run installs it.
 */
export function assertPrometheusInstalled(): void {
  for (const bin of [PROMETHEUS_BIN, PROMTOOL_BIN]) {
    if (!existsSync(bin)) {
      throw new Error(`${bin} is missing: install the Debian package prometheus (apt-get install -y --no-install-recommends prometheus), as .ci/run does`);
    }
  }
}

/** What `promtool check metrics` said: its exit code (0 clean, 3 lint problems, 1 unparseable) and its output. */
export interface PromtoolResult {
  readonly code: number | null;
  readonly output: string;
}

/** Runs `promtool check metrics` with `text` on stdin (killed after `timeoutMs`, default 20 s). */
export function promtoolCheckMetrics(text: string, timeoutMs = 20_000): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL_BIN, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end(text);
  });
}

/** One element of an instant vector from /api/v1/query. */
export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A Prometheus server started by startPrometheus(). */
export interface TestPrometheus {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Evaluates `expr` at `timeS` (Unix seconds; default now) through /api/v1/query; throws on an API error or a non-vector result. */
  query(expr: string, timeS?: number): Promise<PromSample[]>;
  /** The single value of `expr` (undefined for an empty vector; throws for more than one element). */
  value(expr: string, timeS?: number): Promise<number | undefined>;
  /** /api/v1/metadata: each metric family's type and help as Prometheus read them from its targets, by name. */
  metadata(): Promise<Record<string, readonly { readonly type: string; readonly help: string }[]>>;
  /** Stops the server (SIGTERM, SIGKILL after 10 s) and removes its config and TSDB directory. */
  stop(): Promise<void>;
}

/** A sample value as the API writes it (Go's float formatting: `+Inf`, `-Inf` and `NaN` included). */
function parseValue(v: string): number {
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `prometheus` on a free loopback port with a fresh TSDB in a temp dir, one job `weft` scraping `targets`
 * (`host:port`, any path answers) every `scrapeIntervalMs` (default 1000), and resolves once /-/ready answers
 * (rejects after 30 s with the server's log tail, having stopped it).
 */
export async function startPrometheus(targets: readonly string[], scrapeIntervalMs = 1_000): Promise<TestPrometheus> {
  assertPrometheusInstalled();
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-prom-'));
  const config = path.join(dir, 'prometheus.yml');
  await writeFile(
    config,
    JSON.stringify({
      global: { scrape_interval: `${scrapeIntervalMs}ms`, scrape_timeout: `${scrapeIntervalMs}ms`, evaluation_interval: '1m' },
      scrape_configs: [{ job_name: 'weft', metrics_path: '/metrics', static_configs: [{ targets }] }],
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    PROMETHEUS_BIN,
    [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const stop = async () => {
    await stopChild(child, 'SIGTERM', 10_000);
    await rm(dir, { recursive: true, force: true });
  };
  const query = async (expr: string, timeS?: number): Promise<PromSample[]> => {
    const params = new URLSearchParams({ query: expr, ...(timeS !== undefined && { time: String(timeS) }) });
    const res = await fetch(`${url}/api/v1/query?${params}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success' || body.data?.resultType !== 'vector') throw new Error(`Prometheus query ${expr}: ${body.error ?? JSON.stringify(body.data)}`);
    return body.data.result.map((r) => ({ metric: r.metric, value: parseValue(r.value[1]) }));
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}`);
        return (await fetch(`${url}/-/ready`)).status === 200;
      },
      'prometheus to be ready',
      30_000,
      100,
    );
  } catch (e: unknown) {
    await stop();
    throw new Error(`${String(e)}\nprometheus log:\n${log}`, { cause: e });
  }
  return {
    url,
    query,
    async value(expr, timeS) {
      const result = await query(expr, timeS);
      if (result.length > 1) throw new Error(`Prometheus query ${expr}: ${result.length} elements, expected one: ${JSON.stringify(result)}`);
      return result[0]?.value;
    },
    async metadata() {
      const body = (await (await fetch(`${url}/api/v1/metadata`)).json()) as { status: string; data: Record<string, { type: string; help: string }[]> };
      if (body.status !== 'success') throw new Error(`Prometheus metadata: ${JSON.stringify(body)}`);
      return body.data;
    },
    stop,
  };
}
