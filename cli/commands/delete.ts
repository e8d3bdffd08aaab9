// `weft delete <kind> <name>` and `weft delete -f <file|dir|->`: removes configuration resources.
import { parseArgs } from 'node:util';
import { formatConfigError, type ConfigError } from '../../control-plane/src/model.js';
import { CliError, adminClientFor, errorMessage } from '../admin-client.js';
import { readInputs } from '../files.js';
import type { CliIo } from '../output.js';

/** Usage text of `weft delete`. */
export const DELETE_USAGE = `Usage: weft delete <kind> <name> [--server <url>] [--token <t>]
       weft delete -f <file|dir|-> [--server <url>] [--token <t>]

Deletes a resource, or every resource declared in the given files (routes before Services, so references
go first). A delete that would leave the configuration invalid (a route still names the Service) is refused.`;

/** Runs `weft delete`; returns the exit code (0 all deleted, 1 any refused or missing). */
export async function runDelete(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { filename: { type: 'string', short: 'f', multiple: true }, server: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    io.out(DELETE_USAGE);
    return 0;
  }
  const client = await adminClientFor(values, io.env);
  let targets: [string, string][];
  if (values.filename && values.filename.length > 0) {
    if (positionals.length > 0) throw new CliError(`give either <kind> <name> or -f, not both\n\n${DELETE_USAGE}`, 2);
    const read = await readInputs(values.filename, io);
    if (!read.ok) {
      for (const e of read.errors) io.err(formatConfigError(e));
      return 1;
    }
    const keys = [...new Set(read.files.flatMap((f) => f.keys))];
    // References point from routes to Services, so Services go last.
    keys.sort((a, b) => Number(a.startsWith('Service/')) - Number(b.startsWith('Service/')));
    targets = keys.map((k) => [k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1)]);
    if (targets.length === 0) throw new CliError('the given files declare no resources (kind and metadata.name)');
  } else {
    if (positionals.length !== 2) throw new CliError(DELETE_USAGE, 2);
    targets = [[positionals[0]!, positionals[1]!]];
  }

  let failed = 0;
  for (const [kind, name] of targets) {
    const reply = await client.request('DELETE', `/v1/resources/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`);
    if (reply.status === 200) {
      io.out(`${((reply.body['changed'] as string[] | undefined) ?? [`${kind}/${name}`]).join(', ')} deleted (generation ${String(reply.body['generation'])})`);
      continue;
    }
    failed++;
    if (Array.isArray(reply.body['errors'])) for (const e of reply.body['errors'] as ConfigError[]) io.err(formatConfigError(e));
    else io.err(`${kind}/${name}: ${errorMessage(reply)}`);
  }
  return failed === 0 ? 0 : 1;
}
