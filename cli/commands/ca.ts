// `weft ca status` and `weft ca rotate`: the CA's roots and their phases, and a root rotation with overlap.
import { parseArgs } from 'node:util';
import type { CaStatus } from '../../control-plane/src/ca/authority.js';
import { CliError, adminClientFor } from '../admin-client.js';
import { json, shortDuration, table, type CliIo } from '../output.js';

/** Usage text of `weft ca`. */
export const CA_USAGE = `Usage: weft ca status [-o table|json] [--server <url>] [--token <operator token>]
       weft ca rotate [--activate-after 5m] [--server <url>] [--token <operator token>]

status lists the roots in the trust bundle: the active one (signs), a next one (trusted, signs from its
activation on) and previous ones (trusted until every certificate they issued has expired).

rotate starts a root rotation with no downtime: a new root joins the trust bundle at once and reaches every
connected process over SDS; after --activate-after (default 5m) it starts signing and the old root becomes
previous, trusted for one certificate lifetime (--cert-ttl) plus 10 minutes, then dropped. Certificates renew
onto the new root at their usual half-life. Not for operator-provided CAs: restart with the new --ca-cert.`;

/** Runs `weft ca`; returns the exit code. */
export async function runCa(argv: readonly string[], io: CliIo, nowMs = Date.now()): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      'activate-after': { type: 'string' },
      output: { type: 'string', short: 'o' },
      server: { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    io.out(CA_USAGE);
    return 0;
  }
  const [command, extra] = positionals;
  if ((command !== 'status' && command !== 'rotate') || extra !== undefined) throw new CliError(CA_USAGE, 2);
  if (command === 'status' && values['activate-after'] !== undefined) throw new CliError('--activate-after goes with weft ca rotate', 2);
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json') throw new CliError(`-o must be table or json, not '${output}'`, 2);
  const client = await adminClientFor(values, io.env);
  const status = (
    command === 'status'
      ? await client.requestOk('GET', '/v1/ca')
      : await client.requestOk('POST', '/v1/ca/rotate', JSON.stringify(values['activate-after'] === undefined ? {} : { activateAfter: values['activate-after'] }))
  ) as unknown as CaStatus;
  if (output === 'json') {
    io.out(json(status));
    return 0;
  }
  const lines = [
    `Trust domain ${status.trustDomain}; certificates valid ${shortDuration(status.certTtlMs)}; signing with ${status.mode === 'operator' ? 'the operator CA' : 'a generated root'} '${status.signer}'.`,
    '',
    table(
      ['ROOT', 'PHASE', 'SUBJECT', 'EXPIRES', 'CHANGES'],
      status.roots.map((r) => [
        r.id,
        r.phase,
        r.subject,
        r.notAfter,
        r.phase === 'next'
          ? `signs in ${shortDuration((r.activateAtMs ?? nowMs) - nowMs)}`
          : r.phase === 'previous'
            ? `leaves the bundle in ${shortDuration((r.trustedUntilMs ?? nowMs) - nowMs)}`
            : '-',
      ]),
    ),
  ];
  if (command === 'rotate') lines.push('', 'Rotation started: the new root is in every process\'s trust bundle now. Watch `weft status` (SDS column) and `weft ca status`.');
  io.out(lines.join('\n'));
  return 0;
}
