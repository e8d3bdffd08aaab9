// Property-based round trip: for every configuration the control plane accepts (mutations of valid ones), translate()
// does not throw, the SDK decodes every resource it serves without a NACK, compiles a MeshState that resolves, and
// its policy compilers (HTTP routes, gRPC route plans, inbound pipelines) build and match requests without throwing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { compileTarget } from '../../../src/client/http/compile.js';
import { compileGrpcTarget } from '../../../src/client/grpc/route-plan.js';
import type { MeshState } from '../../../src/discovery/mesh-state.js';
import { ProviderPool } from '../../../src/policy/authn/index.js';
import { BucketPool, compileInboundPolicy, type InboundRequest } from '../../../src/server/inbound/pipeline.js';
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
async function roundTrip(config: MeshConfig): Promise<void> {
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
  await Promise.all(compilePolicies(state)); // a rejected inbound check would be a throw, late
}

/** Requests whose facts sit at the edges of what route and policy matchers read. */
const PATHS = ['/', '', '/charge', '/charge/', '/CHARGE', '/a//b', '/%2e%2e/x', '/items/[(?=]', `/${'x'.repeat(2000)}`, '/demo.inventory.v1.Inventory/Get'];
const HEADERS: Record<string, string>[] = [{}, { 'x-canary': '1', 'x-user': '%C3%BC', authorization: 'Bearer not.a.jwt' }, { 'x-tenant': '', cookie: 'a=b; c' }];

/**
 * Compiles every resolved target the way the SDK's HTTP and gRPC clients do, and every inbound policy the way a
 * server does, then runs each matcher over odd requests: nothing may throw (the SDK accepted these resources).
 */
function compilePolicies(state: MeshState): Promise<unknown>[] {
  const pending: Promise<unknown>[] = [];
  const deps = { nowMs: () => 0, providers: new ProviderPool({ nowMs: () => 0, fetch: () => Promise.reject(new Error('no network in tests')) }, () => {}), buckets: new BucketPool(() => 0) };
  for (const [authority, target] of state.targets) {
    if (target.status !== 'resolved') continue;
    const http = compileTarget(authority, target.routes, new Map(), () => 0.5);
    const plan = compileGrpcTarget(authority, target.routes, grpc, () => 0.5);
    for (const path of PATHS) {
      for (const headers of HEADERS) {
        for (const r of http.compiledRoutes) r.matches({ method: 'POST', path, query: 'v=1&v', headers, authority, scheme: 'http' });
        plan.configSelector.invoke(path, grpc.Metadata.fromHttp2Headers(headers), 0);
      }
    }
  }
  for (const [service, inbound] of state.inbound ?? []) {
    if (inbound.status !== 'resolved') continue;
    const compiled = compileInboundPolicy(inbound.policy, deps);
    for (const path of PATHS) {
      for (const headers of HEADERS) {
        for (const tls of [false, true]) {
          const req: InboundRequest = {
            tls, method: 'GET', path, rawPath: `${path}?q=1`, authority: `${service}:8080`, header: (n) => headers[n], principal: tls ? 'spiffe://weft.local/ns/default/sa/x' : undefined,
            peerVerified: tls, localPort: 8080, jwt: undefined,
          };
          const decision = compiled.check(req);
          if (decision instanceof Promise) pending.push(decision); // JWT checks settle later: awaited by the caller
        }
      }
    }
  }
  return pending;
}

describe('translate round trip (fuzz)', () => {
  it('the seed configurations round-trip', async () => {
    for (const docs of SEEDS) await roundTrip(accepted(docs)!);
  });

  it('every accepted mutation of a valid configuration translates, is accepted by the SDK and compiles', async () => {
    let acceptedCount = 0;
    const mutated = fc.constantFrom(...SEEDS).chain((docs) => mutationsOf(docs, 3, NAMES).map((list) => mutateAll(docs, list)));
    await fc.assert(
      fc.asyncProperty(mutated, async (docs) => {
        const config = accepted(docs);
        if (config === undefined) return;
        acceptedCount++;
        await roundTrip(config);
      }),
      fuzzParams(80),
    );
    assert.ok(acceptedCount > 0, 'some mutations were accepted (the round trip was exercised)');
  });
});
