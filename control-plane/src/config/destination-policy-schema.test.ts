// Tests the DestinationPolicy kind: defaults, refused fields with precise messages, and the targetRef rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from './parse.js';
import { validateConfig } from './validate.js';
import type { DestinationPolicySpec } from './destination-policy-schema.js';

const SVC = 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: payments }\nspec:\n  ports: [{ name: http, port: 8080 }]\n---\n';
const policy = (spec: string, name = 'payments'): string =>
  `apiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\nmetadata: { name: ${name} }\nspec:\n  targetRef: { kind: Service, name: payments }\n${spec}---\n`;

function parse(yaml: string): { specs: DestinationPolicySpec[]; errors: string[] } {
  const { resources, errors } = parseConfigText(yaml, 'p.yaml');
  const all = errors.length > 0 ? errors : validateConfig(resources);
  return {
    specs: resources.filter((r) => r.kind === 'DestinationPolicy').map((r) => r.spec as DestinationPolicySpec),
    errors: all.map((e) => `${e.field ?? ''}: ${e.message}`),
  };
}

test('a full policy parses with its defaults', () => {
  const { specs, errors } = parse(
    SVC +
      policy(`  loadBalancer: { type: RingHash, ringHash: { key: { header: X-User } } }
  circuitBreaker: { maxRequests: 100 }
  outlierDetection: { consecutive5xx: 3, interval: 1s, successRate: {} }
  retryBudget: {}
`),
  );
  assert.deepEqual(errors, []);
  const s = specs[0]!;
  assert.deepEqual(s.targetRef, { group: '', kind: 'Service', name: 'payments' });
  assert.deepEqual(s.loadBalancer, { type: 'RingHash', ringHash: { key: { header: 'x-user' }, minRingSize: 1024 } });
  assert.deepEqual(s.circuitBreaker, { maxRequests: 100 });
  assert.deepEqual(s.outlierDetection?.successRate, { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 });
  assert.deepEqual(s.retryBudget, { percent: 20, minRetriesPerSecond: 10 });
  assert.deepEqual(parse(SVC + policy('  loadBalancer: { type: LeastRequest, leastRequest: {} }\n')).specs[0]!.loadBalancer, {
    type: 'LeastRequest',
    leastRequest: { choiceCount: 2 },
  });
});

test('bad fields are refused with the field and the reason', () => {
  const cases: [string, RegExp][] = [
    ['  loadBalancer: { type: Maglev }\n', /spec\.loadBalancer\.type/],
    ['  loadBalancer: { type: RoundRobin, ringHash: {} }\n', /spec\.loadBalancer\.ringHash: is only read with type: RingHash/],
    ['  loadBalancer: { type: RingHash, ringHash: { key: { header: a, cookie: b } } }\n', /spec\.loadBalancer\.ringHash\.key/],
    ['  loadBalancer: { type: LeastRequest, leastRequest: { choiceCount: 1 } }\n', /choiceCount/],
    ['  circuitBreaker: { maxRequest: 1 }\n', /maxRequest/],
    ['  outlierDetection: { maxEjectionPercent: 150 }\n', /maxEjectionPercent/],
    ['  outlierDetection: { interval: 10 }\n', /interval/],
    ['  retryBudget: { percent: 120 }\n', /retryBudget\.percent/],
    ['', /needs at least one of loadBalancer/],
  ];
  for (const [spec, expected] of cases) {
    const { errors } = parse(SVC + policy(spec));
    assert.ok(errors.some((e) => expected.test(e)), `${spec.trim()} → ${errors.join(' | ')}`);
  }
});

test('targetRef must name a Service that exists, and a Service takes one policy', () => {
  const missing = parse(policy('  retryBudget: {}\n'));
  assert.deepEqual(missing.errors, ['spec.targetRef.name: no Service named "payments" in the configuration']);
  const twice = parse(SVC + policy('  retryBudget: {}\n', 'a') + policy('  circuitBreaker: {}\n', 'b'));
  assert.deepEqual(twice.errors, ['spec.targetRef.name: Service "payments" already has DestinationPolicy/a; a Service takes one DestinationPolicy (merge them)']);
  const kind = parse(SVC + policy('  retryBudget: {}\n').replace('kind: Service, name', 'kind: Gateway, name'));
  assert.ok(kind.errors.some((e) => /targetRef\.kind: must be Service/.test(e)), kind.errors.join(' | '));
});

test('a PeakEWMA decay of zero is refused by field (the SDK NACKs a Cluster whose decay_ms is 0; found by the translate fuzz test)', () => {
  for (const decay of ['0s', '0ms', '0h0m']) {
    const { errors } = parse(SVC + policy(`  loadBalancer: { type: PeakEWMA, peakEWMA: { decay: ${decay} } }\n`));
    assert.deepEqual(errors, ['spec.loadBalancer.peakEWMA.decay: must be greater than 0'], decay);
  }
  assert.deepEqual(parse(SVC + policy('  loadBalancer: { type: PeakEWMA, peakEWMA: { decay: 1ms } }\n')).errors, []);
});
