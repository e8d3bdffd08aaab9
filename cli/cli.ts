// The `weft` command's dispatcher: picks the subcommand, runs it and turns failures into messages and exit codes.
import { CliError } from './admin-client.js';
import { processIo, type CliIo } from './output.js';

/** Top-level usage text. */
export const USAGE = `Usage: weft <command> [options]

Commands:
  control-plane   run the control plane (xDS + registry + admin API) in the foreground
  apply -f        validate and store configuration from files, a directory or stdin
  get             list routes, services or registered endpoints
  delete          delete a resource, or the resources declared in files
  status          connected clients, the version each ACKed, NACKs and config errors
  config-dump     what one client was last sent (JSON)
  stat            per service or per route: success rate, RPS, latency p50/p95/p99
  top             weft stat, refreshed every 2 s
  dashboard       the address of the control plane's dashboard, with the token (--open)
  token create    a bootstrap token a new process enrols with (WEFT_TOKEN)
  cert issue      a key, certificate and trust bundle as files (for file-based TLS users)
  ca              the CA's roots (status) and a root rotation with overlap (rotate)

Every command but control-plane talks to the admin API at --server <url>, or $WEFT_ADMIN,
or http://127.0.0.1:15000, with the operator token from --token, $WEFT_ADMIN_TOKEN,
the file $WEFT_ADMIN_TOKEN_FILE names, or ./mesh/.weft/admin-token.
Run 'weft <command> --help' for a command's options.`;

type Command = (argv: readonly string[], io: CliIo) => Promise<number>;

// Loaded on demand: the client commands stay quick to start (they never load gRPC or the Envoy protos).
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  'control-plane': async () => (await import('./commands/control-plane.js')).runControlPlane,
  apply: async () => (await import('./commands/apply.js')).runApply,
  get: async () => (await import('./commands/get.js')).runGet,
  delete: async () => (await import('./commands/delete.js')).runDelete,
  status: async () => (await import('./commands/status.js')).runStatus,
  'config-dump': async () => (await import('./commands/status.js')).runConfigDump,
  stat: async () => (await import('./commands/stat.js')).runStat,
  top: async () => (await import('./commands/stat.js')).runTop,
  dashboard: async () => (await import('./commands/stat.js')).runDashboard,
  token: async () => (await import('./commands/token.js')).runToken,
  cert: async () => (await import('./commands/cert.js')).runCert,
  ca: async () => (await import('./commands/ca.js')).runCa,
};

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. Never throws. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(USAGE);
    return command === undefined ? 2 : 0;
  }
  const load = COMMANDS[command];
  if (!load) {
    io.err(`weft: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  try {
    const run = await load();
    return await run(rest, io);
  } catch (e: unknown) {
    if (e instanceof CliError) {
      io.err(`weft ${command}: ${e.message}`);
      return e.exitCode;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`weft ${command}: ${e.message}\nRun 'weft ${command} --help' for its options.`);
      return 2;
    }
    io.err(`weft ${command}: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  }
}
