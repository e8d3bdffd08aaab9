// Tests decoding a route's concurrency limit from Weft route metadata, round-tripped through the wire: fixed,
// adaptive with Envoy's defaults, and a precise refusal for each bad field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { protos, TYPE_URL, type ProtoObject } from '../protos.js';
import { decodeRouteConfiguration } from './route-configuration.js';
import { ADAPTIVE_DEFAULTS } from './concurrency-limit.js';

type Value = { numberValue: number } | { stringValue: string } | { structValue: { fields: Record<string, Value> } };
const struct = (o: Record<string, unknown>): Value => ({
  structValue: {
    fields: Object.fromEntries(
      Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? { numberValue: v } : typeof v === 'string' ? { stringValue: v } : struct(v as Record<string, unknown>)]),
    ),
  },
});

/** A route with `limit` as its concurrencyLimit metadata, decoded from the wire. */
function decode(limit: Record<string, unknown>) {
  const route: ProtoObject = { name: 'r', match: { prefix: '/' }, route: { cluster: 'c' }, metadata: { filter_metadata: { weft: { fields: { concurrencyLimit: struct(limit) } } } } };
  return decodeRouteConfiguration(protos().fromAny(protos().toAny({ '@type': TYPE_URL.routeConfiguration, name: 'rc', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [route] }] })));
}

test('a fixed limit: scope and maxConcurrency', () => {
  const r = decode({ scope: 'HTTPRoute/search/rules/0', maxConcurrency: 8 });
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  assert.deepEqual(r.value.virtualHosts[0]!.routes[0]!.concurrencyLimit, { kind: 'fixed', scope: 'HTTPRoute/search/rules/0', maxConcurrency: 8 });
});

test('an adaptive limit: the fields given, Envoy\'s defaults for the rest', () => {
  const r = decode({ scope: 's', adaptive: { maxConcurrency: 64, minRttIntervalMs: 30_000 } });
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  assert.deepEqual(r.value.virtualHosts[0]!.routes[0]!.concurrencyLimit, { ...ADAPTIVE_DEFAULTS, kind: 'adaptive', scope: 's', maxConcurrency: 64, minRttIntervalMs: 30_000 });
});

test('refuses a limit without scope, a zero or fractional limit, and bounds out of order, naming the field', () => {
  const errors = (limit: Record<string, unknown>): string => {
    const r = decode(limit);
    assert.equal(r.ok, false);
    return r.ok ? '' : r.errors.join('\n');
  };
  assert.match(errors({ maxConcurrency: 3 }), /concurrencyLimit\.scope: must be a non-empty string/);
  assert.match(errors({ scope: 's', maxConcurrency: 0 }), /concurrencyLimit\.maxConcurrency: must be an integer in \[1, /);
  assert.match(errors({ scope: 's', maxConcurrency: 2.5 }), /maxConcurrency: must be an integer/);
  assert.match(errors({ scope: 's', adaptive: { bufferPercent: 150 } }), /adaptive\.bufferPercent: must be an integer in \[0, 100\]/);
  assert.match(errors({ scope: 's', adaptive: { minConcurrency: 10, maxConcurrency: 5 } }), /minConcurrency: 10 is above maxConcurrency 5/);
});
