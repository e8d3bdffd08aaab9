// `weft token create --service <svc>`: issues a bootstrap token a new process enrols with (WEFT_TOKEN).
import { parseArgs } from 'node:util';
import { CliError, adminClientFor } from '../admin-client.js';
import { json, type CliIo } from '../output.js';

/** Usage text of `weft token`. */
export const TOKEN_USAGE = `Usage: weft token create --service <name> [--namespace default] [--ttl 1h] [--uses 1] [-o text|json]
                         [--server <url>] [--token <operator token>]

Issues a bootstrap token (a JWT signed by the control plane) that lets a process enrol as
spiffe://<trust-domain>/ns/<namespace>/sa/<name> and get its first certificate. It is valid for --ttl
(default 1h, at most 30d) and --uses enrolments (default 1); a used or expired token is refused.
The token alone goes to stdout, so it can be captured:

  export WEFT_TOKEN=$(weft token create --service payments)`;

/** Runs `weft token create`; returns the exit code. */
export async function runToken(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      service: { type: 'string' },
      namespace: { type: 'string' },
      ttl: { type: 'string' },
      uses: { type: 'string' },
      output: { type: 'string', short: 'o' },
      server: { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    io.out(TOKEN_USAGE);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'create') throw new CliError(TOKEN_USAGE, 2);
  if (values.service === undefined) throw new CliError(`--service is required\n\n${TOKEN_USAGE}`, 2);
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new CliError(`-o must be text or json, not '${output}'`, 2);
  let uses: number | undefined;
  if (values.uses !== undefined) {
    uses = Number(values.uses);
    if (!Number.isInteger(uses) || uses < 1) throw new CliError(`--uses must be a whole number ≥ 1, not '${values.uses}'`, 2);
  }
  const client = await adminClientFor(values, io.env);
  const body = await client.requestOk(
    'POST',
    '/v1/tokens',
    JSON.stringify({ service: values.service, ...(values.namespace ? { namespace: values.namespace } : {}), ...(values.ttl ? { ttl: values.ttl } : {}), ...(uses ? { uses } : {}) }),
  );
  if (output === 'json') {
    io.out(json(body));
    return 0;
  }
  io.out(String(body['token']));
  const usesLeft = Number(body['uses']);
  io.err(`bootstrap token for ${String(body['spiffeId'])}: ${usesLeft === 1 ? 'one use' : `${usesLeft} uses`}, expires ${String(body['expiresAt'])}. Give it to the process as WEFT_TOKEN (or in a file named by WEFT_TOKEN_FILE).`);
  return 0;
}
