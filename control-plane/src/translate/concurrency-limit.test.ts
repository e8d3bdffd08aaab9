// Tests of the ConcurrencyLimit translation: a rule's limit rides in the route metadata of every Envoy route of the
// rule (one scope per rule), next to the non-idempotent retry opt-in, and the SDK decodes it back from the wire.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { protos, TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { decodeRouteConfiguration } from '../../../src/discovery/xds/resources/route-configuration.js';
import { ADAPTIVE_DEFAULTS } from '../../../src/discovery/xds/resources/concurrency-limit.js';
import { parseConfigText } from '../config/parse.js';
import { validateConfig } from '../config/validate.js';
import { meshConfig, routeYaml, serviceYaml } from './testdata/fixtures.js';
import { translate } from './translate.js';

const LIMIT = (name: string, spec: string) => `apiVersion: weft.dev/v1alpha1\nkind: ConcurrencyLimit\nmetadata: { name: ${name} }\nspec:\n${spec}---\n`;
const REF = (kind: string, name: string) => `{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ${kind}, name: ${name} } }`;

const CONFIG =
  serviceYaml('search', ['http:8080']) +
  LIMIT('ten', '  maxConcurrency: 10\n') +
  LIMIT('auto', '  adaptive: { maxConcurrency: 64, minRTT: { interval: 30s, buffer: 50 } }\n') +
  `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: search, annotations: { retry.weft.dev/non-idempotent: "1" } }
spec:
  parentRefs: [{ kind: Service, name: search }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /search } }, { path: { type: Exact, value: /find } }]
    backendRefs: [{ name: search, port: 8080 }]
    filters: [${REF('ConcurrencyLimit', 'ten')}]
  - matches: [{ path: { type: PathPrefix, value: /suggest } }]
    backendRefs: [{ name: search, port: 8080 }]
    retry: { codes: [503] }
    filters: [${REF('ConcurrencyLimit', 'auto')}]
  - backendRefs: [{ name: search, port: 8080 }]
---
`;

describe('translate: concurrency limits', () => {
  it('puts the rule\'s limit in every route of the rule, scoped to the rule, decoded back by the SDK from the wire', () => {
    const out = translate(meshConfig(CONFIG), []);
    const p = protos();
    const rc = p.fromAny(p.toAny(out[TYPE_URL.routeConfiguration].get('search')!)) as ProtoObject;
    const decoded = decodeRouteConfiguration(rc);
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.errors.join('\n'));
    const routes = decoded.value.virtualHosts[0]!.routes;
    const limitsOf = (prefix: string) => routes.filter((r) => r.name.startsWith(prefix)).map((r) => r.concurrencyLimit);
    const rule0 = limitsOf('HTTPRoute/search/rules/0/');
    assert.equal(rule0.length, 3, '/search (exact + prefix) and /find');
    for (const l of rule0) assert.deepEqual(l, { kind: 'fixed', scope: 'HTTPRoute/search/rules/0', maxConcurrency: 10 });
    const [rule1] = limitsOf('HTTPRoute/search/rules/1/');
    assert.deepEqual(rule1, { ...ADAPTIVE_DEFAULTS, kind: 'adaptive', scope: 'HTTPRoute/search/rules/1', maxConcurrency: 64, minRttIntervalMs: 30_000, bufferPercent: 50 });
    const suggest = routes.find((r) => r.name.startsWith('HTTPRoute/search/rules/1/'))!;
    assert.equal(suggest.action.kind === 'forward' && suggest.action.retry?.retryNonIdempotent, true, 'the retry opt-in shares the metadata');
    assert.deepEqual(limitsOf('HTTPRoute/search/rules/2/'), [undefined]);
  });

  it('refuses a limit that is neither or both kinds, a dangling reference, and two limits on one rule, naming each', () => {
    const check = (yaml: string): string => {
      const parsed = parseConfigText(yaml, 'limits.yaml');
      return [...parsed.errors, ...validateConfig(parsed.resources)].map((e) => `${e.resource ?? ''} ${e.field ?? ''}: ${e.message}`).join('\n');
    };
    assert.match(check(LIMIT('none', '  {}\n')), /ConcurrencyLimit\/none.*needs exactly one of maxConcurrency/);
    assert.match(check(LIMIT('both', '  maxConcurrency: 3\n  adaptive: {}\n')), /needs exactly one of maxConcurrency/);
    assert.match(check(LIMIT('order', '  adaptive: { maxConcurrency: 2, minRTT: { minConcurrency: 5 } }\n')), /minRTT\.minConcurrency: must not be above maxConcurrency \(2\)/);
    const svc = serviceYaml('s', ['http:80']);
    assert.match(
      check(svc + routeYaml('HTTPRoute', 'r', 's', `  - backendRefs: [{ name: s }]\n    filters: [${REF('ConcurrencyLimit', 'tne')}]\n`) + LIMIT('ten', '  maxConcurrency: 10\n')),
      /spec\.rules\[0\]\.filters\[0\]\.extensionRef\.name: no ConcurrencyLimit named "tne" in the configuration/,
    );
    assert.match(
      check(svc + routeYaml('HTTPRoute', 'r', 's', `  - backendRefs: [{ name: s }]\n    filters: [${REF('ConcurrencyLimit', 'a')}, ${REF('ConcurrencyLimit', 'b')}]\n`)),
      /at most one ConcurrencyLimit filter per rule/,
    );
  });
});
