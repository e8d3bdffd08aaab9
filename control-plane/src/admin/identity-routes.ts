// The admin API's identity endpoints: bootstrap tokens, certificates for file-based users, and the CA's roots.
import { isMeshError } from '../../../src/core/errors.js';
import type { Logger } from '../../../src/core/logger.js';
import { parseCsr } from '../../../src/identity/csr.js';
import { DEFAULT_NAMESPACE, formatSpiffeId } from '../../../src/identity/spiffe.js';
import type { BootstrapTokens } from '../auth/bootstrap-tokens.js';
import type { CertificateAuthority } from '../ca/authority.js';
import { parseGatewayDurationMs } from '../config/duration.js';

/** What the identity endpoints use. */
export interface AdminIdentityDeps {
  readonly ca: CertificateAuthority;
  readonly tokens: BootstrapTokens;
}

/** An admin reply: HTTP status and JSON body. */
export interface IdentityReply {
  readonly status: number;
  readonly body: unknown;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Answers `POST /v1/tokens`, `POST /v1/certificates`, `GET /v1/ca` and `POST /v1/ca/rotate` (see docs/cli.md), or
 * undefined for any other path. `readJson` reads the request body as JSON (it throws the admin API's own errors).
 * Never throws for bad input: every refusal is a 4xx reply whose `error` names the field.
 */
export async function identityRoute(
  deps: AdminIdentityDeps | undefined,
  method: string,
  route: readonly string[],
  readJson: () => Promise<unknown>,
  logger: Logger,
): Promise<IdentityReply | undefined> {
  const [head, sub, extra] = route;
  if (head !== 'tokens' && head !== 'certificates' && head !== 'ca') return undefined;
  if (extra !== undefined || (head !== 'ca' && sub !== undefined) || (head === 'ca' && sub !== undefined && sub !== 'rotate')) return undefined;
  if (deps === undefined) return { status: 501, body: { error: 'this control plane runs without a CA' } };
  const wantMethod = head === 'ca' && sub === undefined ? 'GET' : 'POST';
  if (method !== wantMethod) return { status: 405, body: { error: `${method} not allowed on /v1/${route.join('/')}; use ${wantMethod}` } };
  const bad = (error: string): IdentityReply => ({ status: 400, body: { error } });
  try {
    if (head === 'ca' && sub === undefined) return { status: 200, body: deps.ca.status() };
    const body = await readJson();
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('the body must be a JSON object');
    const o = body as Record<string, unknown>;

    if (head === 'ca') {
      const after = o['activateAfter'];
      const activateAfterMs = after === undefined ? undefined : typeof after === 'string' ? parseDurationMs(after) : undefined;
      if (after !== undefined && activateAfterMs === undefined) return bad(`activateAfter: '${String(after)}' is not a duration like 5m or 30s`);
      const status = await deps.ca.rotate(activateAfterMs === undefined ? {} : { activateAfterMs });
      logger.info('admin: CA root rotation started', { activateAfterMs: activateAfterMs ?? 'default' });
      return { status: 200, body: status };
    }

    const service = o['service'];
    const namespace = o['namespace'] ?? DEFAULT_NAMESPACE;
    if (typeof service !== 'string' || !DNS_LABEL.test(service)) return bad(`service: '${String(service)}' is not a service name (a DNS label)`);
    if (typeof namespace !== 'string' || !DNS_LABEL.test(namespace)) return bad(`namespace: '${String(namespace)}' is not a DNS label`);

    if (head === 'tokens') {
      const ttl = o['ttl'];
      const ttlMs = ttl === undefined ? undefined : typeof ttl === 'string' ? parseDurationMs(ttl) : undefined;
      if (ttl !== undefined && ttlMs === undefined) return bad(`ttl: '${String(ttl)}' is not a duration like 1h, 30m or 7d`);
      const uses = o['uses'];
      if (uses !== undefined && typeof uses !== 'number') return bad(`uses: must be a number, got ${JSON.stringify(uses)}`);
      const issued = await deps.tokens.create({ service, namespace, ...(ttlMs === undefined ? {} : { ttlMs }), ...(uses === undefined ? {} : { uses }) });
      logger.info('admin: bootstrap token created', { spiffeId: issued.spiffeId, jti: issued.jti, uses: issued.uses, expiresAt: new Date(issued.expiresAtMs).toISOString() });
      return { status: 200, body: { ...issued, expiresAt: new Date(issued.expiresAtMs).toISOString() } };
    }

    // certificates: the operator asks for a certificate for a key generated on its own machine (weft cert issue).
    const csr = parseCsr(typeof o['csr'] === 'string' ? o['csr'] : '');
    if (!csr.ok) return bad(csr.error);
    const spiffeId = formatSpiffeId({ trustDomain: deps.ca.trustDomain, namespace, service });
    const other = csr.value.uriSans.filter((u) => u !== spiffeId);
    if (other.length > 0) return bad(`csr: asks for ${other.join(', ')}, not ${spiffeId}`);
    const issued = deps.ca.issue(csr.value.publicKey, spiffeId);
    logger.info('admin: certificate issued to the operator', { spiffeId, serial: issued.serial, notAfter: new Date(issued.notAfterMs).toISOString() });
    return {
      status: 200,
      body: { spiffeId, certificateChain: issued.chainPem, trustBundle: deps.ca.trustBundlePem(), expiresAtMs: issued.notAfterMs, serial: issued.serial },
    };
  } catch (e: unknown) {
    if (isMeshError(e)) return { status: e.code === 'WEFT_ERR_INVALID_ARG' ? 400 : e.code === 'WEFT_ERR_STORE_UNAVAILABLE' ? 503 : 409, body: { error: e.message } };
    throw e;
  }
}

/** A Gateway API duration (`90s`, `1h30m`) or a whole number of days (`7d`), in ms. */
export function parseDurationMs(text: string): number | undefined {
  const days = /^([0-9]{1,4})d$/.exec(text);
  if (days) return Number(days[1]) * 86_400_000;
  return parseGatewayDurationMs(text);
}
