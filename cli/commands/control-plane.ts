// `weft control-plane`: runs the control plane in the foreground until SIGINT or SIGTERM.
import { parseArgs } from 'node:util';
import { consoleLogger } from '../../src/core/logger.js';
import { formatConfigError, type ConfigError } from '../../control-plane/src/model.js';
import { isMeshError } from '../../src/core/errors.js';
import { DEFAULT_ADMIN_PORT, DEFAULT_XDS_PORT, startControlPlane } from '../../control-plane/src/control-plane.js';
import { CliError } from '../admin-client.js';
import type { CliIo } from '../output.js';

/** Usage text of `weft control-plane`. */
export const CONTROL_PLANE_USAGE = `Usage: weft control-plane [--config-dir ./mesh] [--host 127.0.0.1] [--xds-port ${DEFAULT_XDS_PORT}] [--admin-port ${DEFAULT_ADMIN_PORT}]
                         [--lease-ttl-ms 10000] [--state-dir <config-dir>/.weft | --no-state] [--log-level info]

Runs the Weft control plane: serves xDS (ADS) and the endpoint registry on --xds-port, the admin API used by
the other weft commands on --admin-port, and keeps its configuration as YAML files in --config-dir (created
if missing; hand edits are picked up live). Registered endpoints' leases are saved in --state-dir so a restart
keeps routing to live servers (--no-state keeps them in memory only). Port 0 picks a free port. Stops cleanly on
SIGINT/SIGTERM.`;

/** Runs `weft control-plane`; resolves with the exit code once stopped by a signal (or at once on a start-up failure). */
export async function runControlPlane(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      'config-dir': { type: 'string' },
      host: { type: 'string' },
      'xds-port': { type: 'string' },
      'admin-port': { type: 'string' },
      'lease-ttl-ms': { type: 'string' },
      'state-dir': { type: 'string' },
      'no-state': { type: 'boolean' },
      'log-level': { type: 'string' },
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
  const configDir = values['config-dir'] ?? './mesh';
  let plane;
  try {
    plane = await startControlPlane({
      configDir,
      host: values.host ?? '127.0.0.1',
      xdsPort: port(values['xds-port'], '--xds-port', DEFAULT_XDS_PORT),
      adminPort: port(values['admin-port'], '--admin-port', DEFAULT_ADMIN_PORT),
      ...(values['lease-ttl-ms'] === undefined ? {} : { leaseTtlMs: positiveInt(values['lease-ttl-ms'], '--lease-ttl-ms') }),
      ...(values['no-state'] ? { stateDir: false as const } : values['state-dir'] === undefined ? {} : { stateDir: values['state-dir'] }),
      logger: consoleLogger('weft-control-plane', level as 'debug' | 'info' | 'warn' | 'error'),
    });
  } catch (e: unknown) {
    if (isMeshError(e) && Array.isArray(e.details['errors'])) {
      io.err(`weft control-plane: the configuration in ${configDir} is invalid; fix it and start again:`);
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
      `  config dir:     ${configDir} (generation ${plane.store.current().generation})`,
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
      running.close().then(
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

function port(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`${flag} must be a port number 0..65535, not '${value}'`, 2);
  return n;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`${flag} must be a positive integer, not '${value}'`, 2);
  return n;
}
