// Property-based round trip: for every configuration the control plane accepts (mutations of valid ones), translate()
// does not throw, the SDK decodes every resource it serves without a NACK, and compiles a MeshState that resolves.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EMPTY_MESH_STATE } from '../../../src/discovery/mesh-state.js';
import { compileMeshState } from '../../../src/discovery/xds/compile.js';
import { protos, RESOURCE_TYPE_URLS, type AnyMessage } from '../../../src/discovery/xds/protos.js';
import { ResourceCache } from '../../../src/discovery/xds/resource-cache.js';
import { INBOUND_LISTENER_PREFIX } from '../../../src/discovery/inbound-policy.js';
import { bounded, fuzzParams, mutateAll, mutationsOf } from '../../../test/fuzz/kit.js';
import { renderDocuments, seedConfigurations } from '../../../test/fuzz/config-corpus.js';
import { createMeshConfig, services } from '../config/mesh-config.js';
import { parseConfigText } from '../config/parse.js';
import { validateConfig } from '../config/validate.js';
import type { MeshConfig, XdsResources } from '../model.js';
import { registered } from './testdata/fixtures.js';
import { translate } from './translate.js';

const LIMIT_MS = 5000;
const SEEDS = seedConfigurations();
const NAMES = [...new Set(SEEDS.flat().map((d) => (d['metadata'] as { name?: unknown } | undefined)?.name).filter((n) => typeof n === 'string'))];

/** The configuration `docs` would be if the control plane accepted them, else undefined. */
function accepted(docs: readonly unknown[]): MeshConfig | undefined {
  const { resources, errors } = parseConfigText(renderDocuments(docs), 'fuzz.yaml');
  if (errors.length > 0 || validateConfig(resources).length > 0) return undefined;
  return createMeshConfig(resources, 1);
}

/**
 * Serves `out` to a fresh SDK resource cache, one State-of-the-World response per type with every resource
 * subscribed (what an ADS stream does), and returns every NACK line.
 */
function serveToSdk(out: XdsResources, cache = new ResourceCache()): string[] {
  const errors: string[] = [];
  for (const url of RESOURCE_TYPE_URLS) {
    const anys: AnyMessage[] = [...out[url].values()].map((r) => protos().toAny(r as { '@type': string }));
    const names = new Set(out[url].keys());
    errors.push(...cache.apply(url, '1', anys, names, names).errors);
  }
  return errors;
}

/** Translates `config`, serves it to the SDK and compiles every Service as a target and an inbound policy. */
function roundTrip(config: MeshConfig): void {
  const svcs = services(config).map((s) => s.metadata.name);
  const endpoints = svcs.map((service, i) => registered({ service, address: `10.1.${i >> 8}.${i & 255}`, port: 9000 }));
  const out = bounded('translate', LIMIT_MS, () => translate(config, endpoints));
  const cache = new ResourceCache();
  const nacks = serveToSdk(out, cache);
  assert.deepEqual(nacks, [], 'the SDK refused a resource translated from an accepted configuration');
  const state = compileMeshState({ targets: svcs, resources: cache, inbound: svcs }, EMPTY_MESH_STATE);
  for (const svc of svcs) {
    const target = state.targets.get(svc);
    assert.equal(target?.status, 'resolved', `target ${svc}: ${JSON.stringify(target)}`);
  }
  assert.ok([...out[RESOURCE_TYPE_URLS[0]].keys()].some((n) => n.startsWith(INBOUND_LISTENER_PREFIX) || n === 'weft/inbound'));
}

describe('translate round trip (fuzz)', () => {
  it('the seed configurations round-trip', () => {
    for (const docs of SEEDS) roundTrip(accepted(docs)!);
  });

  it('every accepted mutation of a valid configuration translates, is accepted by the SDK and compiles', () => {
    let acceptedCount = 0;
    const mutated = fc.constantFrom(...SEEDS).chain((docs) => mutationsOf(docs, 3, NAMES).map((list) => mutateAll(docs, list)));
    fc.assert(
      fc.property(mutated, (docs) => {
        const config = accepted(docs);
        if (config === undefined) return;
        acceptedCount++;
        roundTrip(config);
      }),
      fuzzParams(200),
    );
    assert.ok(acceptedCount > 0, 'some mutations were accepted (the round trip was exercised)');
  });
});
