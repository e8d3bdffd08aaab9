// Tests of validateConfig: each cross-resource or semantic mistake gives one precise error naming file, resource and field.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigResource } from '../model.js';
import { parseConfigText } from './parse.js';
import { checkRegex } from './regex.js';
import { validateConfig } from './validate.js';

const SERVICES = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: payments }
spec:
  ports: [{ name: http, port: 8080 }, { name: admin, port: 9000 }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ledger }
spec:
  ports: [{ name: http, port: 80 }]
`;

function route(body: string, name = 'r'): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
${body}`;
}

const GOOD_RULES = `  parentRefs: [{ kind: Service, name: payments }]
  rules:
  - backendRefs: [{ name: payments, port: 8080, weight: 1 }, { name: ledger, weight: 0 }]
`;

/** Parses each [file, text] (must be schema-valid) and returns the resources. */
function load(...files: Array<[string, string]>): ConfigResource[] {
  return files.flatMap(([file, text]) => {
    const { resources, errors } = parseConfigText(text, file);
    assert.deepEqual(errors, [], 'fixture must parse');
    return resources;
  });
}

function onlyError(...files: Array<[string, string]>) {
  const errors = validateConfig(load(...files));
  assert.equal(errors.length, 1, `expected one error, got ${JSON.stringify(errors, null, 2)}`);
  return errors[0]!;
}

describe('validateConfig', () => {
  it('accepts a consistent config (a weight-0 backend beside a weighted one is fine)', () => {
    assert.deepEqual(validateConfig(load(['svc.yaml', SERVICES], ['r.yaml', route(GOOD_RULES)])), []);
    assert.deepEqual(validateConfig([]), []);
  });

  it('reports a duplicate Kind/name and names both files', () => {
    const e = onlyError(['a.yaml', SERVICES], ['b.yaml', SERVICES.split('---')[1]!]);
    assert.deepEqual(e, {
      file: 'b.yaml',
      resource: 'Service/ledger',
      message: 'is defined in both a.yaml and b.yaml; keep one definition',
    });
  });

  it('reports a parentRef to an unknown Service, suggesting a close name', () => {
    const e = onlyError(['svc.yaml', SERVICES], ['r.yaml', route(GOOD_RULES.replace('name: payments }]', 'name: paymnts }]'))]);
    assert.deepEqual(e, {
      file: 'r.yaml',
      resource: 'HTTPRoute/r',
      field: 'spec.parentRefs[0].name',
      message: 'no Service named "paymnts" in the configuration (did you mean "payments"?)',
    });
  });

  it('reports a backendRef to an unknown Service', () => {
    const e = onlyError(['svc.yaml', SERVICES], ['r.yaml', route(GOOD_RULES.replace('name: ledger', 'name: inventory'))]);
    assert.deepEqual(e, {
      file: 'r.yaml',
      resource: 'HTTPRoute/r',
      field: 'spec.rules[0].backendRefs[1].name',
      message: 'no Service named "inventory" in the configuration',
    });
  });

  it('reports a backendRef port the Service does not declare', () => {
    const e = onlyError(['svc.yaml', SERVICES], ['r.yaml', route(GOOD_RULES.replace('port: 8080', 'port: 8081'))]);
    assert.deepEqual(e, {
      file: 'r.yaml',
      resource: 'HTTPRoute/r',
      field: 'spec.rules[0].backendRefs[0].port',
      message: 'Service "payments" declares no port 8081 (its ports: 8080, 9000)',
    });
  });

  it('reports a parentRef port the Service does not declare', () => {
    const e = onlyError(['svc.yaml', SERVICES], ['r.yaml', route(GOOD_RULES.replace('name: payments }]', 'name: payments, port: 1 }]'))]);
    assert.equal(e.field, 'spec.parentRefs[0].port');
    assert.equal(e.message, 'Service "payments" declares no port 1 (its ports: 8080, 9000)');
  });

  it('reports a rule whose weights are all zero', () => {
    const e = onlyError(['svc.yaml', SERVICES], ['r.yaml', route(GOOD_RULES.replace('weight: 1 }', 'weight: 0 }'))]);
    assert.deepEqual(e, {
      file: 'r.yaml',
      resource: 'HTTPRoute/r',
      field: 'spec.rules[0].backendRefs',
      message: 'every backendRef has weight 0, so the rule would send traffic nowhere; give at least one a weight above 0',
    });
  });

  it('reports a path regex that does not compile', () => {
    const rules = GOOD_RULES.replace('  - backendRefs', '  - matches: [{ path: { type: RegularExpression, value: "/v[0-9+" } }]\n    backendRefs');
    const e = onlyError(['svc.yaml', SERVICES], ['r.yaml', route(rules)]);
    assert.equal(e.field, 'spec.rules[0].matches[0].path.value');
    assert.match(e.message, /^is not usable RE2 .*: a character class that is never closed \(missing \]\) \(at offset 2\)$/);
  });

  it('reports header and query regexes RE2 cannot run, and repeated header names', () => {
    const rules = GOOD_RULES.replace(
      '  - backendRefs',
      `  - matches:
    - headers: [{ name: X-User, value: a }, { name: x-user, value: b }, { type: RegularExpression, name: x-b, value: "(?=a)a" }]
      queryParams: [{ type: RegularExpression, name: q, value: "(a)\\\\1" }]
    backendRefs`,
    );
    const errors = validateConfig(load(['svc.yaml', SERVICES], ['r.yaml', route(rules)]));
    assert.deepEqual(
      errors.map((e) => [e.field, e.message]),
      [
        ['spec.rules[0].matches[0].headers[1].name', '"x-user" repeats the header (names are case-insensitive) of entry 0; combine them into one condition'],
        ['spec.rules[0].matches[0].headers[2].value', 'is not usable RE2 (the regex syntax of Envoy and gRPC): a look-ahead (?=, which RE2 does not support (at offset 0)'],
        ['spec.rules[0].matches[0].queryParams[0].value', 'is not usable RE2 (the regex syntax of Envoy and gRPC): a back-reference (\\1), which RE2 does not support (at offset 3)'],
      ],
    );
  });

  it('checks GRPCRoute method regexes', () => {
    const grpc = grpcRegexRoute('pay\\\\.(v1|v2', 'Get.*');
    const e = onlyError(['svc.yaml', SERVICES], ['g.yaml', grpc]);
    assert.equal(e.resource, 'GRPCRoute/g');
    assert.equal(e.field, 'spec.rules[0].matches[0].method.service');
    assert.match(e.message, /^is not usable RE2 .*: a group that is never closed \(missing \)\) \(at offset 5\)$/);
  });

  it('checks the combined GRPCRoute method regex the SDK receives, not only its parts', () => {
    const grpc = grpcRegexRoute('(?i)pay', 'Get');
    const e = onlyError(['svc.yaml', SERVICES], ['g.yaml', grpc]);
    assert.equal(e.field, 'spec.rules[0].matches[0].method');
    assert.match(e.message, /^service and method combined as \/\(\?:\(\?i\)pay\)\/\(\?:Get\) is not usable RE2 .*\(\?i\) covers only part/);
  });

  it('reports repeated port names and numbers, and endpoints naming no port', () => {
    const svc = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: s }
spec:
  ports: [{ name: http, port: 80 }, { name: http, port: 81 }, { name: b, port: 80 }]
  endpoints: [{ address: 10.0.0.1, port: 1, portName: nope }, { address: 10.0.0.2, port: 1 }, { address: 10.0.0.2, port: 1, portName: http }]
`;
    const errors = validateConfig(load(['s.yaml', svc]));
    assert.deepEqual(
      errors.map((e) => [e.file, e.resource, e.field, e.message]),
      [
        ['s.yaml', 'Service/s', 'spec.ports[1].name', 'port name "http" is also used by ports[0]'],
        ['s.yaml', 'Service/s', 'spec.ports[2].port', 'port 80 is also declared by ports[0]'],
        ['s.yaml', 'Service/s', 'spec.endpoints[0].portName', 'the Service has no port named "nope" (ports: http, http, b)'],
        ['s.yaml', 'Service/s', 'spec.endpoints[2]', 'endpoint 10.0.0.2:1 is listed twice (also endpoints[1])'],
      ],
    );
  });
});

describe('checkRegex', () => {
  it('accepts RE2-compatible patterns and explains the rest', () => {
    assert.equal(checkRegex('/api/v[0-9]+/.*'), undefined);
    assert.equal(checkRegex('[(?=]x\\(?!'), undefined); // inside a class or escaped: not look-arounds
    assert.match(checkRegex('(?<!a)b')!, /look-behind/);
    assert.match(checkRegex('(?<n>a)\\k<n>')!, /named back-reference \(\\k<…>\).*at offset 7/);
    assert.match(checkRegex('a{2,1}')!, /the repetition \{2,1\}.*at offset 1/);
  });
});

/** A GRPCRoute `g` to payments whose one match is a RegularExpression method match (`service`, `method` as YAML text). */
function grpcRegexRoute(service: string, method: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g }
spec:
  parentRefs: [{ kind: Service, name: payments }]
  rules:
  - matches: [{ method: { type: RegularExpression, service: "${service}", method: "${method}" } }]
    backendRefs: [{ name: payments }]
`;
}
