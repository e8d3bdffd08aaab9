// Tests the admin API over real HTTP on loopback, against the directory config store in a temp dir.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TYPE_URL } from '../../../src/discovery/xds/protos.js';
import type { ConfigStore } from '../model.js';
import { openDirStore } from '../config/dir-store.js';
import { Registry } from '../registry/registry.js';
import type { ClientStatus } from '../server/ads-stream.js';
import type { ConfigDumpResult } from '../server/ads-server.js';
import { MAX_ADMIN_BODY_BYTES, startAdminServer, type AdminServer } from './admin-api.js';
import { recordingLogger } from '../ca/ca-test-kit.js';

const SERVICE = (name: string) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: [{ name: http, port: 8080 }]
`;
const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: pay-route }
spec:
  parentRefs: [{ kind: Service, name: payments }]
  rules: [{ backendRefs: [{ name: payments, port: 8080 }] }]
`;

const CLIENT: ClientStatus = {
  streamId: 1,
  nodeId: 'checkout-7f9c',
  service: 'checkout',
  peer: '127.0.0.1:5555',
  connectedAtMs: 42,
  userAgent: 'weft 0.1.0',
  types: [{ typeUrl: TYPE_URL.cluster, subscribed: ['payments:8080'], sentVersion: '3', sentNonce: '9', ackedVersion: '2', nack: { message: 'bad', version: '3', nonce: '9', atMs: 50 } }],
};

describe('admin API', { timeout: 15_000 }, () => {
  let dir = '';
  let store: ConfigStore;
  let admin: AdminServer;
  const registry = new Registry();
  const ads = {
    clients: () => [CLIENT],
    configDump: (id: string): ConfigDumpResult =>
      'checkout-7f9c'.startsWith(id) ? { ok: true, dump: { nodeId: 'checkout-7f9c', clients: [] } } : id === 'amb' ? { ok: false, reason: 'ambiguous', candidates: ['amb-1', 'amb-2'] } : { ok: false, reason: 'not-found' },
  };
  const TOKEN = 'admin-api-test-operator-token';
  const call = async (method: string, p: string, body?: string) => {
    const res = await fetch(`${admin.url}${p}`, { method, headers: { authorization: `Bearer ${TOKEN}` }, ...(body === undefined ? {} : { body }) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-admin-'));
    store = await openDirStore({ dir, watch: false });
    admin = await startAdminServer({ store, registry, ads, host: '127.0.0.1', port: 0, nowMs: () => 1_000, adminToken: TOKEN });
  });
  after(async () => {
    await admin.close();
    await store.close();
    registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies YAML and reports what changed and the new generation', async () => {
    const r = await call('POST', '/v1/apply', `${SERVICE('payments')}---\n${ROUTE}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json['changed'], ['HTTPRoute/pay-route', 'Service/payments']);
    assert.equal(r.json['generation'], store.current().generation);
    const again = await call('POST', '/v1/apply', SERVICE('payments'));
    assert.deepEqual(again.json['changed'], []);
  });

  it('validates only with dryRun=true', async () => {
    const generation = store.current().generation;
    const ok = await call('POST', '/v1/apply?dryRun=true', SERVICE('ledger'));
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json['changed'], ['Service/ledger']);
    assert.equal(ok.json['dryRun'], true);
    assert.equal(store.current().generation, generation);
    assert.equal((await call('GET', '/v1/resources/Service/ledger')).status, 404);
    const bad = await call('POST', '/v1/apply?dryRun=true', ROUTE.replace('name: payments, port', 'name: nowhere, port'));
    assert.equal(bad.status, 400);
  });

  it('refuses bad config with every error, naming the source, and changes nothing', async () => {
    const generation = store.current().generation;
    const r = await call('POST', '/v1/apply?source=mesh%2Froutes.yaml', ROUTE.replace('name: payments, port', 'name: nowhere, port'));
    assert.equal(r.status, 400);
    const errors = r.json['errors'] as { file?: string; resource?: string; message: string }[];
    assert.ok(errors.length >= 1);
    assert.ok(errors.some((e) => e.resource === 'HTTPRoute/pay-route' && /nowhere/.test(e.message)), JSON.stringify(errors));
    assert.equal(store.current().generation, generation);
    const syntax = await call('POST', '/v1/apply?source=x.yaml', 'kind: [');
    assert.equal(syntax.status, 400);
    assert.equal((syntax.json['errors'] as { file: string }[])[0]?.file, 'x.yaml');
  });

  it('lists resources, filters by kind (aliases too) and gets one', async () => {
    const all = await call('GET', '/v1/resources');
    assert.deepEqual((all.json['resources'] as { kind: string }[]).map((r) => r.kind), ['HTTPRoute', 'Service']);
    const routes = await call('GET', '/v1/resources?kind=HTTPRoute,grpcroutes');
    assert.deepEqual((routes.json['resources'] as { metadata: { name: string } }[]).map((r) => r.metadata.name), ['pay-route']);
    const one = await call('GET', '/v1/resources/svc/payments');
    assert.equal(one.status, 200);
    assert.equal((one.json['metadata'] as { name: string }).name, 'payments');
    const badKind = await call('GET', '/v1/resources?kind=Gateway');
    assert.equal(badKind.status, 400);
    assert.match(String(badKind.json['error']), /Gateway.*not a kind/);
  });

  it('deletes, refusing a delete that would break a reference', async () => {
    const blocked = await call('DELETE', '/v1/resources/Service/payments');
    assert.equal(blocked.status, 400);
    assert.match(JSON.stringify(blocked.json['errors']), /pay-route/);
    const del = await call('DELETE', '/v1/resources/HTTPRoute/pay-route');
    assert.equal(del.status, 200);
    assert.deepEqual(del.json['changed'], ['HTTPRoute/pay-route']);
    assert.equal((await call('DELETE', '/v1/resources/HTTPRoute/pay-route')).status, 404);
  });

  it('lists endpoints and shows those of unconfigured services in status', async () => {
    const a = registry.register({ service: 'payments', address: '10.0.0.1', port: 8080 }, 5_000);
    registry.register({ service: 'ghost', address: '10.0.0.2', port: 80 });
    registry.register({ service: 'payments', portName: 'grpc', address: '10.0.0.3', port: 9090 });
    assert.ok(a.ok);
    const eps = await call('GET', '/v1/endpoints');
    const list = eps.json['endpoints'] as { service: string; routed: boolean; notRoutedReason?: string; expiresInMs: number }[];
    assert.deepEqual(
      list.map((e) => [e.service, e.routed, e.notRoutedReason]),
      [['ghost', false, "Service 'ghost' is not configured"], ['payments', true, undefined], ['payments', false, "Service 'payments' has no port named 'grpc'"]],
    );
    const registered = registry.endpoints().find((e) => e.leaseId === a.value.leaseId);
    assert.equal(list[1]?.expiresInMs, registered!.expiresAtMs - 1_000, 'expiresInMs is measured from the injected clock');
    const status = await call('GET', '/v1/status');
    assert.equal(status.json['endpoints'], 3);
    assert.deepEqual((status.json['unroutedEndpoints'] as { service: string }[]).map((e) => e.service), ['ghost', 'payments']);
    assert.equal(status.json['generation'], store.current().generation);
    assert.deepEqual(status.json['configErrors'], []);
    assert.deepEqual(status.json['clients'], [CLIENT]);
  });

  it('serves config dumps by node id prefix, with 404 and 409', async () => {
    const ok = await call('GET', '/v1/config-dump/checkout');
    assert.equal(ok.status, 200);
    assert.equal(ok.json['nodeId'], 'checkout-7f9c');
    assert.equal((await call('GET', '/v1/config-dump/zzz')).status, 404);
    const amb = await call('GET', '/v1/config-dump/amb');
    assert.equal(amb.status, 409);
    assert.deepEqual(amb.json['candidates'], ['amb-1', 'amb-2']);
  });

  it('answers unknown paths, wrong methods and oversize bodies with a JSON error', async () => {
    const missing = await call('GET', '/v1/nope');
    assert.equal(missing.status, 404);
    assert.equal(typeof missing.json['error'], 'string');
    assert.equal((await call('GET', '/other')).status, 404);
    assert.equal((await call('GET', '/v1/apply')).status, 405);
    assert.equal((await call('PUT', '/v1/status')).status, 405);
    const big = await call('POST', '/v1/apply', 'x'.repeat(MAX_ADMIN_BODY_BYTES + 1));
    assert.equal(big.status, 413);
    assert.match(String(big.json['error']), /larger than/);
  });
});

describe('admin API operator token', { timeout: 15_000 }, () => {
  const TOKEN = 'the-right-operator-token-0123456789';
  let dir = '';
  let store: ConfigStore;
  let admin: AdminServer;
  const registry = new Registry();
  const logger = recordingLogger();
  const ads = { clients: () => [], configDump: (): ConfigDumpResult => ({ ok: false, reason: 'not-found' }) };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-admin-auth-'));
    store = await openDirStore({ dir, watch: false });
    admin = await startAdminServer({ store, registry, ads, host: '127.0.0.1', port: 0, adminToken: TOKEN, logger });
  });
  after(async () => {
    await admin.close();
    await store.close();
    registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses every endpoint, known or not, without the token or with a wrong one (401, logged), and changes nothing', async () => {
    const endpoints: [string, string][] = [
      ['POST', '/v1/apply'], ['GET', '/v1/resources'], ['GET', '/v1/resources/Service/x'], ['DELETE', '/v1/resources/Service/x'],
      ['GET', '/v1/endpoints'], ['GET', '/v1/status'], ['GET', '/v1/config-dump/x'], ['POST', '/v1/tokens'],
      ['POST', '/v1/certificates'], ['GET', '/v1/ca'], ['POST', '/v1/ca/rotate'], ['GET', '/v1/stats'], ['GET', '/v1/stats/series?service=x'], ['GET', '/v1/nope'], ['GET', '/'],
    ];
    const headers: [string, Record<string, string>, RegExp][] = [
      ['missing', {}, /requires the operator token/],
      ['wrong', { authorization: 'Bearer the-wrong-operator-token-012345678' }, /operator token is wrong/],
      ['wrong (prefix of the right one)', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }, /operator token is wrong/],
      ['malformed', { authorization: TOKEN }, /must be 'Bearer <operator token>'/],
    ];
    const generation = store.current().generation;
    for (const [method, p] of endpoints) {
      for (const [what, h, message] of headers) {
        const res = await fetch(`${admin.url}${p}`, { method, headers: h, ...(method === 'GET' ? {} : { body: SERVICE('sneaky') }) });
        assert.equal(res.status, 401, `${what} token on ${method} ${p}`);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="weft-admin"');
        assert.match(((await res.json()) as { error: string }).error, message);
      }
    }
    assert.equal(store.current().generation, generation, 'nothing was applied');
    const refusals = logger.find('warn', /admin: request refused: operator token/);
    assert.equal(refusals.length, endpoints.length * headers.length);
    assert.equal(refusals[0]!.fields['peer'], '127.0.0.1');
    assert.equal(logger.find('warn', /operator token wrong.*"url":"\/v1\/apply"/).length, 2);
    const ok = await fetch(`${admin.url}/v1/status`, { headers: { authorization: `bearer ${TOKEN}` } });
    assert.equal(ok.status, 200, 'the scheme is case-insensitive (RFC 7235)');
  });
});
