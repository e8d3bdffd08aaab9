// Tests that client Listeners decode to their route source and that each invalid shape is refused with a precise reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protos, TYPE_URL, type ProtoObject } from '../protos.js';
import { decodeListener } from './listener.js';

const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } };
const FAULT = { name: 'envoy.filters.http.fault', typed_config: { type_url: 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault', value: Buffer.alloc(0) } };
const UNKNOWN = { name: 'acme.auth', typed_config: { type_url: 'type.googleapis.com/acme.Auth', value: Buffer.alloc(0) } };

/** Round-trips through the wire so the decoder sees exactly what the ADS client sees. */
function wire(hcm: ProtoObject | undefined, extra: ProtoObject = {}): ProtoObject {
  const listener: ProtoObject & { '@type': string } = { '@type': TYPE_URL.listener, name: 'payments', ...extra };
  if (hcm) listener['api_listener'] = { api_listener: { '@type': TYPE_URL.httpConnectionManager, ...hcm } };
  return protos().fromAny(protos().toAny(listener));
}
const rds = { rds: { route_config_name: 'payments-routes', config_source: { ads: {} } } };

function errorsOf(l: ProtoObject): string[] {
  const r = decodeListener(l);
  assert.equal(r.ok, false, 'expected the listener to be refused');
  return r.ok ? [] : r.errors;
}

test('an RDS listener names its route configuration and keeps the router filter', () => {
  const r = decodeListener(wire({ ...rds, http_filters: [ROUTER] }));
  assert.ok(r.ok);
  assert.equal(r.value.name, 'payments');
  assert.equal(r.value.routeConfigName, 'payments-routes');
  assert.equal(r.value.inlineRouteConfig, undefined);
  assert.deepEqual(r.value.httpFilters, [TYPE_URL.router]);
});

test('config_source self is accepted like ads', () => {
  const r = decodeListener(wire({ rds: { route_config_name: 'x', config_source: { self: {} } }, http_filters: [ROUTER] }));
  assert.ok(r.ok);
});

test('an inline route_config is decoded and its clusters listed', () => {
  const route_config = {
    name: 'inline',
    virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'payments:8080' } }] }],
  };
  const r = decodeListener(wire({ route_config, http_filters: [ROUTER] }));
  assert.ok(r.ok);
  assert.equal(r.value.routeConfigName, undefined);
  assert.deepEqual(r.value.inlineRouteConfig?.clusterNames, ['payments:8080']);
});

test('an invalid inline route_config is refused with the path inside the HCM', () => {
  const route_config = { virtual_hosts: [{ name: 'vh', domains: ['a*b'], routes: [] }] };
  assert.deepEqual(errorsOf(wire({ route_config, http_filters: [ROUTER] })), [
    "api_listener.api_listener.route_config.virtual_hosts[0].domains: 'a*b' has a wildcard in the middle",
  ]);
});

test('a listener without api_listener is refused', () => {
  assert.deepEqual(errorsOf(wire(undefined)), ['api_listener: not set (a client Listener needs an api_listener)']);
});

test('an api_listener that is not an HttpConnectionManager is refused', () => {
  const l = protos().fromAny(protos().toAny({ '@type': TYPE_URL.listener, name: 'x', api_listener: { api_listener: { '@type': TYPE_URL.router } } }));
  assert.deepEqual(errorsOf(l), [`api_listener.api_listener: type '${TYPE_URL.router}' is not an HttpConnectionManager`]);
});

test('rds with a non-ADS config_source is refused', () => {
  const hcm = { rds: { route_config_name: 'x', config_source: { path: '/etc/routes.yaml' } }, http_filters: [ROUTER] };
  assert.deepEqual(errorsOf(wire(hcm)), ['api_listener.api_listener.rds.config_source: must be ads or self (this client only speaks ADS)']);
});

test('an empty rds route_config_name is refused', () => {
  const hcm = { rds: { route_config_name: '', config_source: { ads: {} } }, http_filters: [ROUTER] };
  assert.deepEqual(errorsOf(wire(hcm)), ['api_listener.api_listener.rds.route_config_name: must not be empty']);
});

test('an HCM with neither rds nor route_config is refused', () => {
  assert.deepEqual(errorsOf(wire({ http_filters: [ROUTER] })), [
    "api_listener.api_listener: route specifier 'none' is not supported (use rds or route_config)",
  ]);
});

test('the router filter must be present', () => {
  assert.deepEqual(errorsOf(wire({ ...rds, http_filters: [] })), [
    'api_listener.api_listener.http_filters: empty; the router filter must be present and last',
  ]);
});

test('the router filter must be last', () => {
  assert.deepEqual(errorsOf(wire({ ...rds, http_filters: [ROUTER, FAULT] })), [
    'api_listener.api_listener.http_filters[0]: the router filter must be the last filter',
    `api_listener.api_listener.http_filters[1]: the last filter must be the router, not '${FAULT.typed_config.type_url}'`,
  ]);
});

test('an unknown required filter is refused, an unknown optional one ignored, the fault filter accepted', () => {
  assert.deepEqual(errorsOf(wire({ ...rds, http_filters: [UNKNOWN, ROUTER] })), [
    "api_listener.api_listener.http_filters[0]: filter 'acme.auth' of type 'type.googleapis.com/acme.Auth' is not supported and not is_optional",
  ]);
  const r = decodeListener(wire({ ...rds, http_filters: [{ ...UNKNOWN, is_optional: true }, FAULT, ROUTER] }));
  assert.ok(r.ok);
  assert.deepEqual(r.value.httpFilters, [FAULT.typed_config.type_url, TYPE_URL.router]);
});

test('a filter wrapped in a TypedStruct is judged by the wrapped type', () => {
  const inner = 'type.googleapis.com/acme.Auth';
  const typedStruct = Buffer.concat([Buffer.from([0x0a, inner.length]), Buffer.from(inner)]);
  const wrappedFilter = { name: 'acme', typed_config: { type_url: 'type.googleapis.com/xds.type.v3.TypedStruct', value: typedStruct } };
  assert.deepEqual(errorsOf(wire({ ...rds, http_filters: [wrappedFilter, ROUTER] })), [
    `api_listener.api_listener.http_filters[0]: filter 'acme' of type '${inner}' is not supported and not is_optional`,
  ]);
});

test('duplicate filter names are refused', () => {
  const second = { ...FAULT, name: 'envoy.filters.http.router' };
  assert.deepEqual(errorsOf(wire({ ...rds, http_filters: [second, ROUTER] })), [
    "api_listener.api_listener.http_filters[1].name: duplicate filter name 'envoy.filters.http.router'",
  ]);
});
