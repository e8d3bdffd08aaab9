// Test fixture: a real, single-member etcd (the Debian `etcd` binary) on free loopback ports with a temp data dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The etcd binary the fixture runs: `$WEFT_ETCD_BIN`, else `/usr/bin/etcd` (Debian's etcd-server). */
export const ETCD_BIN = process.env['WEFT_ETCD_BIN'] ?? '/usr/bin/etcd';
/** How long start-up may take before the fixture gives up (ms): generous, a loaded 2-core CI machine is slow. */
export const ETCD_START_TIMEOUT_MS = 30_000;
/** Attempts with fresh ports when the chosen ones were taken between probing and etcd's bind. */
const START_ATTEMPTS = 3;

/** PEM texts for an etcd that serves its clients over TLS (startEtcd's `tls` option). */
export interface EtcdTlsOptions {
  /** etcd's server certificate chain (its SAN must name 127.0.0.1) and key. */
  readonly cert: string;
  readonly key: string;
  /** With `clientCa`: etcd's --client-cert-auth, so a client must present a certificate this CA signed. */
  readonly clientCa?: string;
}

/** Options of startEtcd (all optional: plaintext on loopback by default). */
export interface StartEtcdOptions {
  /** Serve clients over TLS (`https://`; the endpoint becomes `etcds://`); /health is then probed on a plaintext metrics port. */
  readonly tls?: EtcdTlsOptions;
}

/** A running etcd started by startEtcd. */
export interface EtcdServer {
  /** The control plane's `store` value for it: `etcd://127.0.0.1:<port>` (`etcds://` with TLS). */
  readonly endpoint: string;
  /** The client URL (`http://127.0.0.1:<port>`, `https://` with TLS), as the etcd3 client and etcdctl take it. */
  readonly clientUrl: string;
  /** Stops etcd (SIGTERM, SIGKILL after 5 s) and removes its data dir. Idempotent. */
  stop(): Promise<void>;
  /** Kills etcd at once (SIGKILL) without removing the data dir, to simulate a crash; stop() still cleans up. */
  kill(): void;
  /** Starts etcd again (after kill(), or stops it first) on the same ports and data dir; resolves once healthy. */
  restart(): Promise<void>;
}

/**
 * Spawns the real etcd on free loopback client and peer ports with a fresh temp data dir and resolves once its
 * `/health` endpoint answers healthy. Rejects within ETCD_START_TIMEOUT_MS (per attempt) with an error naming the
 * binary when it is missing or does not become healthy; the process is killed and the data dir removed then.
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(options);
    } catch (e: unknown) {
      lastError = e;
      // A missing binary will not appear on retry; only a port race is worth another try.
      if (!(e instanceof PortRaceError)) throw e;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

class PortRaceError extends Error {}

/** Ports and TLS arguments of one etcd, reused by restart(). */
interface Launch {
  readonly clientPort: number;
  readonly peerPort: number;
  /** Plaintext port serving /health when the client port speaks TLS. */
  readonly metricsPort: number | undefined;
  readonly dataDir: string;
  readonly tlsArgs: readonly string[];
}

async function startOnce(options: StartEtcdOptions): Promise<EtcdServer> {
  const [clientPort, peerPort, metricsPort] = await freePorts(options.tls === undefined ? 2 : 3);
  // The data dir and TLS files live under one temp dir, removed at stop.
  const baseDir = await mkdtemp(path.join(tmpdir(), 'weft-etcd-'));
  const dataDir = path.join(baseDir, 'data');
  const scheme = options.tls === undefined ? 'http' : 'https';
  const clientUrl = `${scheme}://127.0.0.1:${clientPort}`;
  let child: ChildProcess;
  let spec: Launch;
  try {
    spec = { clientPort: clientPort!, peerPort: peerPort!, metricsPort, dataDir, tlsArgs: options.tls === undefined ? [] : await writeTlsFiles(options.tls, baseDir) };
    child = await launch(spec);
  } catch (e: unknown) {
    await rm(baseDir, { recursive: true, force: true });
    throw e;
  }
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `${options.tls === undefined ? 'etcd' : 'etcds'}://127.0.0.1:${clientPort}`,
    clientUrl,
    stop() {
      stopping ??= stopChild(child).then(() => rm(baseDir, { recursive: true, force: true }));
      return stopping;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    async restart() {
      await stopChild(child);
      child = await launch(spec);
    },
  };
}

/** Writes the TLS PEMs into `baseDir` (etcd reads files) and returns etcd's TLS arguments. */
async function writeTlsFiles(tls: EtcdTlsOptions, baseDir: string): Promise<string[]> {
  const file = async (name: string, pem: string) => {
    const p = path.join(baseDir, name);
    await writeFile(p, pem, { mode: 0o600 });
    return p;
  };
  const args = [`--cert-file=${await file('server.pem', tls.cert)}`, `--key-file=${await file('server.key', tls.key)}`];
  if (tls.clientCa !== undefined) args.push(`--trusted-ca-file=${await file('client-ca.pem', tls.clientCa)}`, '--client-cert-auth');
  return args;
}

/** Spawns etcd on the given ports over `dataDir` and resolves once healthy; kills it and rejects otherwise. */
async function launch(spec: Launch): Promise<ChildProcess> {
  const { clientPort, peerPort, metricsPort, dataDir } = spec;
  const clientUrl = `${metricsPort === undefined ? 'http' : 'https'}://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const name = `weft-test-${clientPort}`;
  const child = spawn(
    ETCD_BIN,
    [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${name}=${peerUrl}`,
      '--initial-cluster-state=new',
      '--log-level=error',
      '--logger=zap',
      ...spec.tlsArgs,
      ...(metricsPort === undefined ? [] : [`--listen-metrics-urls=http://127.0.0.1:${metricsPort}`]),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<Error>((resolve) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      resolve(
        e.code === 'ENOENT'
          ? new Error(`etcd binary not found at ${ETCD_BIN}: install Debian's etcd-server (apt-get install etcd-server) or set WEFT_ETCD_BIN`)
          : new Error(`cannot start etcd (${ETCD_BIN}): ${e.message}`),
      );
    });
    child.once('exit', (code, signal) => {
      const msg = `etcd (${ETCD_BIN}) exited (${code ?? signal}) before it became healthy; stderr:\n${stderr}`;
      resolve(/address already in use/.test(stderr) ? new PortRaceError(msg) : new Error(msg));
    });
  });
  const error = await Promise.race([exited, waitHealthy(metricsPort === undefined ? clientUrl : `http://127.0.0.1:${metricsPort}`, child)]);
  if (error !== undefined) {
    await stopChild(child);
    throw error;
  }
  return child;
}

/** Polls /health until healthy (resolves undefined) or the start timeout (resolves an error); stops if etcd exits. */
async function waitHealthy(clientUrl: string, child: ChildProcess): Promise<Error | undefined> {
  const deadline = Date.now() + ETCD_START_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    // The exit handler reports why; stop polling a dead process.
    if (child.exitCode !== null || child.signalCode !== null) return new Promise<never>(() => undefined);
    try {
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      const body = (await res.json()) as { health?: unknown };
      if (res.ok && (body.health === 'true' || body.health === true)) return undefined;
      last = `status ${res.status}`;
    } catch (e: unknown) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return new Error(`etcd (${ETCD_BIN}) at ${clientUrl} not healthy within ${ETCD_START_TIMEOUT_MS} ms (last: ${last})`);
}

/** `count` distinct loopback ports that were free a moment ago (etcd cannot listen on port 0 and report it). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
