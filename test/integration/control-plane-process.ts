// Control-plane replicas as real processes (`weft control-plane`) for failover tests: started on free ports, killed
// with SIGKILL like a crashed machine, restarted on the same ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT, stopChild } from './helpers.js';

/** A running `weft control-plane` process. */
export interface ControlPlaneProcess {
  readonly child: ChildProcess;
  /** `host:port` of xDS, Registry, Identity and Telemetry. */
  readonly xdsAddress: string;
  /** `http://host:port`, as the SDK's controlPlane option takes it. */
  readonly xdsUrl: string;
  readonly adminUrl: string;
  /** Calls the admin API with the operator token; returns the status and the JSON body. */
  admin(method: string, urlPath: string, body?: string): Promise<{ status: number; body: unknown }>;
  /** True once the process has exited. */
  exited(): boolean;
  /** Sends `signal` (default SIGKILL: a crash) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Options of startControlPlaneProcess. */
export interface ControlPlaneProcessOptions {
  /** `--config-dir` (a dir-backed replica). */
  readonly configDir?: string;
  /** Further arguments, e.g. `['--store', 'etcd://127.0.0.1:2379']`. */
  readonly args?: readonly string[];
  /** xDS port (default 0: any free port); give the old one to restart a replica where its clients look for it. */
  readonly xdsPort?: number;
  /** Bound on the start-up (ms, default 60 000: tsx plus a cold start on a loaded 2-core machine). */
  readonly startTimeoutMs?: number;
}

/**
 * Starts `node --import tsx cli/main.ts control-plane ... --xds-port N --admin-port 0` and resolves once it printed its
 * addresses (and the admin token file exists). Rejects with its output if it exits or is not up within the bound.
 */
export async function startControlPlaneProcess(options: ControlPlaneProcessOptions): Promise<ControlPlaneProcess> {
  const args = [
    '--import', 'tsx', path.join(ROOT, 'cli/main.ts'), 'control-plane',
    ...(options.configDir === undefined ? [] : ['--config-dir', options.configDir]),
    '--xds-port', String(options.xdsPort ?? 0), '--admin-port', '0', '--log-level', 'warn',
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const lines = createInterface({ input: child.stdout! });
  const found: { xds?: string; admin?: string; tokenFile?: string } = {};
  let up = false;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(`not up within ${options.startTimeoutMs ?? 60_000} ms`), options.startTimeoutMs ?? 60_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`weft control-plane ${why}; output:\n${output}`));
    };
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal}) during start-up`));
    lines.on('line', (line) => {
      output = (output + line + '\n').slice(-4000);
      found.xds ??= /xDS \+ registry:\s+(\S+)/.exec(line)?.[1];
      found.admin ??= /admin API:\s+(\S+)/.exec(line)?.[1];
      found.tokenFile ??= /admin token:\s+in (\S+?),?\s/.exec(`${line} `)?.[1];
      // Once only: the lines after start-up (e.g. "Stopping (SIGTERM)...") must not strip the exit listener stop() adds.
      if (!up && found.xds !== undefined && found.admin !== undefined && found.tokenFile !== undefined) {
        up = true;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve();
      }
    });
  });
  const token = (await readFile(found.tokenFile!, 'utf8')).trim();
  const xdsAddress = found.xds!;
  const adminUrl = found.admin!;
  return {
    child,
    xdsAddress,
    xdsUrl: `http://${xdsAddress}`,
    adminUrl,
    admin: adminCaller(adminUrl, token),

    exited: () => child.exitCode !== null || child.signalCode !== null,
    stop: (signal = 'SIGKILL') => stopChild(child, signal, 10_000),
  };
}

/** Calls the admin API at `adminUrl` with the operator `token`; resolves the status and the JSON body. */
export function adminCaller(adminUrl: string, token: string): ControlPlaneProcess['admin'] {
  return async (method, urlPath, body) => {
    const res = await fetch(`${adminUrl}${urlPath}`, { method, headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
}

/** A loopback port free now (the kernel's pick for port 0, released), for a replica to be started on later. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
