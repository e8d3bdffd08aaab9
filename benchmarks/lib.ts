// What the benchmarks measure: the compiled package in dist/ (what `npm install weft` gives users), not the
// TypeScript sources through tsx, whose esbuild transform (keepNames) adds an Object.defineProperty to every closure
// created per call (measured at ~0.5 µs a call in the retry layer) and so overstates the mesh's cost.
// `npm run bench` builds first; run `npm run build` before running a benchmark file by hand (else dist/ is missing).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startControlPlane as startCp } from '../dist/control-plane/src/index.js';

export { createMesh, type Mesh } from '../dist/src/index.js';
export { addEchoService, EchoClient, say, type EchoClientInstance } from '../dist/src/testing/index.js';

/** A control plane on loopback (ports 0) over a temp config dir holding `files` (name → YAML). */
export interface BenchControlPlane {
  readonly controlPlane: Awaited<ReturnType<typeof startCp>>;
  /** Stops the control plane and removes its config dir. */
  close(): Promise<void>;
}

/** Starts a BenchControlPlane. */
export async function startBenchControlPlane(files: Readonly<Record<string, string>>): Promise<BenchControlPlane> {
  const configDir = await mkdtemp(path.join(tmpdir(), 'weft-bench-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(configDir, name), text);
  const controlPlane = await startCp({ configDir, xdsPort: 0, adminPort: 0 });
  return {
    controlPlane,
    close: async () => {
      await controlPlane.close();
      await rm(configDir, { recursive: true, force: true });
    },
  };
}

/**
 * Forks `file` (TypeScript, through tsx) as a separate process, so the benchmark's CPU figures are the client's
 * alone; resolves with the child and the first message it sends (its ports).
 */
export async function forkWithMessage<T>(file: string, args: readonly string[] = []): Promise<{ child: ChildProcess; message: T }> {
  const child = fork(file, [...args], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const message = await new Promise<T>((resolve) => child.once('message', (m) => resolve(m as T)));
  return { child, message };
}

/** A load benchmark's shape from the command line: --concurrency, --seconds and --rounds (numbers), plus `extra` strings. */
export interface LoadArgs {
  readonly concurrency: number;
  readonly seconds: number;
  readonly rounds: number;
  /** The extra options given (by name), undefined when absent and without a default. */
  readonly extra: Readonly<Record<string, string | undefined>>;
}

/** Parses the load options every load benchmark takes, with this benchmark's defaults, and its extra string options. */
export function loadArgs(defaults: { concurrency: number; seconds: number; rounds: number }, extra: Readonly<Record<string, string | undefined>> = {}): LoadArgs {
  const options: Record<string, { type: 'string'; default?: string }> = {
    concurrency: { type: 'string', default: String(defaults.concurrency) },
    seconds: { type: 'string', default: String(defaults.seconds) },
    rounds: { type: 'string', default: String(defaults.rounds) },
  };
  for (const [name, value] of Object.entries(extra)) options[name] = value === undefined ? { type: 'string' } : { type: 'string', default: value };
  const { values } = parseArgs({ options });
  const given = values as Record<string, string | undefined>;
  return { concurrency: Number(given.concurrency), seconds: Number(given.seconds), rounds: Number(given.rounds), extra: Object.fromEntries(Object.keys(extra).map((k) => [k, given[k]])) };
}
