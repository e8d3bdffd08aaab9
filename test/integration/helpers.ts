// Shared helpers for integration tests: a real control plane in a temp dir, real service processes, bounded waits.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../src/core/logger.js';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../control-plane/src/index.js';
import { AdsTestClient } from '../../control-plane/src/server/ads-test-client.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A control plane on loopback (ports 0) over a temp config dir, removed on close. */
export interface TestControlPlane {
  readonly cp: ControlPlane;
  readonly dir: string;
  /** Applies YAML through the admin API as `weft apply` does; returns the HTTP status and body. */
  apply(yaml: string): Promise<{ status: number; body: unknown }>;
  /** Calls the admin API with the operator token (JSON body when `body` is an object); returns status and JSON body. */
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  /**
   * Resolves once the current config is pushed (past the push debounce) and every connected client answered (ACK or
   * NACK) the latest response of each type: what a test waits for after an edit, instead of a sleep. Rejects after
   * `timeoutMs` (default 10 s).
   */
  pushed(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a control plane whose config dir holds `files` (name → YAML), logging to `options.logger` (default none). */
export async function startTestControlPlane(
  files: Record<string, string>,
  options: { leaseTtlMs?: number; logger?: Logger; security?: ControlPlaneOptions['security'] } = {},
): Promise<TestControlPlane> {
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-it-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  const cp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, ...options });
  return {
    cp,
    dir,
    async apply(yaml) {
      const res = await fetch(`${cp.adminUrl}/v1/apply`, { method: 'POST', body: yaml, headers: { authorization: `Bearer ${cp.adminToken}` } });
      return { status: res.status, body: (await res.json()) as unknown };
    },
    async admin(method, urlPath, body) {
      const res = await fetch(`${cp.adminUrl}${urlPath}`, {
        method,
        headers: { authorization: `Bearer ${cp.adminToken}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    async pushed(timeoutMs = 10_000) {
      const answered = (t: { sentVersion: string; ackedVersion: string; sentNonce: string; nack?: { nonce: string } }) => t.ackedVersion === t.sentVersion || t.nack?.nonce === t.sentNonce;
      await waitFor(
        () => cp.snapshotGeneration === cp.store.current().generation && cp.ads.clients().every((c) => c.types.every(answered)),
        `config generation ${cp.store.current().generation} to be pushed and answered by every client`,
        timeoutMs,
        10,
      );
    },
    async close() {
      await cp.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A child process running a fixture, with its JSON stdout lines. */
export interface TestProcess {
  readonly child: ChildProcess;
  readonly lines: unknown[];
  /** Resolves with the first JSON line matching `pred`, or rejects after `timeoutMs` (default 60 s: a fixture start-up on a loaded 2-core machine took up to 29 s). */
  waitForLine<T>(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<T>;
  /** Sends `signal` (default SIGTERM) and waits (bounded) for exit; SIGKILL after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

/** Spawns `node --import tsx <fixture>` (plain `node` for a `.mjs` fixture) with `env` added. */
export function spawnFixture(fixture: string, env: Record<string, string>): TestProcess {
  const file = path.join(ROOT, fixture);
  const child = spawn(process.execPath, fixture.endsWith('.mjs') ? [file] : ['--import', 'tsx', file], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      for (const w of [...waiters]) w();
    } catch {
      // not a JSON line: ignore
    }
  });
  return {
    child,
    lines,
    waitForLine<T>(pred: (line: Record<string, unknown>) => boolean, timeoutMs = 60_000) {
      return new Promise<T>((resolve, reject) => {
        const check = () => {
          const hit = lines.find(pred);
          if (hit) {
            cleanup();
            resolve(hit as T);
          }
        };
        const onExit = () => {
          cleanup();
          reject(new Error(`${fixture} exited (${child.exitCode ?? child.signalCode}) before the expected line; stderr:\n${stderr}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${fixture}: no expected line within ${timeoutMs} ms; stderr:\n${stderr}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        waiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      return stopChild(child, signal, timeoutMs);
    },
  };
}

/** Sends `signal` to `child` and resolves once it has exited; SIGKILL after `timeoutMs`. Resolves at once if it already exited. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill(signal);
  });
}

/** Polls `fn` every `intervalMs` until it returns a truthy value; rejects with `what` after `timeoutMs`. */
export async function waitFor<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (e: unknown) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** YAML for a mesh Service with one HTTP (or GRPC) port. */
export function serviceYaml(name: string, protocol: 'HTTP' | 'GRPC' = 'HTTP', port = 8080): string {
  return `apiVersion: weft.dev/v1alpha1
kind: Service
metadata:
  name: ${name}
spec:
  ports:
    - name: ${protocol === 'HTTP' ? 'http' : 'grpc'}
      port: ${port}
      protocol: ${protocol}
`;
}

/** What the grpc-js-xds client fixture reports: calls per answering backend, failures, the last error. */
export interface XdsClientResult {
  readonly counts: Record<string, number>;
  readonly failures: number;
  readonly lastError: string;
}

/** Options of runXdsClient. */
export interface XdsClientOptions {
  /** The bootstrap's `node.cluster` (default `interop-client`). */
  readonly cluster?: string;
  /** The bootstrap's `certificate_providers` (e.g. a file_watcher named `weft` over the files of `weft cert issue`). */
  readonly certificateProviders?: Record<string, unknown>;
  /** Use `XdsChannelCredentials` (falling back to insecure), so CDS security (gRFC A29) applies; default insecure. */
  readonly xdsCredentials?: boolean;
  /** The bootstrap's node id (default a fresh `grpc-xds-<pid>-<random>`), e.g. to find the client on the dashboard. */
  readonly nodeId?: string;
  /** Kills the client when aborted (the promise then rejects), for a client kept running while something is checked. */
  readonly signal?: AbortSignal;
}

/**
 * Runs the unmodified grpc-js-xds client fixture (test/integration/fixtures/grpc-xds-client.mjs) in its own process,
 * bootstrapped to `xdsAddress`, making `calls` calls to `target` (e.g. `xds:///echo`). A fresh node id each run.
 */
export function runXdsClient(xdsAddress: string, calls: number, target: string, request?: unknown, options: XdsClientOptions = {}): Promise<XdsClientResult> {
  const bootstrap = {
    xds_servers: [{ server_uri: xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: options.nodeId ?? `grpc-xds-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, cluster: options.cluster ?? 'interop-client', locality: {} },
    ...(options.certificateProviders !== undefined && { certificate_providers: options.certificateProviders }),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'test/integration/fixtures/grpc-xds-client.mjs')], {
      cwd: ROOT,
      env: {
        ...process.env,
        GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap),
        TARGET: target,
        CALLS: String(calls),
        ...(request !== undefined ? { REQUEST: JSON.stringify(request) } : {}),
        ...(options.xdsCredentials === true && { XDS_CREDENTIALS: '1' }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const kill = (): boolean => child.kill('SIGKILL');
    options.signal?.addEventListener('abort', kill, { once: true });
    child.on('exit', (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', kill);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as XdsClientResult);
      } catch {
        reject(new Error(`grpc-xds client exited ${code}; stdout: ${out}; stderr: ${err}`));
      }
    });
  });
}

/** Whether `cp` serves a Listener for Service `name` over ADS right now (what its SDK clients would receive). */
export async function servesListener(cp: ControlPlane, name: string): Promise<boolean> {
  const c = new AdsTestClient(cp.xdsAddress);
  try {
    c.send({ typeUrl: TYPE_URL.listener, names: [name], node: { id: `test-${Math.random().toString(36).slice(2, 8)}` } });
    const lds = await c.next(10_000);
    return lds.resources.some((r) => r['name'] === name);
  } finally {
    c.close();
  }
}
