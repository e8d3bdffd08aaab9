// Tests Cluster decoding: EDS over ADS with round robin is accepted, everything else is refused with its reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protos, TYPE_URL, type ProtoObject } from '../protos.js';
import { decodeCluster } from './cluster.js';

const EDS = { type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } };
const wire = (fields: ProtoObject): ProtoObject => protos().fromAny(protos().toAny({ '@type': TYPE_URL.cluster, name: 'payments:8080', ...fields }));
function errorsOf(fields: ProtoObject): string[] {
  const r = decodeCluster(wire(fields));
  assert.equal(r.ok, false, 'expected a refusal');
  return r.ok ? [] : r.errors;
}

test('an EDS cluster defaults its service name to the cluster name and connect_timeout to 5 s', () => {
  const r = decodeCluster(wire(EDS));
  assert.ok(r.ok);
  assert.equal(r.value.name, 'payments:8080');
  assert.equal(r.value.edsServiceName, 'payments:8080');
  assert.equal(r.value.lbPolicy, 'round-robin');
  assert.deepEqual(r.value.lb, { kind: 'round-robin' });
  assert.equal(r.value.connectTimeoutMs, 5000);
  assert.equal(r.value.circuitBreaker, undefined);
  assert.equal(r.value.outlierDetection, undefined);
  assert.equal(r.value.retryBudget, undefined);
});

test('service_name and connect_timeout are read', () => {
  const r = decodeCluster(wire({ ...EDS, eds_cluster_config: { eds_config: { self: {} }, service_name: 'eds-payments' }, connect_timeout: { seconds: 1, nanos: 250_000_000 } }));
  assert.ok(r.ok);
  assert.equal(r.value.edsServiceName, 'eds-payments');
  assert.equal(r.value.connectTimeoutMs, 1250);
});

test('a load_balancing_policy listing round_robin is accepted', () => {
  const policy = { typed_extension_config: { name: 'rr', typed_config: { type_url: 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin', value: Buffer.alloc(0) } } };
  assert.ok(decodeCluster(wire({ ...EDS, load_balancing_policy: { policies: [policy] } })).ok);
});

test('unsupported discovery types, LB policies, config sources and timeouts are refused', () => {
  assert.deepEqual(errorsOf({ type: 'STRICT_DNS' }), ['type: STRICT_DNS is not supported (only EDS)']);
  assert.deepEqual(errorsOf({ ...EDS, lb_policy: 'MAGLEV' }), ['lb_policy: MAGLEV is not supported (ROUND_ROBIN, RANDOM, LEAST_REQUEST, RING_HASH)']);
  assert.deepEqual(errorsOf({ type: 'EDS', eds_cluster_config: { eds_config: { path: '/x' } } }), [
    'eds_cluster_config.eds_config: must be ads or self (this client only speaks ADS)',
  ]);
  assert.deepEqual(errorsOf({ ...EDS, connect_timeout: { seconds: 0 } }), ['connect_timeout: must be greater than 0']);
  assert.deepEqual(errorsOf({ ...EDS, connect_timeout: { seconds: -2 } }), ['connect_timeout: invalid duration -2s 0ns (must be non-negative)']);
  const maglev = { typed_extension_config: { name: 'mg', typed_config: { type_url: 'type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev', value: Buffer.alloc(0) } } };
  assert.deepEqual(errorsOf({ ...EDS, load_balancing_policy: { policies: [maglev] } }), [
    'load_balancing_policy: none of [type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev] is supported (round_robin, random, least_request, ring_hash, weft.lb.v1.PeakEwma)',
  ]);
});
