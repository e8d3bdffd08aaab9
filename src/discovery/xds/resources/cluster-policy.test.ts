// Tests decoding of a Cluster's policy fields: LB policies (lb_policy and A52 lists), circuit breakers, retry budget, outlier detection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protos, TYPE_URL, type ProtoObject } from '../protos.js';
import { decodeCluster, type ClusterResource } from './cluster.js';
import { LB_POLICY_URL } from './cluster-policy.js';

const EDS = { type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } };
const wire = (fields: ProtoObject): ProtoObject => protos().fromAny(protos().toAny({ '@type': TYPE_URL.cluster, name: 'c', ...EDS, ...fields }));
function decoded(fields: ProtoObject): ClusterResource {
  const r = decodeCluster(wire(fields));
  assert.ok(r.ok, r.ok ? '' : r.errors.join('; '));
  return r.value;
}
const entry = (typed: ProtoObject): ProtoObject => ({ typed_extension_config: { name: 'x', typed_config: typed } });

test('lb_policy enums decode with their configs', () => {
  assert.deepEqual(decoded({ lb_policy: 'RANDOM' }).lb, { kind: 'random' });
  assert.deepEqual(decoded({ lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: { value: 3 } } }).lb, { kind: 'least-request', choiceCount: 3 });
  assert.deepEqual(decoded({ lb_policy: 'LEAST_REQUEST' }).lb, { kind: 'least-request', choiceCount: 2 });
  assert.deepEqual(decoded({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: { value: 2048 } } }).lb, {
    kind: 'ring-hash',
    minRingSize: 2048,
    maxRingSize: 8 * 1024 * 1024,
  });
});

test('load_balancing_policy: the first supported entry wins, unknown ones are skipped, peak-EWMA rides in a TypedStruct', () => {
  const unknown = entry({ '@type': LB_POLICY_URL.typedStruct, type_url: 'type.googleapis.com/other.Policy', value: {} });
  const ewma = entry({ '@type': LB_POLICY_URL.typedStruct, type_url: LB_POLICY_URL.peakEwma, value: { fields: { decay_ms: { numberValue: 5000 } } } });
  const rr = entry({ '@type': LB_POLICY_URL.roundRobin });
  const c = decoded({ load_balancing_policy: { policies: [unknown, ewma, rr] } });
  assert.deepEqual(c.lb, { kind: 'peak-ewma', decayMs: 5000 });
  assert.equal(c.lbPolicy, 'peak-ewma');
  const lr = entry({ '@type': LB_POLICY_URL.leastRequest, choice_count: { value: 4 } });
  assert.deepEqual(decoded({ load_balancing_policy: { policies: [lr, rr] } }).lb, { kind: 'least-request', choiceCount: 4 });
  assert.deepEqual(decoded({ load_balancing_policy: { policies: [entry({ '@type': LB_POLICY_URL.ringHash })] } }).lb.kind, 'ring-hash');
  assert.deepEqual(decoded({ load_balancing_policy: { policies: [unknown, rr] } }).lb, { kind: 'round-robin' });
});

test('bad LB parameters are refused', () => {
  const r = decodeCluster(wire({ lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: { value: 1 } } }));
  assert.equal(r.ok, false);
  assert.deepEqual(r.ok ? [] : r.errors, ['least_request_lb_config.choice_count: must be at least 2 (got 1)']);
  const rh = decodeCluster(wire({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: { value: 10 }, maximum_ring_size: { value: 5 } } }));
  assert.equal(rh.ok, false);
});

test('circuit breakers: DEFAULT priority thresholds with Envoy defaults, and the retry budget', () => {
  const c = decoded({
    circuit_breakers: {
      thresholds: [
        { priority: 'HIGH', max_requests: { value: 1 } },
        { priority: 'DEFAULT', max_requests: { value: 100 }, max_pending_requests: { value: 10 }, retry_budget: { budget_percent: { value: 25 }, min_retry_concurrency: { value: 5 } } },
      ],
    },
  });
  assert.deepEqual(c.circuitBreaker, { maxConnections: 1024, maxPendingRequests: 10, maxRequests: 100, maxRetries: 1024 });
  assert.deepEqual(c.retryBudget, { percent: 25, minRetriesPerSecond: 5 });
  assert.deepEqual(decoded({ circuit_breakers: { thresholds: [{ retry_budget: {} }] } }).retryBudget, { percent: 20, minRetriesPerSecond: 10 });
});

test('outlier detection: Envoy defaults, detectors off when not enforced', () => {
  const d = decoded({ outlier_detection: {} }).outlierDetection!;
  assert.equal(d.intervalMs, 10_000);
  assert.equal(d.baseEjectionTimeMs, 30_000);
  assert.equal(d.maxEjectionTimeMs, 300_000);
  assert.equal(d.maxEjectionPercent, 10);
  assert.deepEqual(d.consecutive5xx, { threshold: 5, enforcingPercent: 100 });
  assert.equal(d.consecutiveGatewayFailure, undefined);
  assert.equal(d.failurePercentage, undefined);
  assert.deepEqual(d.successRate, { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9, enforcingPercent: 100 });
  const e = decoded({
    outlier_detection: {
      consecutive_5xx: { value: 3 },
      consecutive_gateway_failure: { value: 2 },
      enforcing_consecutive_gateway_failure: { value: 100 },
      enforcing_success_rate: { value: 0 },
      enforcing_failure_percentage: { value: 100 },
      failure_percentage_threshold: { value: 50 },
      interval: { seconds: 1 },
      base_ejection_time: { nanos: 500_000_000 },
      max_ejection_percent: { value: 50 },
    },
  }).outlierDetection!;
  assert.deepEqual(e.consecutive5xx, { threshold: 3, enforcingPercent: 100 });
  assert.deepEqual(e.consecutiveGatewayFailure, { threshold: 2, enforcingPercent: 100 });
  assert.equal(e.successRate, undefined);
  assert.deepEqual(e.failurePercentage, { threshold: 50, minimumHosts: 5, requestVolume: 50, enforcingPercent: 100 });
  assert.equal(e.intervalMs, 1000);
  assert.equal(e.baseEjectionTimeMs, 500);
  assert.equal(e.maxEjectionPercent, 50);
  const bad = decodeCluster(wire({ outlier_detection: { max_ejection_percent: { value: 150 } } }));
  assert.equal(bad.ok, false);
});
