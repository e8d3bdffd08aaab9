// `weft control-plane`: runs the control plane in the foreground until SIGINT or SIGTERM.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { consoleLogger } from '../../src/core/logger.js';
import { formatConfigError, type ConfigError } from '../../control-plane/src/model.js';
import { isMeshError } from '../../src/core/errors.js';
import { DEFAULT_ADMIN_PORT, DEFAULT_XDS_PORT, startControlPlane } from '../../control-plane/src/control-plane.js';
import { CliError } from '../admin-client.js';
import { shortDuration, type CliIo } from '../output.js';
import { parseDurationMs } from '../../control-plane/src/admin/identity-routes.js';
import { XDS_AUTH_MODES, type XdsAuthMode } from '../../control-plane/src/auth/xds-auth.js';
import { isEtcdStore, type EtcdConnectionOptions } from '../../control-plane/src/etcd/etcd-client.js';

/** Usage text of `weft control-plane`. */
export const CONTROL_PLANE_USAGE = `Usage: weft control-plane [--config-dir ./mesh | --store etcd[s]://host:2379[,host:2379...][/prefix]] [--host 127.0.0.1] [--xds-port ${DEFAULT_XDS_PORT}] [--admin-port ${DEFAULT_ADMIN_PORT}]
                         [--etcd-ca-file <pem>] [--etcd-cert-file <pem> --etcd-key-file <pem>] [--etcd-user <name> [--etcd-password-file <file>]]
                         [--etcd-allow-plaintext]
                         [--lease-ttl-ms 10000] [--state-dir <config-dir>/.weft | --no-state] [--log-level info]
                         [--trust-domain weft.local] [--cert-ttl 24h] [--ca-cert <pem> --ca-key <pem> [--ca-chain <pem>]]
                         [--xds-auth loopback-plaintext|required] [--csr-rate 50] [--admin-token-file <state-dir>/admin-token]
                         [--debounce 100ms] [--debounce-max 1s] [--max-connection-age 30m] [--max-connection-age-grace 10s]

Runs the Weft control plane: serves xDS (ADS), the endpoint registry and workload enrolment (the CA) on
--xds-port, the admin API used by the other weft commands on --admin-port, and keeps its configuration as YAML
files in --config-dir (created if missing; hand edits are picked up live), or with --store etcd://... in etcd,
shared by every replica started with the same store (an edit on any replica reaches all). etcds:// speaks TLS to etcd:
--etcd-ca-file is the CA of etcd's server certificate, --etcd-cert-file/--etcd-key-file the client certificate for its
--client-cert-auth; --etcd-user logs in with the password in WEFT_ETCD_PASSWORD or --etcd-password-file (never a
flag: it would show in ps). Plaintext etcd:// to a host that is not loopback is refused unless --etcd-allow-plaintext:
etcd holds the mesh CA's key. Registered endpoints' leases, the CA,
the bootstrap-token key and used tokens are kept in --state-dir (--no-state keeps them in memory only). The
admin API requires the operator token in --admin-token-file (created with a random token if missing; with
--no-state, by default a 0600 file in a new temporary directory, removed at stop). The token itself is never
printed: stdout usually ends up in log collection. Config edits are pushed after --debounce without another edit
(at once after a quiet spell), at most --debounce-max after the first; endpoint changes (register, deregister,
drain, lease expiry) are pushed at once. xDS connections are recycled after --max-connection-age (0s = never) so
long-lived streams rebalance across replicas. Prometheus metrics are at <admin API>/metrics. Port 0
picks a free port. Stops cleanly on SIGINT/SIGTERM. See docs/cli.md for every flag.`;

/** Runs `weft control-plane`; resolves with the exit code once stopped by a signal (or at once on a start-up failure). */
export async function runControlPlane(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.some((a) => a === '--etcd-password' || a.startsWith('--etcd-password='))) {
    throw new CliError('the etcd password is never a command-line flag (it would show in ps): set WEFT_ETCD_PASSWORD or give --etcd-password-file', 2);
  }
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      'config-dir': { type: 'string' },
      store: { type: 'string' },
      'etcd-ca-file': { type: 'string' },
      'etcd-cert-file': { type: 'string' },
      'etcd-key-file': { type: 'string' },
      'etcd-user': { type: 'string' },
      'etcd-password-file': { type: 'string' },
      'etcd-allow-plaintext': { type: 'boolean' },
      host: { type: 'string' },
      'xds-port': { type: 'string' },
      'admin-port': { type: 'string' },
      'lease-ttl-ms': { type: 'string' },
      'state-dir': { type: 'string' },
      'no-state': { type: 'boolean' },
      'log-level': { type: 'string' },
      'trust-domain': { type: 'string' },
      'cert-ttl': { type: 'string' },
      'ca-cert': { type: 'string' },
      'ca-key': { type: 'string' },
      'ca-chain': { type: 'string' },
      'xds-auth': { type: 'string' },
      'csr-rate': { type: 'string' },
      'admin-token-file': { type: 'string' },
      debounce: { type: 'string' },
      'debounce-max': { type: 'string' },
      'max-connection-age': { type: 'string' },
      'max-connection-age-grace': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    io.out(CONTROL_PLANE_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new CliError(`unexpected argument '${positionals[0]}'\n\n${CONTROL_PLANE_USAGE}`, 2);
  const level = values['log-level'] ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new CliError(`--log-level must be debug, info, warn or error`, 2);
  if (values.store !== undefined && values['config-dir'] !== undefined) throw new CliError('--store and --config-dir name the same thing: give one', 2);
  const store = values.store ?? values['config-dir'] ?? './mesh';
  const storeLabel = isEtcdStore(store) ? 'etcd store' : 'config dir';
  const etcdStore = etcdConnection(store, values, io.env);
  if ((values['ca-cert'] === undefined) !== (values['ca-key'] === undefined)) throw new CliError('--ca-cert and --ca-key go together: give both, or neither to let the control plane generate its own root', 2);
  if (values['ca-chain'] !== undefined && values['ca-cert'] === undefined) throw new CliError('--ca-chain needs --ca-cert and --ca-key', 2);
  const xdsAuth = values['xds-auth'];
  if (xdsAuth !== undefined && !XDS_AUTH_MODES.includes(xdsAuth as XdsAuthMode)) throw new CliError(`--xds-auth must be ${XDS_AUTH_MODES.join(' or ')}, not '${xdsAuth}'`, 2);
  let certTtlMs: number | undefined;
  if (values['cert-ttl'] !== undefined) {
    certTtlMs = parseDurationMs(values['cert-ttl']);
    if (certTtlMs === undefined) throw new CliError(`--cert-ttl must be a duration like 24h, 90m or 7d, not '${values['cert-ttl']}'`, 2);
  }
  const durations = {
    debounceMs: duration(values.debounce, '--debounce'),
    debounceMaxMs: duration(values['debounce-max'], '--debounce-max'),
    maxConnectionAgeMs: duration(values['max-connection-age'], '--max-connection-age'),
    maxConnectionAgeGraceMs: duration(values['max-connection-age-grace'], '--max-connection-age-grace'),
  };
  const csrRate = values['csr-rate'];
  if (csrRate !== undefined && !(Number.isFinite(Number(csrRate)) && Number(csrRate) >= 0 && csrRate.trim() !== '')) throw new CliError(`--csr-rate must be a number ≥ 0 (0 = no limit), not '${csrRate}'`, 2);
  // With no state dir the token still goes to a file (0600, in a fresh 0700 directory), never to stdout.
  const tempTokenDir = values['no-state'] && values['admin-token-file'] === undefined ? await mkdtemp(path.join(tmpdir(), 'weft-admin-')) : undefined;
  const adminTokenFile = values['admin-token-file'] ?? (tempTokenDir === undefined ? undefined : path.join(tempTokenDir, 'admin-token'));
  const removeTempTokenDir = async (): Promise<void> => {
    if (tempTokenDir !== undefined) await rm(tempTokenDir, { recursive: true, force: true });
  };
  const security = {
    ...(values['trust-domain'] === undefined ? {} : { trustDomain: values['trust-domain'] }),
    ...(certTtlMs === undefined ? {} : { certTtlMs }),
    ...(values['ca-cert'] === undefined || values['ca-key'] === undefined
      ? {}
      : { caFiles: { certFile: values['ca-cert'], keyFile: values['ca-key'], ...(values['ca-chain'] === undefined ? {} : { chainFile: values['ca-chain'] }) } }),
    ...(xdsAuth === undefined ? {} : { xdsAuth: xdsAuth as XdsAuthMode }),
    ...(csrRate === undefined ? {} : { csrRatePerSecond: Number(csrRate) }),
    ...(adminTokenFile === undefined ? {} : { adminTokenFile }),
  };
  let plane;
  try {
    plane = await startControlPlane({
      store: etcdStore ?? store,
      host: values.host ?? '127.0.0.1',
      xdsPort: port(values['xds-port'], '--xds-port', DEFAULT_XDS_PORT),
      adminPort: port(values['admin-port'], '--admin-port', DEFAULT_ADMIN_PORT),
      ...(values['lease-ttl-ms'] === undefined ? {} : { leaseTtlMs: positiveInt(values['lease-ttl-ms'], '--lease-ttl-ms') }),
      ...(values['no-state'] ? { stateDir: false as const } : values['state-dir'] === undefined ? {} : { stateDir: values['state-dir'] }),
      logger: consoleLogger('weft-control-plane', level as 'debug' | 'info' | 'warn' | 'error'),
      security,
      ...Object.fromEntries(Object.entries(durations).filter(([, v]) => v !== undefined)),
    });
  } catch (e: unknown) {
    await removeTempTokenDir();
    if (isMeshError(e) && Array.isArray(e.details['errors'])) {
      io.err(`weft control-plane: the configuration in ${store} is invalid; fix it and start again:`);
      for (const err of e.details['errors'] as ConfigError[]) io.err(`  ${formatConfigError(err)}`);
      return 1;
    }
    throw new CliError(e instanceof Error ? e.message : String(e));
  }
  io.out(
    [
      'Weft control plane running',
      `  xDS + registry: ${plane.xdsAddress}   (SDK: controlPlane: '${plane.xdsUrl}')`,
      `  admin API:      ${plane.adminUrl}   (CLI: --server ${plane.adminUrl} or WEFT_ADMIN)`,
      plane.adminTokenFile === undefined
        ? '  admin token:    in memory only'
        : `  admin token:    in ${plane.adminTokenFile}${tempTokenDir === undefined ? '' : ', removed at stop'}   (CLI: WEFT_ADMIN_TOKEN_FILE=${plane.adminTokenFile})`,
      `  CA:             trust domain ${plane.ca.trustDomain}, certificates valid ${shortDuration(plane.ca.certTtlMs)} (${plane.ca.status().mode === 'operator' ? 'operator CA' : 'generated root'})`,
      `  ${`${storeLabel}:`.padEnd(16)}${store} (generation ${plane.store.current().generation})`,
    ].join('\n'),
  );
  const running = plane;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        io.err(`weft control-plane: ${signal} again; exiting now`);
        process.exit(1);
      }
      stopping = true;
      io.out(`Stopping (${signal})...`);
      running.close().finally(removeTempTokenDir).then(
        () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          io.out('Stopped.');
          resolve(0);
        },
        (e: unknown) => {
          io.err(`weft control-plane: error while stopping: ${String(e)}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** The etcd connection the `--etcd-*` flags and WEFT_ETCD_PASSWORD describe, or undefined when none is given. */
function etcdConnection(store: string, values: Partial<Record<string, string | boolean>>, env: NodeJS.ProcessEnv): EtcdConnectionOptions | undefined {
  const text = (flag: string): string | undefined => (typeof values[flag] === 'string' ? values[flag] : undefined);
  const password = env['WEFT_ETCD_PASSWORD'];
  const given = ETCD_FLAGS.filter((f) => values[f] !== undefined);
  if (!isEtcdStore(store)) {
    if (given.length > 0) throw new CliError(`${given.map((f) => `--${f}`).join(', ')} need --store etcd://... or etcds://...`, 2);
    return undefined;
  }
  if (given.length === 0 && password === undefined) return undefined;
  return {
    url: store,
    ...(text('etcd-ca-file') === undefined ? {} : { caFile: text('etcd-ca-file') }),
    ...(text('etcd-cert-file') === undefined ? {} : { certFile: text('etcd-cert-file') }),
    ...(text('etcd-key-file') === undefined ? {} : { keyFile: text('etcd-key-file') }),
    ...(text('etcd-user') === undefined ? {} : { username: text('etcd-user') }),
    ...(text('etcd-password-file') === undefined ? {} : { passwordFile: text('etcd-password-file') }),
    ...(password === undefined ? {} : { password }),
    ...(values['etcd-allow-plaintext'] === true ? { allowPlaintext: true } : {}),
  };
}

const ETCD_FLAGS = ['etcd-ca-file', 'etcd-cert-file', 'etcd-key-file', 'etcd-user', 'etcd-password-file', 'etcd-allow-plaintext'] as const;

function port(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`${flag} must be a port number 0..65535, not '${value}'`, 2);
  return n;
}

function duration(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDurationMs(value);
  if (ms === undefined) throw new CliError(`${flag} must be a duration like 100ms, 1s or 30m, not '${value}'`, 2);
  return ms;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`${flag} must be a positive integer, not '${value}'`, 2);
  return n;
}
