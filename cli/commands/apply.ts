// `weft apply -f <file|dir|->`: sends configuration to the control plane as one whole-or-nothing change.
import { parseArgs } from 'node:util';
import { formatConfigError, type ConfigError } from '../../control-plane/src/model.js';
import { CliError, adminClientFor, errorMessage } from '../admin-client.js';
import { attributeErrors, joinDocuments, readInputs } from '../files.js';
import type { CliIo } from '../output.js';

/** Usage text of `weft apply`. */
export const APPLY_USAGE = `Usage: weft apply -f <file|dir|-> [-f ...] [--dry-run] [--server <url>] [--token <t>]

Validates the resources in the given YAML files (a directory means its *.yaml/*.yml files; - reads stdin)
against the whole configuration and stores them, or changes nothing and prints every error, one per line:
  file: Kind/name: field: message
Several files are applied together, as one change.

Options:
  -f, --filename <path>  file, directory or - (repeatable)
      --dry-run          validate only; report what would change
      --server <url>     admin API (default $WEFT_ADMIN or http://127.0.0.1:15000)`;

/** Runs `weft apply`; returns the exit code (0 applied, 1 refused or failed). */
export async function runApply(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      'dry-run': { type: 'boolean' },
      server: { type: 'string' }, token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    io.out(APPLY_USAGE);
    return 0;
  }
  const inputs = values.filename ?? [];
  if (inputs.length === 0) throw new CliError(`weft apply needs -f <file|dir|->\n\n${APPLY_USAGE}`, 2);
  const client = await adminClientFor(values, io.env);

  const read = await readInputs(inputs, io);
  if (!read.ok) return printErrors(read.errors, io);
  const files = read.files;
  const source = files.length === 1 ? files[0]!.name : inputs.join(',');
  const query = new URLSearchParams({ source });
  if (values['dry-run']) query.set('dryRun', 'true');
  const reply = await client.request('POST', `/v1/apply?${query}`, joinDocuments(files));

  if (reply.status === 400 && Array.isArray(reply.body['errors'])) {
    return printErrors(attributeErrors(reply.body['errors'] as ConfigError[], files, source), io);
  }
  if (reply.status >= 400) throw new CliError(errorMessage(reply));
  const changed = new Set((reply.body['changed'] as string[] | undefined) ?? []);
  const dry = values['dry-run'] ? ' (dry run)' : '';
  const declared = [...new Set(files.flatMap((f) => f.keys))];
  for (const key of declared) io.out(`${key} ${changed.has(key) ? (values['dry-run'] ? 'would change' : 'applied') : 'unchanged'}`);
  for (const key of changed) if (!declared.includes(key)) io.out(`${key} ${values['dry-run'] ? 'would change' : 'applied'}`);
  io.out(`${changed.size} changed, generation ${String(reply.body['generation'])}${dry}`);
  return 0;
}

function printErrors(errors: readonly ConfigError[], io: CliIo): number {
  for (const e of errors) io.err(formatConfigError(e));
  io.err(`weft apply: refused (${errors.length} error${errors.length === 1 ? '' : 's'}); nothing was changed`);
  return 1;
}
