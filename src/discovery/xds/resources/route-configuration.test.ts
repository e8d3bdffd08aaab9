// Tests RouteConfiguration decoding: every supported match and action, timeouts, and a precise reason for each refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protos, TYPE_URL, type ProtoObject } from '../protos.js';
import type { HeaderMatcher, Route } from '../../mesh-state.js';
import { decodeRouteConfiguration } from './route-configuration.js';

/** One virtual host with `routes`, round-tripped through the wire. */
function wire(routes: ProtoObject[], vh: ProtoObject = {}): ProtoObject {
  return protos().fromAny(
    protos().toAny({ '@type': TYPE_URL.routeConfiguration, name: 'payments', virtual_hosts: [{ name: 'vh', domains: ['*'], routes, ...vh }] }),
  );
}
const to = (cluster: string) => ({ route: { cluster } });

function routesOf(routes: ProtoObject[]): readonly Route[] {
  const r = decodeRouteConfiguration(wire(routes));
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return r.value.virtualHosts[0]!.routes;
}
function errorsOf(routes: ProtoObject[], vh: ProtoObject = {}): string[] {
  const r = decodeRouteConfiguration(wire(routes, vh));
  assert.equal(r.ok, false, 'expected a refusal');
  return r.ok ? [] : r.errors;
}
function headerOf(header: ProtoObject): HeaderMatcher {
  return routesOf([{ match: { prefix: '/', headers: [header] }, ...to('c') }])[0]!.headers[0]!;
}

test('path matchers: prefix, exact, separated prefix and anchored regex; case_sensitive defaults to true', () => {
  const [prefix, exact, separated, regex, insensitive] = routesOf([
    { name: 'p', match: { prefix: '/a' }, ...to('c') },
    { match: { path: '/a/b' }, ...to('c') },
    { match: { path_separated_prefix: '/a' }, ...to('c') },
    { match: { safe_regex: { regex: '/v[0-9]+/.*' } }, ...to('c') },
    { match: { prefix: '/A', case_sensitive: { value: false } }, ...to('c') },
  ]);
  assert.equal(prefix!.name, 'p');
  assert.deepEqual(prefix!.path, { kind: 'prefix', value: '/a', ignoreCase: false });
  assert.deepEqual(exact!.path, { kind: 'exact', value: '/a/b', ignoreCase: false });
  assert.deepEqual(separated!.path, { kind: 'separated-prefix', value: '/a', ignoreCase: false });
  assert.equal(regex!.path.kind, 'regex');
  const re = regex!.path.kind === 'regex' ? regex!.path.regex : /$^/;
  assert.ok(re.test('/v12/charge'));
  assert.ok(!re.test('x/v12/charge'), 'the regex is anchored at the start');
  assert.ok(!re.test('/v12'), 'the regex must match the whole path');
  assert.deepEqual(insensitive!.path, { kind: 'prefix', value: '/A', ignoreCase: true });
});

test('header matchers: string_match kinds with ignore_case, legacy fields, presence, absence and invert', () => {
  assert.deepEqual(headerOf({ name: 'X-User', string_match: { exact: 'Bob', ignore_case: true } }), {
    name: 'x-user', match: { kind: 'exact', value: 'Bob', ignoreCase: true }, invert: false,
  });
  assert.deepEqual(headerOf({ name: 'x', string_match: { suffix: '.beta' } }).match, { kind: 'suffix', value: '.beta', ignoreCase: false });
  assert.deepEqual(headerOf({ name: 'x', string_match: { contains: 'ab' } }).match, { kind: 'contains', value: 'ab', ignoreCase: false });
  assert.deepEqual(headerOf({ name: 'x', prefix_match: 'v1' }).match, { kind: 'prefix', value: 'v1', ignoreCase: false });
  assert.deepEqual(headerOf({ name: 'x', exact_match: 'v1', invert_match: true }), {
    name: 'x', match: { kind: 'exact', value: 'v1', ignoreCase: false }, invert: true,
  });
  const regex = headerOf({ name: 'x', safe_regex_match: { regex: 'a|b' } }).match;
  assert.ok(regex.kind === 'regex' && regex.regex.test('b') && !regex.regex.test('ab'));
  assert.deepEqual(headerOf({ name: 'x', present_match: true }), { name: 'x', match: { kind: 'present' }, invert: false });
  assert.deepEqual(headerOf({ name: 'x', present_match: false }), { name: 'x', match: { kind: 'present' }, invert: true });
});

test('query parameter matchers and the grpc match', () => {
  const [route] = routesOf([
    { match: { prefix: '/', grpc: {}, query_parameters: [{ name: 'debug', present_match: true }, { name: 'v', string_match: { exact: '2' } }] }, ...to('c') },
  ]);
  assert.deepEqual(route!.queryParams, [
    { name: 'debug', match: { kind: 'present' } },
    { name: 'v', match: { kind: 'exact', value: '2', ignoreCase: false } },
  ]);
  assert.deepEqual(route!.headers, [{ name: 'content-type', match: { kind: 'prefix', value: 'application/grpc', ignoreCase: false }, invert: false }]);
});

test('weighted clusters skip weight 0 and sum the rest; a single cluster has weight 1', () => {
  const [split, single] = routesOf([
    { match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 90 } }, { name: 'b', weight: { value: 0 } }, { name: 'c', weight: { value: 10 } }] } } },
    { match: { prefix: '/' }, ...to('d') },
  ]);
  assert.deepEqual(split!.action, { kind: 'forward', clusters: [{ cluster: 'a', weight: 90 }, { cluster: 'c', weight: 10 }], totalWeight: 100, timeoutMs: undefined });
  assert.deepEqual(single!.action, { kind: 'forward', clusters: [{ cluster: 'd', weight: 1 }], totalWeight: 1, timeoutMs: undefined });
  const r = decodeRouteConfiguration(wire([
    { match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 1 } }, { name: 'b', weight: { value: 0 } }] } } },
  ]));
  assert.ok(r.ok);
  assert.deepEqual(r.value.clusterNames, ['a'], 'a weight-0 cluster is not subscribed to');
});

test('timeouts: timeout alone, max_stream_duration wins, 0 means none', () => {
  const [t, both, zero] = routesOf([
    { match: { prefix: '/' }, route: { cluster: 'c', timeout: { seconds: 2, nanos: 500_000_000 } } },
    { match: { prefix: '/' }, route: { cluster: 'c', timeout: { seconds: 9 }, max_stream_duration: { max_stream_duration: { seconds: 1 } } } },
    { match: { prefix: '/' }, route: { cluster: 'c', timeout: { seconds: 9 }, max_stream_duration: { max_stream_duration: { seconds: 0 } } } },
  ]);
  assert.equal(t!.action.kind === 'forward' && t!.action.timeoutMs, 2500);
  assert.equal(both!.action.kind === 'forward' && both!.action.timeoutMs, 1000);
  assert.equal(zero!.action.kind === 'forward' ? zero!.action.timeoutMs : 'not forward', undefined);
});

test('direct_response keeps status and inline body', () => {
  const [route] = routesOf([{ match: { prefix: '/' }, direct_response: { status: 404, body: { inline_string: 'no route' } } }]);
  assert.deepEqual(route!.action, { kind: 'direct', status: 404, body: 'no route' });
});

test('cluster_header routes are skipped, as grpc-js-xds does, without refusing the rest', () => {
  const routes = routesOf([{ match: { prefix: '/a' }, route: { cluster_header: 'x-cluster' } }, { match: { prefix: '/' }, ...to('c') }]);
  assert.equal(routes.length, 1);
  assert.deepEqual(routes[0]!.path, { kind: 'prefix', value: '/', ignoreCase: false });
});

test('refusals name the route and field', () => {
  assert.deepEqual(errorsOf([{ match: { safe_regex: { regex: '/(a' } }, ...to('c') }]), [
    "virtual_hosts[0].routes[0].match.safe_regex: regex '/(a': a group that is never closed (missing )) (at offset 1)",
  ]);
  assert.deepEqual(errorsOf([{ match: { safe_regex: { regex: '/(?=a)' } }, ...to('c') }]), [
    "virtual_hosts[0].routes[0].match.safe_regex: regex '/(?=a)': a look-ahead (?=, which RE2 does not support (at offset 1)",
  ]);
  assert.deepEqual(errorsOf([{ match: { prefix: '/', headers: [{ name: 'x', range_match: { start: 1, end: 3 } }] }, ...to('c') }]), [
    'virtual_hosts[0].routes[0].match.headers[0].range_match: not supported',
  ]);
  assert.deepEqual(errorsOf([{ match: { prefix: '/', headers: [{ name: 'x', string_match: { safe_regex: { regex: '[' } } }] }, ...to('c') }]).length, 1);
  assert.deepEqual(
    errorsOf([{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 0 } }] } } }]),
    ['virtual_hosts[0].routes[0].route.weighted_clusters: the weights sum to 0'],
  );
  assert.deepEqual(errorsOf([{ match: { prefix: '/' }, route: { cluster_specifier_plugin: 'rls' } }]), [
    'virtual_hosts[0].routes[0].route.cluster_specifier_plugin: cluster specifier not supported',
  ]);
  assert.deepEqual(errorsOf([{ match: { prefix: '/' }, redirect: { host_redirect: 'x' } }]), ['virtual_hosts[0].routes[0].redirect: action not supported']);
  assert.deepEqual(errorsOf([{ match: { prefix: '/' } }]), ['virtual_hosts[0].routes[0]: no action set']);
  assert.deepEqual(errorsOf([{ ...to('c') }]), ['virtual_hosts[0].routes[0].match: not set']);
  assert.deepEqual(errorsOf([{ match: { prefix: '/', runtime_fraction: { default_value: { numerator: 1 } } }, ...to('c') }]), [
    'virtual_hosts[0].routes[0].match.runtime_fraction: not supported',
  ]);
  assert.deepEqual(errorsOf([{ match: { path_separated_prefix: '/a/' }, ...to('c') }]), [
    "virtual_hosts[0].routes[0].match.path_separated_prefix: '/a/' must start with '/', not end with '/' and have no '?' or '#'",
  ]);
  assert.deepEqual(errorsOf([{ match: { prefix: '/' }, route: { cluster: 'c', timeout: { seconds: -1 } } }]), [
    'virtual_hosts[0].routes[0].route.timeout: invalid duration -1s 0ns (must be non-negative)',
  ]);
  assert.deepEqual(errorsOf([], { domains: ['*.a.*', 'a*b'] }), [
    "virtual_hosts[0].domains: '*.a.*' has more than one wildcard",
    "virtual_hosts[0].domains: 'a*b' has a wildcard in the middle",
  ]);
});

test('a RE2 leading (?i) flag group becomes a case-insensitive JS regex', () => {
  const [route] = routesOf([{ match: { safe_regex: { regex: '(?i)/abc' } }, ...to('c') }]);
  assert.ok(route!.path.kind === 'regex' && route!.path.regex.test('/ABC'));
});
