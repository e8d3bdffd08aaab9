// Tests ClusterLoadAssignment decoding: routable endpoints, weight defaults, health filtering and each refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protos, TYPE_URL, type ProtoObject } from '../protos.js';
import { decodeClusterLoadAssignment } from './cluster-load-assignment.js';

const wire = (endpoints: ProtoObject[]): ProtoObject =>
  protos().fromAny(protos().toAny({ '@type': TYPE_URL.clusterLoadAssignment, cluster_name: 'payments:8080', endpoints }));
const ep = (address: string, port: number, extra: ProtoObject = {}): ProtoObject => ({
  endpoint: { address: { socket_address: { address, port_value: port } } },
  ...extra,
});
const group = (lb_endpoints: ProtoObject[], extra: ProtoObject = {}): ProtoObject => ({
  locality: { region: 'eu', zone: 'eu-1', sub_zone: 'a' },
  load_balancing_weight: { value: 1 },
  lb_endpoints,
  ...extra,
});
function errorsOf(endpoints: ProtoObject[]): string[] {
  const r = decodeClusterLoadAssignment(wire(endpoints));
  assert.equal(r.ok, false, 'expected a refusal');
  return r.ok ? [] : r.errors;
}

test('HEALTHY and UNKNOWN endpoints are kept with their weight (default 1) and locality', () => {
  const r = decodeClusterLoadAssignment(
    wire([
      group([
        ep('10.0.0.1', 8080, { health_status: 'HEALTHY', load_balancing_weight: { value: 3 } }),
        ep('::1', 8080),
        ep('10.0.0.2', 8080, { health_status: 'UNHEALTHY' }),
        ep('10.0.0.3', 8080, { health_status: 'DRAINING' }),
      ]),
    ]),
  );
  assert.ok(r.ok);
  assert.equal(r.value.name, 'payments:8080');
  const locality = { region: 'eu', zone: 'eu-1', subZone: 'a' };
  assert.deepEqual(r.value.endpoints, [
    { address: '10.0.0.1', port: 8080, weight: 3, locality, health: 'HEALTHY' },
    { address: '::1', port: 8080, weight: 1, locality, health: 'UNKNOWN' },
  ]);
});

test('an empty assignment has no endpoints; priority 1 endpoints are kept with their priority (failover)', () => {
  const empty = decodeClusterLoadAssignment(wire([]));
  assert.ok(empty.ok && empty.value.endpoints.length === 0);
  const r = decodeClusterLoadAssignment(wire([group([ep('10.0.0.1', 1)]), group([ep('10.0.0.2', 1)], { priority: 1 })]));
  assert.ok(r.ok);
  assert.deepEqual(r.value.endpoints.map((e) => [e.address, e.priority]), [['10.0.0.1', undefined], ['10.0.0.2', 1]]);
});

test('refusals name the endpoint and field', () => {
  assert.deepEqual(errorsOf([group([ep('payments.internal', 80)])]), [
    "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: 'payments.internal' is not an IP address",
  ]);
  assert.deepEqual(errorsOf([group([ep('10.0.0.1', 80), ep('10.0.0.1', 80)])]), [
    'endpoints[0].lb_endpoints[1].endpoint.address: 10.0.0.1:80 is a duplicate',
  ]);
  assert.deepEqual(errorsOf([group([ep('10.0.0.1', 0)])]), [
    'endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: 0 is not a port (1-65535)',
  ]);
  assert.deepEqual(errorsOf([group([{ endpoint: { address: { socket_address: { address: '10.0.0.1', named_port: 'http' } } } }])]), [
    'endpoints[0].lb_endpoints[0].endpoint.address.socket_address: port must be a port_value',
  ]);
  assert.deepEqual(errorsOf([group([ep('10.0.0.1', 80, { load_balancing_weight: { value: 0 } })])]), [
    'endpoints[0].lb_endpoints[0].load_balancing_weight: must be at least 1',
  ]);
  assert.deepEqual(errorsOf([group([ep('10.0.0.1', 80)], { priority: 2 })]), ['endpoints: priority 2 is used but priority 1 is not']);
  assert.deepEqual(errorsOf([group([ep('10.0.0.1', 80)]), group([ep('10.0.0.2', 80)])]), ['endpoints[1].locality: appears twice in priority 0']);
  assert.deepEqual(errorsOf([group([{}])]), ['endpoints[0].lb_endpoints[0].endpoint.address.socket_address: not set']);
});
