// What the CLI's tests share: the real `weft` binary as a child process, and a control plane on loopback per suite.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { startControlPlane, type ControlPlane } from '../control-plane/src/control-plane.js';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = path.join(ROOT, 'cli', 'main.ts');
/** tsx resolved from here, so the binary can also run from a directory outside the repository. */
const TSX = import.meta.resolve('tsx');

/** How one CLI run ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawns the real `weft <args>` in `cwd` (default: the repository) with `env` over this process's, `input` on stdin. */
export function weftBinary(args: readonly string[], env: NodeJS.ProcessEnv, options: { cwd?: string; input?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** A suite's control plane: started before its tests in a fresh temp dir, closed and removed after them. */
export interface SuiteControlPlane {
  /** The temp dir (the store is `<dir>/store`). */
  readonly dir: string;
  readonly cp: ControlPlane;
  /** WEFT_ADMIN and WEFT_ADMIN_TOKEN for this control plane. */
  readonly env: NodeJS.ProcessEnv;
}

/** Registers before/after hooks in the current suite that run a control plane on loopback port 0; read it in tests. */
export function suiteControlPlane(prefix: string): SuiteControlPlane {
  const state = {} as { dir: string; cp: ControlPlane; env: NodeJS.ProcessEnv };
  before(async () => {
    state.dir = await mkdtemp(path.join(tmpdir(), prefix));
    state.cp = await startControlPlane({ configDir: path.join(state.dir, 'store'), xdsPort: 0, adminPort: 0 });
    state.env = { WEFT_ADMIN: state.cp.adminUrl, WEFT_ADMIN_TOKEN: state.cp.adminToken };
  });
  after(async () => {
    await state.cp.close();
    await rm(state.dir, { recursive: true, force: true });
  });
  return state;
}
