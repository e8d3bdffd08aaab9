// Tests that an HCM's tracing / access_log (as Weft's control plane writes them, through the wire) decode into a
// TelemetryPolicy, that filters evaluate as Envoy's do, and that what Weft cannot honour is refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protos, TYPE_URL, type ProtoObject } from '../protos.js';
import { decodeListener } from './listener.js';
import { accessLogMatches, NO_TELEMETRY } from '../../telemetry-policy.js';
import { hcmTelemetryFields } from '../../../../control-plane/src/translate/telemetry.js';
import { parseAccessLogFilter, type AccessLogFilterExpr } from '../../../../control-plane/src/config/telemetry-schema.js';

const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } };
const rds = { rds: { route_config_name: 'payments', config_source: { ads: {} } }, http_filters: [ROUTER] };

function wire(extra: ProtoObject): ProtoObject {
  return protos().fromAny(protos().toAny({ '@type': TYPE_URL.listener, name: 'payments', api_listener: { api_listener: { '@type': TYPE_URL.httpConnectionManager, ...rds, ...extra } } }));
}

const parsed = (e: string): AccessLogFilterExpr => parseAccessLogFilter(e) as AccessLogFilterExpr;

test('no tracing and no access_log decode to NO_TELEMETRY', () => {
  const r = decodeListener(wire({}));
  assert.ok(r.ok);
  assert.equal(r.value.telemetry, NO_TELEMETRY);
});

test("the control plane's fields round-trip: sampling percentage and an or/and filter that matches as Envoy's", () => {
  const fields = hcmTelemetryFields({ samplingPercent: 12.5, accessLogging: { disabled: false, filter: { expression: 'x', parsed: parsed('response.code >= 500 || response.duration > 100ms && response.code == 200') } } });
  const r = decodeListener(wire(fields));
  assert.ok(r.ok, r.ok ? '' : r.errors.join('; '));
  const t = r.value.telemetry;
  assert.equal(t.samplingPercent, 12.5);
  assert.equal(accessLogMatches(t, 503, 1), true);
  assert.equal(accessLogMatches(t, 200, 50), false);
  assert.equal(accessLogMatches(t, 200, 101), true);
  assert.equal(accessLogMatches(t, 404, 500), false);
  assert.notEqual(t.key, '');
});

test('tracing without random_sampling means 100 % (Envoy default); unfiltered access_log logs everything', () => {
  const r = decodeListener(wire({ tracing: {}, access_log: [{ name: 'x', typed_config: { '@type': TYPE_URL.stdoutAccessLog } }] }));
  assert.ok(r.ok);
  assert.equal(r.value.telemetry.samplingPercent, 100);
  assert.equal(accessLogMatches(r.value.telemetry, 0, 0), true);
});

test('refuses (NACKs) a logger or filter Weft cannot honour, naming the field', () => {
  const bad = decodeListener(
    wire({
      tracing: { random_sampling: { value: 150 } },
      access_log: [
        { name: 'als', typed_config: { '@type': TYPE_URL.router } },
        { name: 'x', typed_config: { '@type': TYPE_URL.stdoutAccessLog }, filter: { not_health_check_filter: {} } },
      ],
    }),
  );
  assert.equal(bad.ok, false);
  const errors = bad.ok ? [] : bad.errors;
  assert.match(errors[0]!, /tracing\.random_sampling\.value: 150 is not a percentage/);
  assert.match(errors[1]!, /access_log\[0\]\.typed_config: logger '.*Router' is not supported/);
  assert.match(errors[2]!, /access_log\[1\]\.filter: filter 'not_health_check_filter' is not supported/);
});
