// Starts control-plane-process.ts as a child over a temp config dir and drives it: `weft apply` through the admin
// API, registry Register/Deregister over real gRPC, and the process's own memory and CPU figures.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { protos, type ProtoObject } from '../../src/discovery/xds/protos.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Requests the control-plane process takes. */
export type ControlPlaneProcessRequest = { readonly type: 'stats' } | { readonly type: 'close' };

/** Messages the control-plane process sends. */
export type ControlPlaneProcessMessage =
  | { readonly type: 'started'; readonly xdsAddress: string; readonly adminUrl: string; readonly adminToken: string }
  | ({ readonly type: 'stats' } & ControlPlaneStats);

/** Memory and CPU of the control-plane process, measured after a full GC. */
export interface ControlPlaneStats {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** User + system CPU time since the process started (µs). */
  readonly cpuUs: number;
  /** Bytes of responses the ADS server wrote since it started, on SotW and on delta streams (its own counters). */
  readonly sotwBytes: number;
  readonly deltaBytes: number;
  /** Live ADS streams. */
  readonly streams: number;
}

/** A control plane running in its own process. */
export interface ControlPlaneProcess {
  readonly pid: number;
  readonly xdsAddress: string;
  /** Applies YAML as `weft apply` does; throws with the admin API's answer unless it is 200. */
  apply(yaml: string): Promise<void>;
  /** Registers an endpoint with a lease of `ttlMs`; resolves with the lease id. */
  register(endpoint: { service: string; address: string; port: number; portName?: string }, ttlMs: number): Promise<string>;
  deregister(leaseId: string): Promise<void>;
  stats(): Promise<ControlPlaneStats>;
  /** Stops the process (cleanly, so a --cpu-prof profile is written) and removes the config dir. */
  close(): Promise<void>;
}

/** Options of startControlPlaneProcess. */
export interface ControlPlaneProcessOptions {
  /** Extra node flags, e.g. `--cpu-prof`, `--cpu-prof-dir=…` (`--expose-gc` is always on). */
  readonly nodeFlags?: readonly string[];
}

/** Starts a control plane over a fresh config dir holding `files` (name → YAML) in a child process. */
export async function startControlPlaneProcess(files: Readonly<Record<string, string>>, options: ControlPlaneProcessOptions = {}): Promise<ControlPlaneProcess> {
  const configDir = await mkdtemp(path.join(tmpdir(), 'weft-scale-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(configDir, name), text);
  const child: ChildProcess = fork(path.join(here, 'control-plane-process.ts'), [configDir], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...(options.nodeFlags ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const statsWaiters: ((s: ControlPlaneStats) => void)[] = [];
  const started = await new Promise<ControlPlaneProcessMessage & { type: 'started' }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the control-plane process exited (${String(code)}) before it started`)));
    child.on('message', (m: ControlPlaneProcessMessage) => {
      if (m.type === 'started') resolve(m);
      else if (m.type === 'stats') statsWaiters.shift()?.(m);
    });
  });
  const Registry = grpc.makeGenericClientConstructor(protos().registryService, 'Registry');
  const registry = new Registry(started.xdsAddress, grpc.credentials.createInsecure());
  const unary = (method: string, request: ProtoObject) =>
    new Promise<ProtoObject>((resolve, reject) => {
      const fn = (registry as unknown as Record<string, (r: ProtoObject, cb: (e: grpc.ServiceError | null, v?: ProtoObject) => void) => void>)[method]!;
      fn.call(registry, request, (e, v) => (e ? reject(new Error(`${method}: ${e.message}`)) : resolve(v!)));
    });
  return {
    pid: child.pid!,
    xdsAddress: started.xdsAddress,
    async apply(yaml) {
      const res = await fetch(`${started.adminUrl}/v1/apply`, { method: 'POST', body: yaml, headers: { authorization: `Bearer ${started.adminToken}` } });
      if (res.status !== 200) throw new Error(`apply failed (${res.status}): ${await res.text()}`);
      await res.body?.cancel();
    },
    async register(e, ttlMs) {
      const lease = await unary('Register', { endpoint: { service: e.service, address: e.address, port: e.port, port_name: e.portName ?? 'http', node_id: `bench-${e.address}-${e.port}` }, ttl_ms: ttlMs });
      return String(lease['lease_id']);
    },
    async deregister(leaseId) {
      await unary('Deregister', { lease_id: leaseId });
    },
    stats: () =>
      new Promise<ControlPlaneStats>((resolve) => {
        statsWaiters.push(resolve);
        child.send({ type: 'stats' } satisfies ControlPlaneProcessRequest);
      }),
    async close() {
      registry.close();
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.send({ type: 'close' } satisfies ControlPlaneProcessRequest);
      });
      await rm(configDir, { recursive: true, force: true });
    },
  };
}
