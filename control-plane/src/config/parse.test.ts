// Tests of parseConfigText: a valid multi-document file with defaults applied, and one precise error per mistake.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from './parse.js';
import { parseGatewayDurationMs } from './duration.js';
import { resolveKind } from './kinds.js';

const SERVICE = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: payments, labels: { team: pay }, annotations: { note: kept-out } }
spec:
  ports:
  - { name: http, port: 8080 }
  - { name: grpc, port: 9090, protocol: GRPC }
  endpoints:
  - { address: 10.0.0.1, port: 80, locality: { zone: z1 } }
  - { address: "::1", port: 81, portName: grpc, weight: 5 }
`;

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: split }
spec:
  parentRefs: [{ group: '', kind: Service, name: payments, port: 8080 }]
  rules:
  - matches:
    - path: { type: Exact, value: /charge }
      method: POST
      headers: [{ name: x-canary, value: "1" }]
      queryParams: [{ type: RegularExpression, name: v, value: "[0-9]+" }]
    backendRefs: [{ name: payments, port: 8080, weight: 90 }, { name: payments, port: 9090, weight: 10 }]
    timeouts: { request: 1m30s }
  - backendRefs: [{ name: payments }]
`;

const GRPC_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: rpc }
spec:
  parentRefs: [{ kind: Service, name: payments }]
  rules:
  - matches: [{ method: { service: pay.v1.Payments, method: Charge } }]
    backendRefs: [{ name: payments, port: 9090 }]
    timeouts: { request: 2s }
  - backendRefs: [{ name: payments }]
`;

/** Parses one document and returns its only error (fails if there is not exactly one). */
function onlyError(text: string, file = 'mesh.yaml') {
  const { resources, errors } = parseConfigText(text, file);
  assert.equal(errors.length, 1, `expected one error, got ${JSON.stringify(errors, null, 2)}`);
  assert.equal(resources.length, 0);
  return errors[0]!;
}

describe('parseConfigText', () => {
  it('parses a valid multi-document file and applies the Gateway API defaults', () => {
    const { resources, errors } = parseConfigText(`${SERVICE}---\n${ROUTE}---\n${GRPC_ROUTE}---\n`, 'mesh.yaml');
    assert.deepEqual(errors, []);
    assert.deepEqual(
      resources.map((r) => `${r.kind}/${r.metadata.name}@${r.source}`),
      ['Service/payments@mesh.yaml', 'HTTPRoute/split@mesh.yaml', 'GRPCRoute/rpc@mesh.yaml'],
    );
    const [svc, http, grpc] = resources as [typeof resources[0], typeof resources[0], typeof resources[0]];
    assert.deepEqual(svc.metadata, { name: 'payments', labels: { team: 'pay' }, annotations: { note: 'kept-out' } }); // other fields are dropped
    assert.deepEqual(svc.spec, {
      ports: [
        { name: 'http', port: 8080, protocol: 'HTTP' },
        { name: 'grpc', port: 9090, protocol: 'GRPC' },
      ],
      endpoints: [
        { address: '10.0.0.1', port: 80, weight: 1, locality: { region: '', zone: 'z1', subZone: '' } },
        { address: '::1', port: 81, portName: 'grpc', weight: 5, locality: { region: '', zone: '', subZone: '' } },
      ],
    });
    assert.deepEqual(http.spec, {
      parentRefs: [{ group: '', kind: 'Service', name: 'payments', port: 8080 }],
      rules: [
        {
          matches: [
            {
              path: { type: 'Exact', value: '/charge' },
              method: 'POST',
              headers: [{ type: 'Exact', name: 'x-canary', value: '1' }],
              queryParams: [{ type: 'RegularExpression', name: 'v', value: '[0-9]+' }],
            },
          ],
          backendRefs: [
            { group: '', kind: 'Service', name: 'payments', port: 8080, weight: 90 },
            { group: '', kind: 'Service', name: 'payments', port: 9090, weight: 10 },
          ],
          timeouts: { request: '1m30s' },
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
          backendRefs: [{ group: '', kind: 'Service', name: 'payments', weight: 1 }],
        },
      ],
    });
    assert.deepEqual(grpc.spec, {
      parentRefs: [{ group: '', kind: 'Service', name: 'payments' }],
      rules: [
        {
          matches: [{ method: { type: 'Exact', service: 'pay.v1.Payments', method: 'Charge' }, headers: [] }],
          backendRefs: [{ group: '', kind: 'Service', name: 'payments', port: 9090, weight: 1 }],
          timeouts: { request: '2s' },
        },
        { matches: [{ headers: [] }], backendRefs: [{ group: '', kind: 'Service', name: 'payments', weight: 1 }] },
      ],
    });
  });

  it('skips empty documents and returns nothing for an empty text', () => {
    assert.deepEqual(parseConfigText('', 'a.yaml'), { resources: [], errors: [] });
    assert.equal(parseConfigText(`---\n# just a comment\n---\n${SERVICE}---\n`, 'a.yaml').resources.length, 1);
  });

  it('names the line of a YAML syntax error', () => {
    const { resources, errors } = parseConfigText(`${SERVICE}---\nkind: Service\nmetadata: { name: x\n`, 'mesh.yaml');
    assert.equal(resources.length, 1); // the good document still parses; the result is refused as a whole by callers
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.file, 'mesh.yaml');
    assert.match(errors[0]!.message, /^YAML syntax error: .* at line 1[345], column \d+$/);
  });

  it('refuses duplicate keys in a mapping (a YAML error, not a silent override)', () => {
    const e = onlyError('kind: Service\nkind: HTTPRoute\n');
    assert.match(e.message, /^YAML syntax error: Map keys must be unique at line 2, column 1$/);
  });

  it('names the kinds Weft knows for an unknown kind', () => {
    const e = onlyError('apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: gw }\nspec: {}\n');
    assert.deepEqual(e, {
      file: 'mesh.yaml',
      resource: 'Gateway/gw',
      field: 'kind',
      message:
        '"Gateway" is not a kind Weft knows; Weft knows Service (weft.dev/v1alpha1), HTTPRoute (gateway.networking.k8s.io/v1), GRPCRoute (gateway.networking.k8s.io/v1), FaultInjection (weft.dev/v1alpha1), ConcurrencyLimit (weft.dev/v1alpha1), DestinationPolicy (weft.dev/v1alpha1), AuthorizationPolicy (weft.dev/v1alpha1), RequestAuthentication (weft.dev/v1alpha1), LocalRateLimit (weft.dev/v1alpha1), PeerAuthentication (weft.dev/v1alpha1), Telemetry (weft.dev/v1alpha1)',
    });
  });

  it('refuses the wrong apiVersion for a known kind', () => {
    const e = onlyError(SERVICE.replace('weft.dev/v1alpha1', 'v1'));
    assert.deepEqual(e, {
      file: 'mesh.yaml',
      resource: 'Service/payments',
      field: 'apiVersion',
      message: 'must be weft.dev/v1alpha1 for kind Service (got "v1")',
    });
  });

  it('refuses an unknown field and suggests the closest one', () => {
    const e = onlyError(ROUTE.replace('  - backendRefs: [{ name: payments }]', '  - backendRef: [{ name: payments }]\n    backendRefs: [{ name: payments }]'));
    assert.deepEqual(e, {
      file: 'mesh.yaml',
      resource: 'HTTPRoute/split',
      field: 'spec.rules[1].backendRef',
      message: 'unknown field "backendRef" (did you mean "backendRefs"?)',
    });
  });

  it('says a Gateway API field is not supported yet instead of unknown', () => {
    const e = onlyError(ROUTE.replace('  rules:\n', '  hostnames: [payments.example]\n  rules:\n'));
    assert.deepEqual(e, {
      file: 'mesh.yaml',
      resource: 'HTTPRoute/split',
      field: 'spec.hostnames',
      message: '"hostnames" is a Gateway API field that Weft does not support yet; remove it',
    });
  });

  it('allows unknown fields under metadata only', () => {
    const { errors } = parseConfigText(SERVICE.replace('annotations:', 'uid: abc, annotations:'), 'm.yaml');
    assert.deepEqual(errors, []);
    const bad = onlyError(SERVICE.replace('spec:\n', 'status: {}\nspec:\n'));
    assert.equal(bad.field, 'status');
    assert.match(bad.message, /^unknown field "status"/);
  });

  it('refuses a parentRef to a Gateway, with the mesh-route hint', () => {
    const e = onlyError(ROUTE.replace("group: '', kind: Service, name: payments, port: 8080", 'kind: Gateway, name: gw'));
    assert.equal(e.field, 'spec.parentRefs[0].kind');
    assert.match(e.message, /Weft routes are mesh routes: parentRefs must name a Service .*Gateways are not supported$/);
    const both = onlyErrors(ROUTE.replace("group: '', kind: Service", 'group: gateway.networking.k8s.io, kind: Gateway'));
    assert.deepEqual(both.map((x) => x.field), ['spec.parentRefs[0].group', 'spec.parentRefs[0].kind']);
  });

  it('refuses a parentRef without kind (Gateway API defaults it to Gateway)', () => {
    const e = onlyError(ROUTE.replace("group: '', kind: Service, name: payments, port: 8080", 'name: payments'));
    assert.equal(e.field, 'spec.parentRefs[0].kind');
    assert.match(e.message, /^must be Service \(Gateway API defaults it to Gateway\)\. Weft routes are mesh routes/);
  });

  it('refuses a weight out of range with the field path', () => {
    const e = onlyError(ROUTE.replace('weight: 10 }', 'weight: 1000001 }'));
    assert.deepEqual(e, {
      file: 'mesh.yaml',
      resource: 'HTTPRoute/split',
      field: 'spec.rules[0].backendRefs[1].weight',
      message: 'must be at most 1000000 (got 1000001)',
    });
  });

  it('refuses a duration that is not GEP-2257', () => {
    const e = onlyError(ROUTE.replace('1m30s', '1.5s'));
    assert.equal(e.field, 'spec.rules[0].timeouts.request');
    assert.match(e.message, /^must be a Gateway API duration/);
  });

  it('refuses an Exact or PathPrefix value that does not start with "/"', () => {
    const e = onlyError(ROUTE.replace('value: /charge', 'value: charge'));
    assert.deepEqual(e, { file: 'mesh.yaml', resource: 'HTTPRoute/split', field: 'spec.rules[0].matches[0].path.value', message: 'must start with "/"' });
  });

  it('requires backendRefs in every rule', () => {
    const e = onlyError(ROUTE.replace('  - backendRefs: [{ name: payments }]', '  - timeouts: { request: 1s }'));
    assert.deepEqual(e, { file: 'mesh.yaml', resource: 'HTTPRoute/split', field: 'spec.rules[1].backendRefs', message: 'is required' });
  });

  it('requires IP literals for static endpoints', () => {
    const e = onlyError(SERVICE.replace('10.0.0.1', 'backend.local'));
    assert.deepEqual(e, {
      file: 'mesh.yaml',
      resource: 'Service/payments',
      field: 'spec.endpoints[0].address',
      message: 'must be an IP address literal (IPv4 or IPv6), not a host name',
    });
  });

  it('requires a DNS-1123 label as Service name', () => {
    const e = onlyError(SERVICE.replace('name: payments,', 'name: Payments_1,'));
    assert.equal(e.resource, 'Service/Payments_1');
    assert.equal(e.field, 'metadata.name');
    assert.match(e.message, /^must be a DNS-1123 label/);
  });

  it('requires a service or a method in a GRPCRoute method match', () => {
    const e = onlyError(GRPC_ROUTE.replace('{ service: pay.v1.Payments, method: Charge }', '{ type: Exact }'));
    assert.deepEqual(e, { file: 'mesh.yaml', resource: 'GRPCRoute/rpc', field: 'spec.rules[0].matches[0].method', message: 'needs a service, a method, or both' });
  });

  it('reports every error of every document, not just the first', () => {
    const text = `${SERVICE.replace('port: 8080', 'port: 0')}---\n${ROUTE.replace('weight: 90', 'weight: -1')}---\n- not a mapping\n`;
    const { errors } = parseConfigText(text, 'all.yaml');
    assert.deepEqual(
      errors.map((e) => `${e.resource ?? ''} ${e.field ?? ''}`.trim()),
      ['Service/payments spec.ports[0].port', 'HTTPRoute/split spec.rules[0].backendRefs[0].weight', ''],
    );
    assert.equal(errors[2]!.message, 'document 3 is not a mapping: expected apiVersion, kind, metadata and spec');
  });
});

function onlyErrors(text: string) {
  return parseConfigText(text, 'mesh.yaml').errors;
}

describe('parseGatewayDurationMs', () => {
  it('sums GEP-2257 components and refuses other forms', () => {
    assert.equal(parseGatewayDurationMs('2s'), 2000);
    assert.equal(parseGatewayDurationMs('500ms'), 500);
    assert.equal(parseGatewayDurationMs('1m30s'), 90_000);
    assert.equal(parseGatewayDurationMs('1h1m1s1ms'), 3_661_001);
    assert.equal(parseGatewayDurationMs('0s'), 0);
    assert.equal(parseGatewayDurationMs('1.5s'), undefined);
    assert.equal(parseGatewayDurationMs('1d'), undefined);
    assert.equal(parseGatewayDurationMs('100000s'), undefined);
  });
});

describe('resolveKind', () => {
  it('accepts the kind, its plural, short names, in any case', () => {
    for (const a of ['HTTPRoute', 'httproute', 'httproutes']) assert.equal(resolveKind(a), 'HTTPRoute');
    for (const a of ['svc', 'service', 'Services']) assert.equal(resolveKind(a), 'Service');
    for (const a of ['grpcroute', 'GRPCRoutes']) assert.equal(resolveKind(a), 'GRPCRoute');
    assert.equal(resolveKind('gateway'), undefined);
  });
});

describe('parseConfigText: odd YAML (found by config.fuzz)', () => {
  it('a mapping used as a key is a field error, with no process warning (any admin client could trigger one)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const { errors } = parseConfigText('apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: a }\nspec:\n  ports: [{ name: http, port: 80 }]\n  ? [x, y]\n  : 1\n', 'odd.yaml');
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.resource, 'Service/a');
      assert.match(errors[0]!.message, /unknown field/);
      await new Promise((resolve) => setImmediate(resolve)); // process warnings are emitted on the next tick
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
