// Translates RequestAuthentications into an Envoy jwt_authn filter config: one provider per jwtRule, and one rule that
// accepts a request without a token but refuses one whose token no provider accepts (Istio's semantics).
import { parseGatewayDurationMs } from '../config/duration.js';
import type { RequestAuthenticationResource } from '../config/mesh-config.js';
import { TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { JWT_PAYLOAD_KEY } from './inbound-rbac.js';
import { durationFromMs } from './names.js';

/** A jwt_authn provider name: `RequestAuthentication/<name>/jwtRules/<i>`. */
export function jwtProviderName(resource: string, rule: number): string {
  return `RequestAuthentication/${resource}/jwtRules/${rule}`;
}

/**
 * The JwtAuthentication (`'@type'` JwtAuthentication) for `resources`, or undefined when there are none. Every
 * provider writes its verified payload to metadata key JWT_PAYLOAD_KEY (RBAC `requestPrincipals` and claim conditions
 * read it); remote keys name a pseudo-cluster `jwks|<host:port>` (Envoy needs one; Weft's SDK fetches the URI itself).
 * Pure.
 */
export function buildJwtAuthnConfig(resources: readonly RequestAuthenticationResource[]): ProtoObject | undefined {
  const providers: Record<string, ProtoObject> = {};
  for (const r of resources) {
    r.spec.jwtRules.forEach((rule, i) => {
      const jwks =
        rule.jwksUri !== undefined
          ? {
              remote_jwks: {
                http_uri: { uri: rule.jwksUri, cluster: `jwks|${new URL(rule.jwksUri).host}`, timeout: durationFromMs(parseGatewayDurationMs(rule.timeout)!) },
                cache_duration: durationFromMs(parseGatewayDurationMs(rule.cacheDuration)!),
              },
            }
          : { local_jwks: { inline_string: JSON.stringify(rule.jwks) } };
      providers[jwtProviderName(r.metadata.name, i)] = {
        issuer: rule.issuer,
        audiences: [...rule.audiences],
        ...jwks,
        from_headers: rule.fromHeaders.map((h) => ({ name: h.name, value_prefix: h.prefix })),
        forward: rule.forwardOriginalToken,
        payload_in_metadata: JWT_PAYLOAD_KEY,
        clock_skew_seconds: Math.round(parseGatewayDurationMs(rule.clockSkew)! / 1000),
      };
    });
  }
  const names = Object.keys(providers);
  if (names.length === 0) return undefined;
  return {
    '@type': TYPE_URL.jwtAuthn,
    providers,
    rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [...names.map((provider_name) => ({ provider_name })), { allow_missing: {} }] } } }],
  };
}
