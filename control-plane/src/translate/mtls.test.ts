// Tests of the mTLS translation (PeerAuthentication): Cluster transport sockets by the destination's mode, endpoint
// tlsMode metadata, inbound filter chains; decoded back by the SDK from the wire, and accepted by grpc-js-xds.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { protos, TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { decodeCluster } from '../../../src/discovery/xds/resources/cluster.js';
import { decodeClusterLoadAssignment } from '../../../src/discovery/xds/resources/cluster-load-assignment.js';
import { decodeInboundListener } from '../../../src/discovery/xds/resources/inbound-listener.js';
import { TLS_MODE_LABEL } from '../../../src/identity/mtls-wire.js';
import { meshConfig, registered, serviceYaml } from './testdata/fixtures.js';
import { translate } from './translate.js';

const PA = (name: string, mode: string, target?: string) =>
  `apiVersion: weft.dev/v1alpha1\nkind: PeerAuthentication\nmetadata: { name: ${name} }\nspec:\n${target ? `  targetRef: { kind: Service, name: ${target} }\n` : ''}  mtls: { mode: ${mode} }\n---\n`;

const CONFIG =
  serviceYaml('payments', ['http:8080']) +
  serviceYaml('legacy', ['http:80']) +
  serviceYaml('open', ['http:80']) +
  PA('mesh', 'STRICT') +
  PA('legacy', 'PERMISSIVE', 'legacy') +
  PA('open', 'DISABLE', 'open');

const wire = (r: ProtoObject & { '@type': string }): ProtoObject => protos().fromAny(protos().toAny(r));

describe('translate: mTLS (PeerAuthentication)', () => {
  const out = translate(meshConfig(CONFIG), [
    registered({ service: 'legacy', address: '10.0.0.1', port: 80, labels: { [TLS_MODE_LABEL]: 'weft' } }),
    registered({ service: 'legacy', address: '10.0.0.2', port: 80 }),
  ]);

  it('STRICT: every caller uses mTLS and accepts only the Service\'s SPIFFE ID', () => {
    const decoded = decodeCluster(wire(out[TYPE_URL.cluster].get('payments:8080')!));
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.errors.join('\n'));
    assert.deepEqual(decoded.value.tls, { when: 'always', peerIds: [{ kind: 'exact', value: 'spiffe://weft.local/ns/default/sa/payments', ignoreCase: false }] });
  });

  it('PERMISSIVE: mTLS only to endpoints that registered as serving it; DISABLE: plaintext', () => {
    const legacy = decodeCluster(wire(out[TYPE_URL.cluster].get('legacy:80')!));
    assert.ok(legacy.ok);
    assert.equal(legacy.value.tls?.when, 'endpoint-metadata');
    assert.deepEqual(legacy.value.tls?.when === 'endpoint-metadata' && [legacy.value.tls.field, legacy.value.tls.value], ['tlsMode', 'weft']);
    const cla = decodeClusterLoadAssignment(wire(out[TYPE_URL.clusterLoadAssignment].get('legacy:80')!));
    assert.ok(cla.ok);
    assert.deepEqual(
      cla.value.endpoints.map((e) => [e.address, e.transportSocketMatch]),
      [['10.0.0.1', { tlsMode: 'weft' }], ['10.0.0.2', undefined]],
    );
    const open = decodeCluster(wire(out[TYPE_URL.cluster].get('open:80')!));
    assert.ok(open.ok);
    assert.equal(open.value.tls, undefined);
  });

  it('inbound Listeners: a TLS-only chain (STRICT), TLS and plaintext chains (PERMISSIVE), plaintext (DISABLE)', () => {
    const chains = (name: string) => {
      const d = decodeInboundListener(wire(out[TYPE_URL.listener].get(name)!));
      assert.ok(d.ok, d.ok ? '' : d.errors.join('\n'));
      return d.value.policy.chains.map((c) => ({ tlsOnly: c.tlsOnly, plaintextOnly: c.plaintextOnly }));
    };
    assert.deepEqual(chains('weft/inbound/payments'), [{ tlsOnly: true, plaintextOnly: false }]);
    assert.deepEqual(chains('weft/inbound'), [{ tlsOnly: true, plaintextOnly: false }], 'the mesh-wide Listener takes the mesh-wide mode');
    assert.deepEqual(chains('weft/inbound/legacy'), [
      { tlsOnly: true, plaintextOnly: false },
      { tlsOnly: false, plaintextOnly: true },
    ]);
    assert.deepEqual(chains('weft/inbound/open'), [{ tlsOnly: false, plaintextOnly: false }]);
  });

  it('grpc-js-xds accepts the Clusters when its bootstrap names a `weft` certificate provider, and refuses STRICT without one', () => {
    const require = createRequire(import.meta.url);
    (require('@grpc/grpc-js-xds') as { register(): void }).register();
    const cds = require('@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type.js').ClusterResourceType.get() as {
      decode(ctx: unknown, any: { type_url: string; value: Buffer }): { error?: string; value?: { securityUpdate?: { subjectAltNameMatchers: unknown[] } } };
    };
    const ctx = (providers: object) => ({ server: { serverUri: '127.0.0.1:1', channelCreds: [], serverFeatures: [] }, bootstrap: { certificateProviders: providers, node: {}, xdsServers: [], authorities: {} } });
    const decode = (name: string, providers: object) => {
      const any = protos().toAny(out[TYPE_URL.cluster].get(name)!);
      return cds.decode(ctx(providers), { type_url: any.type_url, value: Buffer.from(any.value) });
    };
    const withWeft = { weft: { getInstance: () => ({}) } };
    const strict = decode('payments:8080', withWeft);
    assert.equal(strict.error, undefined);
    assert.equal(strict.value?.securityUpdate?.subjectAltNameMatchers.length, 1);
    assert.match(decode('payments:8080', {}).error ?? '', /Unmatched .*instance_name: weft/);
    const permissive = decode('legacy:80', {});
    assert.equal(permissive.error, undefined, 'PERMISSIVE needs no provider: grpc-js-xds stays on plaintext');
    assert.equal(permissive.value?.securityUpdate, undefined);
  });
});
