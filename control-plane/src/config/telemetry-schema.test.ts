// Tests of the Telemetry kind: the filter expression subset, refusals naming file, resource and field, one Telemetry
// per level, and its translation into HCM tracing / access_log (most specific wins, field by field).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatConfigError, type ConfigError } from '../model.js';
import { parseConfigText } from './parse.js';
import { validateConfig } from './validate.js';
import { resolveKind } from './kinds.js';
import { parseAccessLogFilter } from './telemetry-schema.js';
import { createMeshConfig } from './mesh-config.js';
import { translate } from '../translate/translate.js';
import { TYPE_URL } from '../../../src/discovery/xds/protos.js';

const SVC = (name: string, ns?: string) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name}${ns ? `, namespace: ${ns}` : ''} }
spec:
  ports: [{ name: http, port: 8080 }]
`;

const tel = (name: string, spec: string, ns?: string) => `apiVersion: weft.dev/v1alpha1
kind: Telemetry
metadata: { name: ${name}${ns ? `, namespace: ${ns}` : ''} }
spec:
${spec}`;

function check(...docs: string[]): string[] {
  const { resources, errors } = parseConfigText(docs.join('---\n'), 't.yaml');
  const all: ConfigError[] = errors.length > 0 ? errors : validateConfig(resources);
  return all.map(formatConfigError);
}

describe('Telemetry kind', () => {
  it('parses the filter subset: && binds tighter than ||, > and < become >= and <= of the next integer', () => {
    assert.deepEqual(parseAccessLogFilter('response.code >= 500 || response.duration > 100ms && response.code == 200'), [
      [{ field: 'response.code', op: 'GE', value: 500 }],
      [
        { field: 'response.duration', op: 'GE', value: 101 },
        { field: 'response.code', op: 'EQ', value: 200 },
      ],
    ]);
    assert.deepEqual(parseAccessLogFilter('response.duration < 2s'), [[{ field: 'response.duration', op: 'LE', value: 1999 }]]);
    assert.match(String(parseAccessLogFilter('request.headers["x"] == "y"')), /is not supported/);
    assert.match(String(parseAccessLogFilter('response.code >= 5s')), /plain number/);
  });

  it('refuses bad values naming the file, resource and field', () => {
    const errs = check(
      SVC('payments'),
      tel('a', '  tracing: [{ randomSamplingPercentage: 101 }]\n'),
      tel('b', '  accessLogging: [{ filter: { expression: "response.size > 3" } }]\n'),
      tel('c', '  targetRefs: [{ kind: Service, name: paymnts }]\n  tracing: [{ randomSamplingPercentage: 1 }]\n'),
      tel('d', '  {}\n'),
    );
    assert.equal(errs.length, 3, errs.join('\n'));
    assert.match(errs[0]!, /^t\.yaml: Telemetry\/a: spec\.tracing\[0\]\.randomSamplingPercentage: must be between 0 and 100/);
    assert.match(errs[1]!, /^t\.yaml: Telemetry\/b: spec\.accessLogging\[0\]\.filter\.expression: 'response\.size > 3' is not supported/);
    assert.match(errs[2]!, /Telemetry\/d: spec: needs tracing, accessLogging, or both/);
    const refs = check(SVC('payments'), tel('c', '  targetRefs: [{ kind: Service, name: paymnts }]\n  tracing: [{ randomSamplingPercentage: 1 }]\n'));
    assert.match(refs[0]!, /Telemetry\/c: spec\.targetRefs\[0\]\.name: no Service named "paymnts".*did you mean "payments"/);
  });

  it('takes one Telemetry per Service, namespace and the mesh', () => {
    const errs = check(SVC('payments'), tel('m1', '  tracing: [{}]\n'), tel('m2', '  tracing: [{}]\n', 'weft-system'));
    assert.equal(errs.length, 1);
    assert.match(errs[0]!, /Telemetry\/m2: the mesh already has Telemetry\/m1/);
    assert.equal(resolveKind('telemetries'), 'Telemetry');
  });

  it('translates into HCM tracing.random_sampling and access_log, the most specific Telemetry winning per field', () => {
    const { resources, errors } = parseConfigText(
      [
        SVC('payments'),
        SVC('orders', 'shop'),
        SVC('quiet'),
        tel('mesh', '  tracing: [{ randomSamplingPercentage: 1 }]\n  accessLogging: [{ filter: { expression: "response.code >= 500 || response.duration > 100ms" } }]\n'),
        tel('shop', '  tracing: [{ randomSamplingPercentage: 50 }]\n', 'shop'),
        tel('pay', '  targetRefs: [{ kind: Service, name: payments }]\n  tracing: [{ randomSamplingPercentage: 100 }]\n  accessLogging: [{}]\n'),
        tel('quiet', '  targetRefs: [{ kind: Service, name: quiet }]\n  accessLogging: [{ disabled: true }]\n'),
      ].join('---\n'),
      't.yaml',
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(validateConfig(resources), []);
    const xds = translate(createMeshConfig(resources, 1), []);
    const hcm = (name: string) => (xds[TYPE_URL.listener]!.get(name)!['api_listener'] as { api_listener: Record<string, unknown> }).api_listener;
    const inbound = (name: string) =>
      ((xds[TYPE_URL.listener]!.get(name)!['filter_chains'] as { filters: { typed_config: Record<string, unknown> }[] }[])[0]!.filters[0]!.typed_config);
    assert.deepEqual(hcm('payments')['tracing'], { random_sampling: { value: 100 } });
    assert.deepEqual(hcm('payments')['access_log'], [{ name: 'envoy.access_loggers.stdout', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog' } }]);
    assert.deepEqual(hcm('orders')['tracing'], { random_sampling: { value: 50 } });
    assert.deepEqual((hcm('orders')['access_log'] as { filter: unknown }[])[0]!.filter, {
      or_filter: {
        filters: [
          { status_code_filter: { comparison: { op: 'GE', value: { default_value: 500, runtime_key: 'weft.access_log.status' } } } },
          { duration_filter: { comparison: { op: 'GE', value: { default_value: 101, runtime_key: 'weft.access_log.duration' } } } },
        ],
      },
    });
    assert.deepEqual(hcm('quiet')['tracing'], { random_sampling: { value: 1 } });
    assert.equal(hcm('quiet')['access_log'], undefined);
    assert.deepEqual(inbound('weft/inbound/payments')['tracing'], { random_sampling: { value: 100 } });
    assert.deepEqual(inbound('weft/inbound')['tracing'], { random_sampling: { value: 1 } });
  });
});
