// Property-based tests of the SDK's xDS decoding: arbitrary bytes and mutated valid encodings of every resource type
// (and the HTTP filters inside Listeners) decode to a value or to clear errors, and never throw.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bounded, fuzzParams, mutateAll, mutationsOf } from '../../../../test/fuzz/kit.js';
import { seedConfigurations } from '../../../../test/fuzz/config-corpus.js';
import { parseConfigText } from '../../../../control-plane/src/config/parse.js';
import { createMeshConfig, services } from '../../../../control-plane/src/config/mesh-config.js';
import { translate } from '../../../../control-plane/src/translate/translate.js';
import { registered } from '../../../../control-plane/src/translate/testdata/fixtures.js';
import { protos, RESOURCE_TYPE_URLS, type AnyMessage, type ProtoObject, type ResourceTypeUrl } from '../protos.js';
import { ResourceCache } from '../resource-cache.js';
import { RESOURCE_TYPES } from './index.js';
import { testRoot } from '../../../../control-plane/src/ca/ca-test-kit.js';
import { trustBundleSecrets } from '../../../../control-plane/src/ca/trust-bundle.js';

const LIMIT_MS = 5000;

/** Every resource the control plane serves for the seed configurations, plus an SDS trust bundle. */
function validResources(): (ProtoObject & { '@type': string })[] {
  const bundle = [...trustBundleSecrets([testRoot('weft.local', 'A').pem]).values()] as (ProtoObject & { '@type': string })[];
  const out = [...bundle];
  for (const docs of seedConfigurations()) {
    const { resources } = parseConfigText(docs.map((d) => JSON.stringify(d)).join('\n---\n'), 'seed.yaml');
    const config = createMeshConfig(resources, 1);
    const endpoints = services(config).map((s, i) => registered({ service: s.metadata.name, address: `10.2.0.${i + 1}`, port: 9000 }));
    const xds = translate(config, endpoints);
    for (const url of RESOURCE_TYPE_URLS) for (const r of xds[url].values()) out.push(r as ProtoObject & { '@type': string });
  }
  return out;
}

const VALID = validResources();

/**
 * Applies `any` as a one-resource response of `typeUrl` to a fresh cache, subscribed to whatever name it decodes
 * to, and returns the NACK lines. Throws only if the SDK does (the property under test).
 */
function applyOne(typeUrl: ResourceTypeUrl, any: AnyMessage): readonly string[] {
  let name = '';
  try {
    name = RESOURCE_TYPES[typeUrl].nameOf(protos().fromAny(any));
  } catch {
    // undecodable: the cache must say so itself
  }
  const names = new Set([name]);
  return bounded('decode', LIMIT_MS, () => new ResourceCache().apply(typeUrl, '1', [any], names, names).errors);
}

/** Every NACK line is one resource's problem in words: `resource '<name>': ...` or `resource index <i>: ...`. */
function assertClear(errors: readonly string[]): void {
  for (const line of errors) assert.match(line, /^resource ('.*'|index \d+): \S/s, line);
}

describe('xDS decoding (fuzz)', () => {
  it('the valid resources decode (what the mutations start from)', () => {
    assert.ok(VALID.length > 20);
    for (const r of VALID) assert.deepEqual(applyOne(r['@type'] as ResourceTypeUrl, protos().toAny(r)), [], String(r['name']));
  });

  it('arbitrary bytes as any resource type: refused with a clear error or decoded, never thrown', () => {
    const arb = fc.tuple(fc.constantFrom(...RESOURCE_TYPE_URLS), fc.uint8Array({ maxLength: 300 }));
    fc.assert(
      fc.property(arb, ([typeUrl, bytes]) => assertClear(applyOne(typeUrl, { type_url: typeUrl, value: bytes }))),
      fuzzParams(),
    );
  });

  it('valid encodings with bytes flipped, cut or inserted: refused or decoded, never thrown', () => {
    const arb = fc.constantFrom(...VALID).chain((r) => {
      const bytes = protos().toAny(r).value;
      return fc
        .array(fc.tuple(fc.nat({ max: Math.max(0, bytes.length - 1) }), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'cut', 'insert')), {
          minLength: 1,
          maxLength: 4,
        })
        .map((edits) => {
          let out = Uint8Array.from(bytes);
          for (const [at, byte, op] of edits) {
            if (op === 'set') out[at] = byte;
            else if (op === 'cut') out = out.slice(0, at);
            else out = Uint8Array.from([...out.slice(0, at), byte, ...out.slice(at)]);
          }
          return { typeUrl: r['@type'] as ResourceTypeUrl, value: out };
        });
    });
    fc.assert(fc.property(arb, ({ typeUrl, value }) => assertClear(applyOne(typeUrl, { type_url: typeUrl, value }))), fuzzParams(150));
  });

  it('valid resources with fields dropped, retyped or set to odd values (filters included): never thrown', () => {
    const arb = fc.constantFrom(...VALID).chain((r) => mutationsOf(r, 3).map((list) => mutateAll(r, list)));
    let decoded = 0;
    fc.assert(
      fc.property(arb, (mutated) => {
        const typeUrl = VALID.find((v) => v['@type'] === mutated['@type'])?.['@type'] as ResourceTypeUrl | undefined;
        if (typeUrl === undefined) return; // the mutation changed the resource's own type: nothing to send it as
        let any: AnyMessage;
        try {
          any = protos().toAny(mutated);
        } catch {
          return; // protobufjs cannot encode it: no server could send it either
        }
        decoded++;
        assertClear(applyOne(typeUrl, any));
      }),
      fuzzParams(200),
    );
    assert.ok(decoded > 0);
  });
});
