// Tests of fault filter decoding (through the real protos): HTTPFault fields, denominators, refusals, the HCM filter
// list of a Listener, per-route and per-virtual-host overrides, and the control plane's own output read back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { protos, TYPE_URL, type ProtoObject } from '../protos.js';
import { decodeHttpFault, NO_FAULT } from './fault.js';
import { decodeListener } from './listener.js';
import { decodeRouteConfiguration } from './route-configuration.js';

/** Encodes and decodes `fault` as an Any, exactly as an HCM filter config arrives. */
function wireFault(fault: ProtoObject): ProtoObject {
  return protos().fromAny(protos().toAny({ '@type': TYPE_URL.httpFault, ...fault }));
}

describe('decodeHttpFault', () => {
  it('decodes delay, abort, headers and max_active_faults, normalising percentages to parts per million', () => {
    const p = decodeHttpFault(
      wireFault({
        delay: { fixed_delay: { seconds: 0, nanos: 200_000_000 }, percentage: { numerator: 1250, denominator: 'TEN_THOUSAND' } },
        abort: { http_status: 503, percentage: { numerator: 50 } },
        headers: [{ name: 'x-chaos', string_match: { exact: 'on' } }],
        max_active_faults: { value: 3 },
      }),
      'f',
    );
    assert.ok(!('errors' in p), JSON.stringify(p));
    assert.deepEqual(p.delay, { kind: 'fixed', delayMs: 200, perMillion: 125_000 });
    assert.deepEqual(p.abort, { kind: 'http', httpStatus: 503, perMillion: 500_000 });
    assert.equal(p.headers[0]!.name, 'x-chaos');
    assert.equal(p.maxActiveFaults, 3);
    const grpc = decodeHttpFault(wireFault({ abort: { grpc_status: 14, percentage: { numerator: 7, denominator: 'MILLION' } } }), 'f');
    assert.deepEqual(!('errors' in grpc) && grpc.abort, { kind: 'grpc', grpcStatus: 14, perMillion: 7 });
    const header = decodeHttpFault(wireFault({ abort: { header_abort: {}, percentage: { numerator: 100 } } }), 'f');
    assert.deepEqual(!('errors' in header) && header.abort, { kind: 'header', perMillion: 1_000_000, unitPerMillion: 10_000 });
  });

  it('decodes an empty HTTPFault to the shared no-op config', () => {
    assert.equal(decodeHttpFault(wireFault({}), 'f'), NO_FAULT);
  });

  it('refuses what it cannot apply as configured, naming the field', () => {
    const bad = decodeHttpFault(
      wireFault({
        abort: { http_status: 99, percentage: { numerator: 1 } },
        delay: { fixed_delay: { seconds: 1 } },
        upstream_cluster: 'x',
        downstream_nodes: ['n'],
      }),
      'cfg',
    );
    assert.ok('errors' in bad);
    assert.deepEqual(bad.errors, [
      'cfg.delay.percentage: not set (a fault needs a percentage)',
      'cfg.abort.http_status: 99 is not in [200, 600)',
      'cfg.upstream_cluster: not supported',
      'cfg.downstream_nodes: not supported',
    ]);
  });
});

const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } };

function listenerWith(filters: ProtoObject[]): ProtoObject {
  return protos().fromAny(
    protos().toAny({
      '@type': TYPE_URL.listener,
      name: 'svc',
      api_listener: {
        api_listener: { '@type': TYPE_URL.httpConnectionManager, rds: { route_config_name: 'svc', config_source: { ads: {} } }, http_filters: filters },
      },
    }),
  );
}

describe('fault filters in Listeners and RouteConfigurations', () => {
  it('keeps the HCM fault filters with their filter-level config; refuses a bad one (NACK)', () => {
    const none = decodeListener(listenerWith([ROUTER]));
    assert.ok(none.ok);
    assert.deepEqual(none.value.faultFilters, []);
    const ok = decodeListener(
      listenerWith([{ name: 'chaos', typed_config: { '@type': TYPE_URL.httpFault, abort: { http_status: 500, percentage: { numerator: 10 } } } }, ROUTER]),
    );
    assert.ok(ok.ok);
    assert.deepEqual(ok.value.faultFilters.map((f) => [f.name, f.policy.abort]), [['chaos', { kind: 'http', httpStatus: 500, perMillion: 100_000 }]]);
    const bad = decodeListener(listenerWith([{ name: 'chaos', typed_config: { '@type': TYPE_URL.httpFault, upstream_cluster: 'x' } }, ROUTER]));
    assert.ok(!bad.ok);
    assert.match(bad.errors.join('\n'), /http_filters\[0\]\.typed_config\.upstream_cluster: not supported/);
  });

  it('decodes per-route and per-virtual-host overrides by filter name (plain or wrapped in FilterConfig)', () => {
    const fault = (status: number) => ({ '@type': TYPE_URL.httpFault, abort: { http_status: status, percentage: { numerator: 100 } } });
    const rc = protos().fromAny(
      protos().toAny({
        '@type': TYPE_URL.routeConfiguration,
        name: 'svc',
        virtual_hosts: [
          {
            name: 'svc',
            domains: ['*'],
            typed_per_filter_config: { 'envoy.filters.http.fault': fault(502) },
            routes: [
              { name: 'a', match: { prefix: '/a' }, route: { cluster: 'c' }, typed_per_filter_config: { 'envoy.filters.http.fault': fault(503) } },
              {
                name: 'b',
                match: { prefix: '/b' },
                route: { cluster: 'c' },
                typed_per_filter_config: { other: { '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig', config: fault(504) } },
              },
              { name: 'c', match: { prefix: '/' }, route: { cluster: 'c' } },
            ],
          },
        ],
      }),
    );
    const r = decodeRouteConfiguration(rc);
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    const vh = r.value.virtualHosts[0]!;
    assert.equal((vh.faultOverrides?.get('envoy.filters.http.fault')?.abort as { httpStatus: number }).httpStatus, 502);
    assert.equal((vh.routes[0]!.faultOverrides?.get('envoy.filters.http.fault')?.abort as { httpStatus: number }).httpStatus, 503);
    assert.equal((vh.routes[1]!.faultOverrides?.get('other')?.abort as { httpStatus: number }).httpStatus, 504);
    assert.equal(vh.routes[2]!.faultOverrides, undefined);
  });

  it('refuses the RouteConfiguration when an override is invalid', () => {
    const rc = protos().fromAny(
      protos().toAny({
        '@type': TYPE_URL.routeConfiguration,
        name: 'svc',
        virtual_hosts: [
          {
            name: 'svc',
            domains: ['*'],
            routes: [
              {
                name: 'a',
                match: { prefix: '/' },
                route: { cluster: 'c' },
                typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': TYPE_URL.httpFault, abort: { http_status: 700, percentage: { numerator: 1 } } } },
              },
            ],
          },
        ],
      }),
    );
    const r = decodeRouteConfiguration(rc);
    assert.ok(!r.ok);
    assert.match(r.errors.join('\n'), /routes\[0\]\.typed_per_filter_config\['envoy\.filters\.http\.fault'\]\.abort\.http_status: 700/);
  });
});
