// Tests of the inbound policy kinds (AuthorizationPolicy, RequestAuthentication, LocalRateLimit): defaults, every
// refusal naming file, resource and field, and the cross-resource rules (targetRef, one LocalRateLimit per target).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatConfigError, type ConfigError } from '../model.js';
import { parseConfigText } from './parse.js';
import { validateConfig } from './validate.js';
import { resolveKind } from './kinds.js';

const SVC = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: payments }
spec:
  ports: [{ name: http, port: 8080 }]
`;

const doc = (kind: string, name: string, spec: string) => `apiVersion: weft.dev/v1alpha1
kind: ${kind}
metadata: { name: ${name} }
spec:
${spec}`;

function check(...docs: string[]): string[] {
  const { resources, errors } = parseConfigText(docs.join('---\n'), 'p.yaml');
  const all: ConfigError[] = errors.length > 0 ? errors : validateConfig(resources);
  return all.map(formatConfigError);
}

function specOf(text: string): unknown {
  const { resources, errors } = parseConfigText(text, 'p.yaml');
  assert.deepEqual(errors, []);
  return resources[0]!.spec;
}

describe('AuthorizationPolicy kind', () => {
  it('accepts an Istio-shaped policy, defaulting action to ALLOW and empty parts to []', () => {
    const spec = specOf(
      doc(
        'AuthorizationPolicy',
        'charge',
        `  targetRef: { kind: Service, name: payments }
  rules:
  - from: [{ source: { principals: ["weft.local/ns/default/sa/checkout"], notNamespaces: [test] } }]
    to: [{ operation: { methods: [POST], paths: ["/charge", "/refund/*"] } }]
    when: [{ key: "request.headers[X-Tenant]", values: ["acme"] }, { key: "request.auth.claims[realm.role]", notValues: ["guest"] }]
  - {}
`,
      ),
    );
    assert.deepEqual(spec, {
      targetRef: { group: '', kind: 'Service', name: 'payments' },
      action: 'ALLOW',
      rules: [
        {
          from: [{ source: { principals: ['weft.local/ns/default/sa/checkout'], notNamespaces: ['test'] } }],
          to: [{ operation: { methods: ['POST'], paths: ['/charge', '/refund/*'] } }],
          when: [
            { key: 'request.headers[X-Tenant]', values: ['acme'] },
            { key: 'request.auth.claims[realm.role]', notValues: ['guest'] },
          ],
        },
        { from: [], to: [], when: [] },
      ],
    });
    assert.deepEqual(specOf(doc('AuthorizationPolicy', 'nothing', '  action: ALLOW\n')), { action: 'ALLOW', rules: [] });
  });

  it('refuses mistakes with the field at fault', () => {
    const errs = check(
      doc('AuthorizationPolicy', 'a', '  action: AUDIT\n'),
      doc('AuthorizationPolicy', 'b', '  rules: [{ to: [{ operation: { methods: [post] } }] }]\n'),
      doc('AuthorizationPolicy', 'c', '  rules: [{ to: [{ operation: { paths: ["/a*b"] } }] }]\n'),
      doc('AuthorizationPolicy', 'd', '  rules: [{ from: [{ source: {} }] }]\n'),
      doc('AuthorizationPolicy', 'e', '  rules: [{ when: [{ key: "source.ip", values: ["1.2.3.4"] }] }]\n'),
      doc('AuthorizationPolicy', 'f', '  rules: [{ when: [{ key: "request.headers[x]" }] }]\n'),
      doc('AuthorizationPolicy', 'g', '  rules: [{ from: [{ source: { requestPrincipals: ["alice"] } }] }]\n'),
      doc('AuthorizationPolicy', 'h', '  rules: [{ from: [{ source: { ipBlocks: ["1.2.3.4"] } }] }]\n'),
    );
    assert.equal(errs.length, 8, errs.join('\n'));
    assert.match(errs[0]!, /^p\.yaml: AuthorizationPolicy\/a: spec\.action: must be ALLOW or DENY/);
    assert.match(errs[1]!, /AuthorizationPolicy\/b: spec\.rules\[0\]\.to\[0\]\.operation\.methods\[0\]: must be an upper-case HTTP method/);
    assert.match(errs[2]!, /AuthorizationPolicy\/c: spec\.rules\[0\]\.to\[0\]\.operation\.paths\[0\]: a path may have one "\*", at its start or end/);
    assert.match(errs[3]!, /AuthorizationPolicy\/d: spec\.rules\[0\]\.from\[0\]\.source: a source needs at least one field/);
    assert.match(errs[4]!, /AuthorizationPolicy\/e: spec\.rules\[0\]\.when\[0\]\.key: "source\.ip" is not a condition Weft supports/);
    assert.match(errs[5]!, /AuthorizationPolicy\/f: spec\.rules\[0\]\.when\[0\]: needs values, notValues, or both/);
    assert.match(errs[6]!, /AuthorizationPolicy\/g: spec\.rules\[0\]\.from\[0\]\.source\.requestPrincipals: a request principal is "<issuer>\/<subject>"/);
    assert.match(errs[7]!, /AuthorizationPolicy\/h: spec\.rules\[0\]\.from\[0\]\.source\.ipBlocks: unknown field "ipBlocks"/);
  });
});

describe('RequestAuthentication kind', () => {
  it('accepts a remote or inline JWK Set and fills in the defaults', () => {
    const spec = specOf(doc('RequestAuthentication', 'jwt', '  jwtRules: [{ issuer: "https://issuer.example", jwksUri: "https://issuer.example/jwks" }]\n'));
    assert.deepEqual(spec, {
      jwtRules: [
        {
          issuer: 'https://issuer.example',
          jwksUri: 'https://issuer.example/jwks',
          audiences: [],
          fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
          forwardOriginalToken: false,
          clockSkew: '60s',
          timeout: '5s',
          cacheDuration: '10m',
        },
      ],
    });
    const inline = specOf(
      doc('RequestAuthentication', 'inline', `  jwtRules: [{ issuer: me, jwks: '{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"}]}', fromHeaders: [{ name: X-Token }] }]\n`),
    ) as { jwtRules: { jwks: unknown; fromHeaders: unknown }[] };
    assert.deepEqual(inline.jwtRules[0]!.jwks, { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' }] });
    assert.deepEqual(inline.jwtRules[0]!.fromHeaders, [{ name: 'x-token', prefix: '' }]);
  });

  it('refuses a rule without keys or with both, private keys, plain http off loopback, and bad durations', () => {
    const errs = check(
      doc('RequestAuthentication', 'a', '  jwtRules: [{ issuer: me }]\n'),
      doc('RequestAuthentication', 'b', '  jwtRules: [{ issuer: me, jwks: \'{"keys":[{"kty":"EC","d":"secret"}]}\' }]\n'),
      doc('RequestAuthentication', 'c', '  jwtRules: [{ issuer: me, jwksUri: "http://keys.example/jwks" }]\n'),
      doc('RequestAuthentication', 'd', '  jwtRules: [{ issuer: me, jwksUri: "https://k/jwks", clockSkew: 1h }]\n'),
      doc('RequestAuthentication', 'e', '  jwtRules: []\n'),
      doc('RequestAuthentication', 'f', '  jwtRules: [{ issuer: me, jwks: { keys: [{ kty: oct, alg: HS256, k: c2VjcmV0 }] } }]\n'),
      doc('RequestAuthentication', 'g', '  jwtRules: [{ issuer: me, jwks: \'{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"},{"kty":"RSA","alg":"HS512","n":"x","e":"AQAB"}]}\' }]\n'),
    );
    assert.equal(errs.length, 7, errs.join('\n'));
    // A shared secret inline would be pushed to every workload and shown by weft get.
    assert.match(errs[5]!, /^p\.yaml.*RequestAuthentication\/f: spec\.jwtRules\[0\]\.jwks: is not a usable JWK Set: keys\[0\] is a symmetric key \(kty "oct", alg "HS256"\): its secret would be sent to every workload/);
    assert.match(errs[6]!, /RequestAuthentication\/g: spec\.jwtRules\[0\]\.jwks: is not a usable JWK Set: keys\[1\] is a symmetric key \(kty "RSA", alg "HS512"\)/);
    assert.match(errs[0]!, /RequestAuthentication\/a: spec\.jwtRules\[0\]: needs exactly one of jwksUri \(fetched\) and jwks/);
    assert.match(errs[1]!, /RequestAuthentication\/b: spec\.jwtRules\[0\]\.jwks: is not a usable JWK Set: keys\[0\] is a private key/);
    assert.match(errs[2]!, /RequestAuthentication\/c: spec\.jwtRules\[0\]\.jwksUri: must be https/);
    assert.match(errs[3]!, /RequestAuthentication\/d: spec\.jwtRules\[0\]\.clockSkew: must be at most 5m/);
    assert.match(errs[4]!, /RequestAuthentication\/e: spec\.jwtRules: needs at least one jwtRule/);
  });
});

describe('LocalRateLimit kind', () => {
  it('accepts a default bucket and per-route limits; tokensPerFill defaults to maxTokens', () => {
    const spec = specOf(
      doc(
        'LocalRateLimit',
        'search',
        `  tokenBucket: { maxTokens: 1000, fillInterval: 1s }
  routes:
  - match: { path: { value: /search }, method: GET }
    tokenBucket: { maxTokens: 100, tokensPerFill: 10, fillInterval: 100ms }
`,
      ),
    );
    assert.deepEqual(spec, {
      tokenBucket: { maxTokens: 1000, tokensPerFill: 1000, fillInterval: '1s' },
      routes: [{ match: { path: { type: 'PathPrefix', value: '/search' }, method: 'GET' }, tokenBucket: { maxTokens: 100, tokensPerFill: 10, fillInterval: '100ms' } }],
    });
  });

  it('refuses an empty limit, a fill interval under 50ms and a second limit for the same target', () => {
    const errs = check(
      SVC,
      doc('LocalRateLimit', 'a', '  targetRef: { kind: Service, name: payments }\n'),
      doc('LocalRateLimit', 'b', '  tokenBucket: { maxTokens: 0, fillInterval: 10ms }\n'),
    );
    assert.equal(errs.length, 3, errs.join('\n'));
    assert.match(errs[0]!, /LocalRateLimit\/a: spec: needs a tokenBucket, routes, or both/);
    assert.match(errs[1]!, /LocalRateLimit\/b: spec\.tokenBucket\.maxTokens: must be at least 1/);
    assert.match(errs[2]!, /LocalRateLimit\/b: spec\.tokenBucket\.fillInterval: must be at least 50ms/);
    const twice = check(
      SVC,
      doc('LocalRateLimit', 'one', '  targetRef: { kind: Service, name: payments }\n  tokenBucket: { maxTokens: 1, fillInterval: 1s }\n'),
      doc('LocalRateLimit', 'two', '  targetRef: { kind: Service, name: payments }\n  tokenBucket: { maxTokens: 2, fillInterval: 1s }\n'),
      doc('LocalRateLimit', 'mesh1', '  tokenBucket: { maxTokens: 1, fillInterval: 1s }\n'),
      doc('LocalRateLimit', 'mesh2', '  tokenBucket: { maxTokens: 1, fillInterval: 1s }\n'),
    );
    assert.deepEqual(twice, [
      'p.yaml: LocalRateLimit/two: spec.targetRef.name: Service "payments" already has LocalRateLimit/one; a Service takes one LocalRateLimit (merge them)',
      'p.yaml: LocalRateLimit/mesh2: LocalRateLimit/mesh1 already applies to every workload; the mesh takes one LocalRateLimit without targetRef (merge them)',
    ]);
  });
});

describe('inbound policy references', () => {
  it('a targetRef must name a Service that exists (with a suggestion)', () => {
    for (const kind of ['AuthorizationPolicy', 'RequestAuthentication', 'LocalRateLimit']) {
      const body =
        kind === 'AuthorizationPolicy'
          ? '  action: DENY\n'
          : kind === 'RequestAuthentication'
            ? '  jwtRules: [{ issuer: me, jwksUri: "https://k/jwks" }]\n'
            : '  tokenBucket: { maxTokens: 1, fillInterval: 1s }\n';
      assert.deepEqual(check(SVC, doc(kind, 'x', `  targetRef: { kind: Service, name: paymnts }\n${body}`)), [
        `p.yaml: ${kind}/x: spec.targetRef.name: no Service named "paymnts" in the configuration (did you mean "payments"?); leave targetRef out to apply it to every workload`,
      ]);
      assert.deepEqual(check(SVC, doc(kind, 'x', `  targetRef: { kind: Service, name: payments }\n${body}`)), []);
    }
  });

  it('kinds resolve from their CLI aliases', () => {
    assert.equal(resolveKind('authz'), 'AuthorizationPolicy');
    assert.equal(resolveKind('requestauthentications'), 'RequestAuthentication');
    assert.equal(resolveKind('ratelimit'), 'LocalRateLimit');
  });
});
