// Tests of the FaultInjection kind and of ExtensionRef rule filters: schema, references, and delete protection.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { formatConfigError, type ConfigError } from '../model.js';
import { openDirStore } from './dir-store.js';
import { parseConfigText } from './parse.js';
import { validateConfig } from './validate.js';

const SVC = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: payments }
spec:
  ports: [{ name: http, port: 8080 }]
`;

const FAULT = (name: string, spec: string) => `apiVersion: weft.dev/v1alpha1
kind: FaultInjection
metadata: { name: ${name} }
spec:
${spec}`;

const ROUTE = (kind: 'HTTPRoute' | 'GRPCRoute', filters: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: ${kind}
metadata: { name: r }
spec:
  parentRefs: [{ kind: Service, name: payments }]
  rules:
  - backendRefs: [{ name: payments }]
    filters: ${filters}
`;

const REF = (name: string) => `[{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: FaultInjection, name: ${name} } }]`;

function check(...docs: string[]): string[] {
  const { resources, errors } = parseConfigText(docs.join('---\n'), 'f.yaml');
  const all: ConfigError[] = errors.length > 0 ? errors : validateConfig(resources);
  return all.map(formatConfigError);
}

describe('FaultInjection kind', () => {
  it('accepts delay, abort, headers and maxActiveFaults, with percentage defaulting to 100', () => {
    const { resources, errors } = parseConfigText(
      FAULT('chaos', `  delay: { fixedDelay: 200ms, percentage: 12.5 }\n  abort: { httpStatus: 503 }\n  headers: [{ name: x-chaos, value: "on" }]\n  maxActiveFaults: 3\n`),
      'f.yaml',
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(resources[0]!.spec, {
      delay: { fixedDelay: '200ms', percentage: 12.5 },
      abort: { httpStatus: 503, percentage: 100 },
      headers: [{ type: 'Exact', name: 'x-chaos', value: 'on' }],
      maxActiveFaults: 3,
    });
  });

  it('refuses bad specs with precise fields', () => {
    const errs = check(
      FAULT('a', '  abort: { httpStatus: 503, grpcStatus: 14 }\n'),
      FAULT('b', '  delay: { fixedDelay: 1.5s }\n'),
      FAULT('c', '  abort: { grpcStatus: 17, percentage: 101 }\n'),
      FAULT('d', '  abort: { httpStatus: 503, percentage: 0.00001 }\n'),
      FAULT('e', '  headers: [{ name: x, value: y }]\n'),
    );
    assert.equal(errs.length, 6, errs.join('\n'));
    assert.match(errs[0]!, /^f\.yaml: FaultInjection\/a: spec\.abort: needs exactly one of httpStatus/);
    assert.match(errs[1]!, /FaultInjection\/b: spec\.delay\.fixedDelay: must be a Gateway API duration/);
    assert.match(errs[2]!, /FaultInjection\/c: spec\.abort\.grpcStatus: /);
    assert.match(errs[3]!, /FaultInjection\/c: spec\.abort\.percentage: /);
    assert.match(errs[4]!, /FaultInjection\/d: spec\.abort\.percentage: must have at most 4 decimals/);
    assert.match(errs[5]!, /FaultInjection\/e: spec: needs a delay, an abort, or both/);
  });

  it('checks header regexes of a FaultInjection', () => {
    const errs = check(FAULT('x', '  abort: { httpStatus: 500 }\n  headers: [{ type: RegularExpression, name: x, value: "(?=a)" }]\n'));
    assert.equal(errs.length, 1);
    assert.match(errs[0]!, /FaultInjection\/x: spec\.headers\[0\]\.value: .*look-ahead/);
  });
});

describe('rules[].filters (ExtensionRef)', () => {
  for (const kind of ['HTTPRoute', 'GRPCRoute'] as const) {
    it(`${kind}: accepts a reference to an existing FaultInjection`, () => {
      assert.deepEqual(check(SVC, FAULT('chaos', '  abort: { httpStatus: 503 }\n'), ROUTE(kind, REF('chaos'))), []);
    });

    it(`${kind}: refuses a reference to a missing FaultInjection, naming file, resource and field`, () => {
      assert.deepEqual(check(SVC, FAULT('chaos', '  abort: { httpStatus: 503 }\n'), ROUTE(kind, REF("chaoss"))), [
        `f.yaml: ${kind}/r: spec.rules[0].filters[0].extensionRef.name: no FaultInjection named "chaoss" in the configuration (did you mean "chaos"?)`,
      ]);
    });

    it(`${kind}: refuses other filter types and groups, saying what Weft supports`, () => {
      const errs = check(SVC, ROUTE(kind, '[{ type: RequestHeaderModifier }]'));
      assert.equal(errs.length, 1, errs.join('\n'));
      assert.match(errs[0]!, /spec\.rules\[0\]\.filters\[0\]\.type: "RequestHeaderModifier" is not supported\. Weft supports only filters of type ExtensionRef naming a FaultInjection/);
      const group = check(SVC, ROUTE(kind, '[{ type: ExtensionRef, extensionRef: { group: example.com, kind: FaultInjection, name: x } }]'));
      assert.match(group.join('\n'), /extensionRef\.group: must be weft\.dev\. Weft supports only/);
      const two = check(SVC, FAULT('a', '  abort: { httpStatus: 503 }\n'), ROUTE(kind, `[${REF('a').slice(1, -1)}, ${REF('a').slice(1, -1)}]`));
      assert.match(two.join('\n'), /spec\.rules\[0\]\.filters\[1\]: at most one FaultInjection filter per rule/);
    });
  }
});

describe('deleting a FaultInjection', { timeout: 10_000 }, () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('is refused while a route references it, naming the route; allowed once it does not', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-fault-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'mesh.yaml'), [SVC, FAULT('chaos', '  abort: { httpStatus: 503 }\n'), ROUTE('HTTPRoute', REF('chaos'))].join('---\n'));
    const store = await openDirStore({ dir, watch: false });
    try {
      const res = await store.delete('faultinjection', 'chaos');
      assert.deepEqual(res, {
        ok: false,
        errors: [
          {
            file: path.join(dir, 'mesh.yaml'),
            resource: 'HTTPRoute/r',
            field: 'spec.rules[0].filters[0]',
            message: 'still references FaultInjection "chaos"; remove the filter from HTTPRoute/r first',
          },
        ],
      });
      assert.ok((await store.delete('httproute', 'r')).ok);
      assert.ok((await store.delete('fault', 'chaos')).ok);
    } finally {
      await store.close();
    }
  });
});
