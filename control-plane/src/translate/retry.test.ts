// Tests HTTPRoute retry / backendRequest / non-idempotent opt-in translation, end to end through the SDK's decoder.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRouteConfiguration } from '../../../src/discovery/xds/resources/route-configuration.js';
import { protos, TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import type { Route } from '../../../src/discovery/mesh-state.js';
import { parseConfigText } from '../config/parse.js';
import { validateConfig } from '../config/validate.js';
import { formatConfigError } from '../model.js';
import { meshConfig, serviceYaml } from './testdata/fixtures.js';
import { translate } from './translate.js';
import { grpcRetryPolicy } from '../../../src/client/grpc/route-plan.js';

const ROUTE = (annotations: string, rules: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: pay
  annotations: { ${annotations} }
spec:
  parentRefs: [{ kind: Service, name: api }]
  rules:
${rules}---
`;
const RULES = `  - matches: [{ path: { type: Exact, value: /charge } }]
    backendRefs: [{ name: api }]
    retry: { codes: [503, 429], attempts: 3, backoff: 100ms }
    timeouts: { request: 2s, backendRequest: 500ms }
  - backendRefs: [{ name: api }]
    timeouts: { backendRequest: 200ms }
`;

function xdsRoutes(yaml: string): ProtoObject[] {
  const rc = translate(meshConfig(serviceYaml('api', ['http:8080']) + yaml), [])[TYPE_URL.routeConfiguration].get('api');
  assert.ok(rc);
  return (rc['virtual_hosts'] as { routes: ProtoObject[] }[])[0]!.routes;
}

function sdkRoutes(yaml: string): readonly Route[] {
  const rc = translate(meshConfig(serviceYaml('api', ['http:8080']) + yaml), [])[TYPE_URL.routeConfiguration].get('api')!;
  const decoded = decodeRouteConfiguration(protos().fromAny(protos().toAny(rc as ProtoObject & { '@type': string })));
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.errors.join('\n'));
  return decoded.value.virtualHosts[0]!.routes;
}

function errorsOf(yaml: string): string[] {
  const { resources, errors } = parseConfigText(serviceYaml('api', ['http:8080', 'grpc:9090:GRPC']) + yaml, 'test.yaml');
  return (errors.length > 0 ? errors : validateConfig(resources)).map(formatConfigError);
}

describe('retry translation', () => {
  it('retry + backendRequest → retry_policy; the opt-in annotation → route metadata and no method restriction', () => {
    const [charge, rest] = xdsRoutes(ROUTE(`retry.weft.dev/non-idempotent: "0"`, RULES));
    const action = charge!['route'] as ProtoObject;
    assert.deepEqual(action['retry_policy'], {
      retry_on: 'connect-failure,refused-stream,reset,retriable-status-codes',
      retriable_status_codes: [503, 429],
      num_retries: { value: 3 },
      retry_back_off: { base_interval: { seconds: '0', nanos: 100_000_000 }, max_interval: { seconds: '1', nanos: 0 } },
      per_try_timeout: { seconds: '0', nanos: 500_000_000 },
    });
    assert.ok(charge!['metadata'], 'opted-in rule carries weft metadata');
    const restPolicy = (rest!['route'] as ProtoObject)['retry_policy'] as ProtoObject;
    assert.equal(restPolicy['retry_on'], 'connect-failure,refused-stream', 'backendRequest alone keeps the safe conditions');
    assert.deepEqual(restPolicy['num_retries'], { value: 1 });
    assert.ok(Array.isArray(restPolicy['retriable_request_headers']), 'Envoy is restricted to idempotent methods');
    assert.equal(rest!['metadata'], undefined);
  });
  it('the SDK decodes what the control plane sends (the xds-mapping contract)', () => {
    const [charge, rest] = sdkRoutes(ROUTE(`retry.weft.dev/non-idempotent: "true"`, RULES));
    assert.ok(charge!.action.kind === 'forward' && rest!.action.kind === 'forward');
    assert.deepEqual(charge!.action.retry, {
      conditions: ['connect-failure', 'refused-stream', 'reset', 'retriable-status-codes'],
      retriableStatusCodes: [503, 429],
      numRetries: 3,
      perTryTimeoutMs: 500,
      baseIntervalMs: 100,
      maxIntervalMs: 1000,
      retryNonIdempotent: true,
    });
    assert.equal(charge!.action.timeoutMs, 2000);
    assert.equal(rest!.action.retry?.perTryTimeoutMs, 200);
    assert.equal(rest!.action.retry?.retryNonIdempotent, true);
  });
  it('no retry and no backendRequest: no retry_policy (the SDK applies its safe default)', () => {
    const [r] = xdsRoutes(ROUTE('', '  - backendRefs: [{ name: api }]\n'));
    assert.equal((r!['route'] as ProtoObject)['retry_policy'], undefined);
  });
  it('refuses backendRequest longer than request, bad codes, a bad opt-in and retry on a GRPCRoute', () => {
    const errs = errorsOf(
      ROUTE(
        `retry.weft.dev/non-idempotent: "0,7"`,
        `  - backendRefs: [{ name: api }]\n    retry: { codes: [200], backoff: 0s }\n    timeouts: { request: 1s, backendRequest: 2s }\n`,
      ),
    );
    const text = errs.join('\n');
    assert.match(text, /timeouts\.backendRequest: must not be longer than timeouts\.request \(1s\)/);
    assert.match(text, /retry\.codes\[0\]: must be an HTTP error status/);
    assert.match(text, /retry\.backoff: must be greater than 0/);
    const optIn = errorsOf(ROUTE(`retry.weft.dev/non-idempotent: "0,7"`, '  - backendRefs: [{ name: api }]\n')).join('\n');
    assert.match(optIn, /"7" is not a rule index of this route/);
    const grpc = errorsOf(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g }
spec:
  parentRefs: [{ kind: Service, name: api }]
  rules:
  - backendRefs: [{ name: api, port: 9090 }]
    retry: { codes: [], attempts: 2 }
  - backendRefs: [{ name: api, port: 9090 }]
    retry: { codes: [NOT_FOUND] }
---
`).join('\n');
    assert.match(grpc, /rules\[0\]\.retry\.codes: needs at least one gRPC status \(CANCELLED, DEADLINE_EXCEEDED, INTERNAL, RESOURCE_EXHAUSTED, UNAVAILABLE\)/);
    assert.match(grpc, /rules\[1\]\.retry\.codes\[0\]: must be one of/);
  });
  it('GRPCRoute retry (Weft extension) → retry_on with Envoy gRPC names, decoded by the SDK and mapped to grpc-js (A6)', () => {
    const yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g }
spec:
  parentRefs: [{ kind: Service, name: api }]
  rules:
  - backendRefs: [{ name: api, port: 8080 }]
    retry: { codes: [UNAVAILABLE, RESOURCE_EXHAUSTED], attempts: 9, backoff: 50ms }
---
`;
    const [r] = xdsRoutes(yaml);
    assert.deepEqual((r!['route'] as ProtoObject)['retry_policy'], {
      retry_on: 'unavailable,resource-exhausted',
      num_retries: { value: 9 },
      retry_back_off: { base_interval: { seconds: '0', nanos: 50_000_000 }, max_interval: { seconds: '0', nanos: 500_000_000 } },
    });
    const [decoded] = sdkRoutes(yaml);
    assert.ok(decoded!.action.kind === 'forward');
    assert.deepEqual(decoded!.action.retry?.conditions, ['unavailable', 'resource-exhausted']);
    assert.deepEqual(grpcRetryPolicy(decoded!.action.retry), {
      maxAttempts: 5,
      initialBackoff: '0.050s',
      maxBackoff: '0.500s',
      backoffMultiplier: 2,
      retryableStatusCodes: [14, 8],
    });
    assert.equal(grpcRetryPolicy(undefined), undefined, 'no policy: grpc-js retries only transparently (never reached the server)');
  });
});
