// The xDS load harness: N simulated ADS clients (sim-client.ts) spread over worker processes, each sharing a bounded
// number of grpc-js channels, against one control plane; records, per marked change, when each client ACKed it.
// Used by the scale benchmarks (benchmarks/xds-scale.ts, benchmarks/xds-churn.ts) and by a smoke test.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimClientSpec } from './sim-client.js';

export { markerAddress, markerPath, type SimClientSpec } from './sim-client.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Messages a worker takes from the harness. */
export type ParentMessage =
  | { readonly type: 'start'; readonly address: string; readonly channels: number; readonly specs: readonly SimClientSpec[] }
  | { readonly type: 'counters' }
  | { readonly type: 'close' };

/** Messages a worker sends the harness. `items` are [client id, marker, ACK time in ms since the epoch]. */
export type WorkerMessage =
  | { readonly type: 'ready'; readonly count: number }
  | { readonly type: 'markers'; readonly items: readonly (readonly [number, number, number])[] }
  | { readonly type: 'ended'; readonly id: number; readonly code: number; readonly details: string }
  | { readonly type: 'counters'; readonly bytes: number; readonly responses: number; readonly nacks: number; readonly cpuUs: number };

/** Options of startLoad. */
export interface LoadOptions {
  /** `host:port` of the control plane's xDS server. */
  readonly address: string;
  readonly specs: readonly SimClientSpec[];
  /** Worker processes (default 2: one per core of the reference machine). */
  readonly workers?: number;
  /** grpc-js channels (HTTP/2 connections) per worker; streams are spread over them round-robin (default 16). */
  readonly channelsPerWorker?: number;
}

/** Sums of every client's counters. */
export interface LoadCounters {
  /** Serialized DiscoveryResponse bytes received by all clients. */
  readonly bytes: number;
  readonly responses: number;
  readonly nacks: number;
  /** CPU time of the worker processes (µs), to tell a saturated harness from a slow control plane. */
  readonly workerCpuUs: number;
}

/** A running load. */
export interface Load {
  /** Clients whose four types were each answered and ACKed. */
  readyCount(): number;
  /** Resolves once every client is ready; rejects after `timeoutMs` or when a stream ended. */
  waitReady(timeoutMs: number): Promise<void>;
  /**
   * Resolves with, for each client in `ids` (default all), the time (ms since the epoch) it first ACKed a version
   * carrying marker `marker` or a later one; rejects after `timeoutMs`, naming how many had not.
   */
  waitConverged(marker: number, timeoutMs: number, ids?: readonly number[]): Promise<Map<number, number>>;
  counters(): Promise<LoadCounters>;
  /** Streams that ended other than by close(): id, gRPC code and details. */
  readonly ended: readonly { readonly id: number; readonly code: number; readonly details: string }[];
  /** Closes every stream and waits for the workers to exit. */
  close(): Promise<void>;
}

/** Starts the clients of `options.specs` over worker processes; resolves once every worker is running. */
export async function startLoad(options: LoadOptions): Promise<Load> {
  const workerCount = Math.max(1, Math.min(options.workers ?? 2, options.specs.length));
  const channels = options.channelsPerWorker ?? 16;
  const reports = new Map<number, [number, number][]>(); // client id -> [marker, atMs] in the order reported
  const ready = new Array<number>(workerCount).fill(0);
  const ended: { id: number; code: number; details: string }[] = [];
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const counterWaiters: ((m: WorkerMessage & { type: 'counters' }) => void)[][] = [];
  const workers: ChildProcess[] = [];
  for (let w = 0; w < workerCount; w++) {
    const child = fork(path.join(here, 'client-worker.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    counterWaiters.push([]);
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') ready[w] = m.count;
      else if (m.type === 'markers') {
        for (const [id, marker, atMs] of m.items) {
          let list = reports.get(id);
          if (list === undefined) reports.set(id, (list = []));
          list.push([marker, atMs]);
        }
      } else if (m.type === 'ended') ended.push({ id: m.id, code: m.code, details: m.details });
      else if (m.type === 'counters') counterWaiters[w]!.shift()?.(m);
      notify();
    });
    workers.push(child);
  }
  const per = Math.ceil(options.specs.length / workerCount);
  workers.forEach((child, w) => child.send({ type: 'start', address: options.address, channels, specs: options.specs.slice(w * per, (w + 1) * per) } satisfies ParentMessage));

  const until = async (done: () => boolean, timeoutMs: number, what: () => string): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (ended.length > 0) throw new Error(`${ended.length} xDS streams ended, first: client ${ended[0]!.id}: code ${ended[0]!.code} ${ended[0]!.details}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  };
  const readyCount = () => ready.reduce((a, b) => a + b, 0);
  const firstAtLeast = (id: number, marker: number) => reports.get(id)?.find(([m]) => m >= marker)?.[1];

  return {
    readyCount,
    ended,
    waitReady: (timeoutMs) => until(() => readyCount() === options.specs.length, timeoutMs, () => `${options.specs.length} clients to be ready (${readyCount()} are)`),
    async waitConverged(marker, timeoutMs, ids = options.specs.map((s) => s.id)) {
      const missing = () => ids.filter((id) => firstAtLeast(id, marker) === undefined);
      let pending = ids;
      await until(() => (pending = pending.filter((id) => firstAtLeast(id, marker) === undefined)).length === 0, timeoutMs, () => `${missing().length} of ${ids.length} clients to ACK marker ${marker}`);
      return new Map(ids.map((id) => [id, firstAtLeast(id, marker)!]));
    },
    async counters() {
      const answers = await Promise.all(
        workers.map((child, w) => new Promise<WorkerMessage & { type: 'counters' }>((resolve) => {
          counterWaiters[w]!.push(resolve);
          child.send({ type: 'counters' } satisfies ParentMessage);
        })),
      );
      return {
        bytes: answers.reduce((a, m) => a + m.bytes, 0),
        responses: answers.reduce((a, m) => a + m.responses, 0),
        nacks: answers.reduce((a, m) => a + m.nacks, 0),
        workerCpuUs: answers.reduce((a, m) => a + m.cpuUs, 0),
      };
    },
    async close() {
      await Promise.all(workers.map((child) => new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        if (child.connected) child.send({ type: 'close' } satisfies ParentMessage);
        else child.kill('SIGTERM');
      })));
    },
  };
}

/** Percentile `p` (0..1) of `sorted` (ascending, non-empty): the nearest-rank value. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
