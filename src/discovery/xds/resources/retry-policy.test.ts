// Tests decoding of RouteAction.retry_policy and Weft's route-metadata opt-in into RetryPolicy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteAction } from '../../mesh-state.js';
import { protos, TYPE_URL, type ProtoObject } from '../protos.js';
import { decodeRouteConfiguration } from './route-configuration.js';

function actionOf(route: ProtoObject): RouteAction {
  const rc = protos().fromAny(
    protos().toAny({ '@type': TYPE_URL.routeConfiguration, name: 'p', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, ...route }] }] }),
  );
  const r = decodeRouteConfiguration(rc);
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return r.value.virtualHosts[0]!.routes[0]!.action;
}
function errorsOf(route: ProtoObject): string[] {
  const rc = protos().fromAny(
    protos().toAny({ '@type': TYPE_URL.routeConfiguration, name: 'p', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, ...route }] }] }),
  );
  const r = decodeRouteConfiguration(rc);
  assert.equal(r.ok, false);
  return r.ok ? [] : r.errors;
}

test('no retry_policy: no retry on the action (the safe default applies)', () => {
  const a = actionOf({ route: { cluster: 'c' } });
  assert.equal(a.kind === 'forward' && a.retry, undefined);
});

test('retry_policy: conditions, codes, retries, per-try timeout and backoff; unknown conditions dropped', () => {
  const a = actionOf({
    route: {
      cluster: 'c',
      retry_policy: {
        retry_on: 'connect-failure, retriable-status-codes,reset,unavailable,http3-post-connect-failure,reset',
        retriable_status_codes: [503, 429],
        num_retries: { value: 3 },
        per_try_timeout: { seconds: 0, nanos: 250_000_000 },
        retry_back_off: { base_interval: { nanos: 50_000_000 } },
        retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }],
      },
    },
  });
  assert.ok(a.kind === 'forward');
  assert.deepEqual(a.retry, {
    conditions: ['connect-failure', 'retriable-status-codes', 'reset', 'unavailable'],
    retriableStatusCodes: [503, 429],
    numRetries: 3,
    perTryTimeoutMs: 250,
    baseIntervalMs: 50,
    maxIntervalMs: 500,
    retryNonIdempotent: false,
  });
});

test('Envoy defaults: num_retries 1, base 25 ms, max 250 ms; metadata weft.retryNonIdempotent opts in', () => {
  const a = actionOf({
    route: { cluster: 'c', retry_policy: { retry_on: '5xx' } },
    metadata: { filter_metadata: { weft: { fields: { retryNonIdempotent: { boolValue: true } } } } },
  });
  assert.ok(a.kind === 'forward' && a.retry);
  assert.equal(a.retry.numRetries, 1);
  assert.equal(a.retry.baseIntervalMs, 25);
  assert.equal(a.retry.maxIntervalMs, 250);
  assert.equal(a.retry.perTryTimeoutMs, undefined);
  assert.equal(a.retry.retryNonIdempotent, true);
});

test('refuses a bad status code, a zero base interval and max below base', () => {
  const errs = errorsOf({
    route: { cluster: 'c', retry_policy: { retry_on: '5xx', retriable_status_codes: [42], retry_back_off: { base_interval: {}, max_interval: { seconds: 1 } } } },
  });
  assert.ok(errs.some((e) => /retriable_status_codes: 42 is not an HTTP status/.test(e)), errs.join('\n'));
  assert.ok(errs.some((e) => /base_interval: must be greater than 0/.test(e)), errs.join('\n'));
  const errs2 = errorsOf({
    route: { cluster: 'c', retry_policy: { retry_on: '5xx', retry_back_off: { base_interval: { seconds: 2 }, max_interval: { seconds: 1 } } } },
  });
  assert.ok(errs2.some((e) => /max_interval: must be at least base_interval/.test(e)), errs2.join('\n'));
});
