// Tests the SDK's inbound Listener decoding: what it accepts from the wire, every refusal with the field at fault, and
// (over a real ADS stream) subscription by resolveInbound, NACK keeping the last good policy, and absence.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { FakeControlPlane, type FakeResource } from '../../testing/fake-control-plane.js';
import type { InboundState } from '../inbound-policy.js';
import { createXdsClient, type XdsClient } from './ads-client.js';
import { protos, TYPE_URL, type ProtoObject } from './protos.js';
import { decodeInboundListener } from './resources/inbound-listener.js';

const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } };
const ALL_ROUTE = { name: 'all', match: { prefix: '/' }, non_forwarding_action: {} };

function hcm(filters: ProtoObject[], routes: ProtoObject[] = [ALL_ROUTE]): ProtoObject {
  return {
    '@type': TYPE_URL.httpConnectionManager,
    stat_prefix: 'in',
    route_config: { name: 'in', virtual_hosts: [{ name: 'in', domains: ['*'], routes }] },
    http_filters: [...filters, ROUTER],
  };
}

function listener(name: string, h: ProtoObject, extra: ProtoObject = {}): FakeResource {
  return { '@type': TYPE_URL.listener, name, filter_chains: [{ name: 'plain', filters: [{ name: 'hcm', typed_config: h }] }], ...extra };
}

const rbac = (name: string, action: string, policies: Record<string, ProtoObject>): ProtoObject => ({
  name,
  typed_config: { '@type': TYPE_URL.rbac, rules: { action, policies } },
});
const DENY_POST = rbac('deny', 'DENY', { 'AuthorizationPolicy/no-post/rules/0': { permissions: [{ header: { name: ':method', string_match: { exact: 'POST' } } }], principals: [{ any: true }] } });

/** Encodes and decodes like the wire, then validates. */
function decode(resource: FakeResource) {
  return decodeInboundListener(protos().fromAny(protos().toAny(resource)));
}

function errorsOf(resource: FakeResource): string {
  const r = decode(resource);
  assert.equal(r.ok, false, 'expected a refusal');
  return r.ok ? '' : r.errors.join('\n');
}

describe('decodeInboundListener', () => {
  it('decodes chains, filters in order and routes with per-route rate limits', () => {
    const jwt = {
      name: 'jwt',
      is_optional: true,
      typed_config: {
        '@type': TYPE_URL.jwtAuthn,
        providers: { p: { issuer: 'me', local_jwks: { inline_string: '{"keys":[{"kty":"EC","crv":"P-256","x":"x","y":"y"}]}' }, payload_in_metadata: 'jwt_payload' } },
        rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'p' }, { allow_missing: {} }] } } }],
      },
    };
    const limit = { '@type': TYPE_URL.localRateLimit, stat_prefix: 'rl', token_bucket: { max_tokens: 5, tokens_per_fill: { value: 5 }, fill_interval: { seconds: 1 } }, filter_enabled: { default_value: { numerator: 100 } }, filter_enforced: { default_value: { numerator: 100 } } };
    const routes = [{ name: 'slow', match: { path: '/slow' }, non_forwarding_action: {}, typed_per_filter_config: { rl: { '@type': TYPE_URL.filterConfig, is_optional: true, config: limit } } }, ALL_ROUTE];
    const r = decode(listener('weft/inbound/payments', hcm([jwt, DENY_POST, { name: 'rl', is_optional: true, typed_config: { '@type': TYPE_URL.localRateLimit, stat_prefix: 'rl' } }], routes)));
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    const chain = r.value.policy.chains[0]!;
    assert.deepEqual(chain.filters.map((f) => `${f.kind}:${f.name}`), ['jwt-authn:jwt', 'rbac:deny', 'local-ratelimit:rl']);
    assert.equal(chain.filters[2]!.kind === 'local-ratelimit' && chain.filters[2]!.bucket, undefined, 'no default bucket: the filter is not enabled');
    assert.deepEqual(chain.virtualHosts[0]!.routes[0]!.rateLimits?.get('rl'), { maxTokens: 5, tokensPerFill: 5, fillIntervalMs: 1000 });
    assert.equal(chain.tlsOnly, false);
  });

  it('ignores unknown optional filters and RBAC without rules, and reads a TLS chain', () => {
    const r = decode(
      listener('weft/inbound/x', hcm([{ name: 'cors', is_optional: true, typed_config: { '@type': TYPE_URL.httpFault } }, { name: 'r', typed_config: { '@type': TYPE_URL.rbac } }]), {
        filter_chains: [{ name: 'tls', filter_chain_match: { transport_protocol: 'tls' }, filters: [{ name: 'hcm', typed_config: hcm([]) }] }],
      }),
    );
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    assert.equal(r.value.policy.chains[0]!.tlsOnly, true);
    assert.deepEqual(r.value.policy.chains[0]!.filters, []);
  });

  it('refuses what Weft could not enforce as Envoy would, naming the field', () => {
    const cases: [FakeResource, RegExp][] = [
      [{ '@type': TYPE_URL.listener, name: 'weft/inbound/x', api_listener: { api_listener: hcm([]) } }, /^api_listener: an inbound Listener is a server Listener/m],
      [listener('weft/inbound/x', hcm([rbac('r', 'LOG', {})])), /http_filters\[0\]\.typed_config\.rules\.action: 'LOG' is not supported/],
      [
        listener('weft/inbound/x', hcm([rbac('r', 'DENY', { p: { permissions: [{ any: true }], principals: [{ any: true }], condition: { ident_expr: { name: 'x' } } } })])),
        /policies\['p'\]\.condition: CEL conditions are not supported/,
      ],
      [
        listener('weft/inbound/x', hcm([rbac('r', 'DENY', { p: { permissions: [{ any: true }], principals: [{ remote_ip: { address_prefix: '10.0.0.0', prefix_len: { value: 8 } } }] } })])),
        /policies\['p'\]\.principals\[0\]\.remote_ip: not supported by Weft's RBAC/,
      ],
      [
        listener('weft/inbound/x', hcm([rbac('r', 'ALLOW', { p: { permissions: [{ any: true }], principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'a' }], value: { present_match: true } } }] } })])),
        /metadata\.filter: 'istio_authn' is not supported/,
      ],
      [listener('weft/inbound/x', hcm([{ name: 'ext', typed_config: { '@type': TYPE_URL.httpFault } }])), /filter 'ext' of type '.*HTTPFault' is not supported and not is_optional/],
      [
        listener('weft/inbound/x', hcm([{ name: 'rl', is_optional: true, typed_config: { '@type': TYPE_URL.localRateLimit, stat_prefix: 'rl', filter_enabled: { default_value: { numerator: 50 } }, filter_enforced: { default_value: { numerator: 50 } } } }])),
        /filter_enabled: only 0 % or 100 % are supported \(got 50 %\)/,
      ],
      [
        listener('weft/inbound/x', hcm([{ name: 'jwt', is_optional: true, typed_config: { '@type': TYPE_URL.jwtAuthn, providers: {}, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'nobody' } }] } }])),
        /rules\[0\]\.requires\.provider_name: no provider named 'nobody'/,
      ],
      [
        listener('weft/inbound/x', hcm([{ name: 'jwt', is_optional: true, typed_config: { '@type': TYPE_URL.jwtAuthn, providers: { p: { issuer: 'i', local_jwks: { inline_string: '{"keys":[{"kty":"EC","d":"private"}]}' } } } } }])),
        /providers\['p'\]\.local_jwks: keys\[0\] is a private key/,
      ],
      [
        listener('weft/inbound/x', hcm([{ name: 'jwt', is_optional: true, typed_config: { '@type': TYPE_URL.jwtAuthn, providers: { p: { issuer: 'i', local_jwks: { inline_string: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}' } } } } }])),
        /providers\['p'\]\.local_jwks: keys\[0\] is a symmetric key \(kty "oct"\): its secret would be sent to every workload; HMAC \(HS\*\) tokens are not accepted/,
      ],
      [listener('weft/inbound/x', hcm([], [{ name: 'fwd', match: { prefix: '/' }, route: { cluster: 'c' } }])), /routes\[0\]: action 'route' is not supported on a server/],
      [
        listener('weft/inbound/x', hcm([DENY_POST], [{ ...ALL_ROUTE, typed_per_filter_config: { deny: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute' } } }])),
        /typed_per_filter_config\['deny'\]: per-route RBAC overrides are not supported/,
      ],
      [listener('weft/inbound/x', hcm([DENY_POST]), { filter_chains: [] }), /filter_chains: empty/],
    ];
    for (const [resource, why] of cases) assert.match(errorsOf(resource), why);
  });
});

async function setup(t: TestContext): Promise<{ cp: FakeControlPlane; client: XdsClient }> {
  const cp = await FakeControlPlane.start();
  const client = createXdsClient({ server: cp.address, node: { id: 'payments-1', cluster: 'payments' }, initialBackoffMs: 20, maxBackoffMs: 100 });
  t.after(async () => {
    await client.close();
    await cp.close();
  });
  return { cp, client };
}

/** The client's resolveInbound (always there on the built-in xDS client). */
function resolveInbound(client: XdsClient, service: string): Promise<InboundState> {
  assert.ok(client.resolveInbound);
  return client.resolveInbound(service, 5000);
}

function waitForInbound(client: XdsClient, predicate: (s: InboundState | undefined) => boolean, timeoutMs = 5000): Promise<InboundState | undefined> {
  const now = () => client.state.get().inbound?.get('payments');
  if (predicate(now())) return Promise.resolve(now());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`inbound state condition not met within ${timeoutMs} ms (now ${JSON.stringify(now()?.status)})`));
    }, timeoutMs);
    const sub = client.state.onChange(() => {
      if (!predicate(now())) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(now());
    });
  });
}

describe('resolveInbound over ADS', { timeout: 20_000 }, () => {
  it('subscribes weft/inbound/<service>, NACKs a bad update keeping the last good policy, and reports absence', async (t) => {
    const { cp, client } = await setup(t);
    cp.setResources(TYPE_URL.listener, [listener('weft/inbound/payments', hcm([DENY_POST]))]);
    const first = await resolveInbound(client, 'payments');
    assert.equal(first.status, 'resolved');
    const policy = first.status === 'resolved' ? first.policy : undefined;
    assert.deepEqual(cp.requests.find((r) => r.type_url === TYPE_URL.listener)?.resource_names, ['weft/inbound/payments']);
    assert.deepEqual(client.status().types.find((x) => x.typeUrl === TYPE_URL.listener)?.subscribed, ['weft/inbound/payments']);

    cp.setResources(TYPE_URL.listener, [listener('weft/inbound/payments', hcm([rbac('r', 'LOG', {})]))]);
    const nack = await cp.waitForRequest((r) => r.type_url === TYPE_URL.listener && r.error_detail !== null);
    assert.match(nack.error_detail!.message, /resource 'weft\/inbound\/payments': .*'LOG' is not supported/);
    const kept = client.state.get().inbound?.get('payments');
    assert.equal(kept?.status === 'resolved' && kept.policy, policy, 'the last good policy keeps serving');

    cp.setResources(TYPE_URL.listener, []);
    assert.equal((await waitForInbound(client, (s) => s?.status === 'absent'))?.status, 'absent');
  });

  it('answers error (with the reason) when the first inbound Listener is refused', async (t) => {
    const { cp, client } = await setup(t);
    cp.setResources(TYPE_URL.listener, [listener('weft/inbound/payments', hcm([], [{ name: 'x', match: { prefix: '/' } }]))]);
    const state = await resolveInbound(client, 'payments');
    assert.equal(state.status, 'error');
    assert.match(state.status === 'error' ? state.message : '', /inbound Listener refused: .*no action set|action 'none'/);
  });
});
