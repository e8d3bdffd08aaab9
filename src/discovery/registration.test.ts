// Tests the registry client against a tiny in-test grpc-js Registry server: register, keep-alive, re-register, retry, close.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ProtoObject } from './xds/protos.js';
import { RegistryClient } from './registration.js';
import { startFakeRegistry } from './registration-test-kit.js';

async function until(cond: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('RegistryClient', { timeout: 20_000 }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const f of cleanups.reverse()) await f();
  });

  it('registers with the endpoint fields, keeps the lease alive every TTL/3 and deregisters on close', async () => {
    const registry = await startFakeRegistry();
    cleanups.push(() => registry.close());
    const client = new RegistryClient({ server: registry.address });
    cleanups.push(() => client.close());
    const reg = client.register({ service: 'payments', address: '127.0.0.1', port: 8080, portName: 'http', nodeId: 'n1' }, 300);
    assert.equal(await reg.registered(), true);
    const sent = registry.calls[0]!.request;
    assert.equal(sent['ttl_ms'], 300);
    assert.deepEqual(
      { ...(sent['endpoint'] as ProtoObject), locality: undefined, labels: undefined },
      { service: 'payments', address: '127.0.0.1', port: 8080, port_name: 'http', node_id: 'n1', weight: 0, locality: undefined, labels: undefined },
    );
    await until(() => registry.calls.filter((c) => c.method === 'KeepAlive').length >= 2);
    assert.equal(reg.status().state, 'registered');
    await reg.close();
    assert.equal(registry.calls.at(-1)!.method, 'Deregister');
    assert.equal(registry.leases.size, 0);
    const keepAlives = registry.calls.filter((c) => c.method === 'KeepAlive').length;
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(registry.calls.filter((c) => c.method === 'KeepAlive').length, keepAlives, 'no keep-alive after close');
  });

  it('registers again when the lease is lost (control plane restart answers NOT_FOUND)', async () => {
    const registry = await startFakeRegistry();
    cleanups.push(() => registry.close());
    const client = new RegistryClient({ server: registry.address });
    cleanups.push(() => client.close());
    const reg = client.register({ service: 'payments', address: '127.0.0.1', port: 1 }, 150);
    await reg.registered();
    registry.forget();
    await until(() => reg.status().registrations === 2);
    assert.equal(registry.leases.size, 1);
    assert.equal(reg.status().leaseId, [...registry.leases.keys()][0]);
  });

  it('retries failed calls with backoff and recovers when the control plane comes up', async () => {
    const registry = await startFakeRegistry();
    cleanups.push(() => registry.close());
    registry.failNext.set('Register', 3);
    const client = new RegistryClient({ server: registry.address, backoff: { initialMs: 20, maxMs: 100 } });
    cleanups.push(() => client.close());
    const reg = client.register({ service: 'payments', address: '127.0.0.1', port: 2 }, 3_000);
    assert.equal(await reg.registered(), true);
    assert.equal(registry.calls.filter((c) => c.method === 'Register').length, 4);
    assert.equal(reg.status().lastError, undefined);

    // Nothing listening at all: it keeps retrying without throwing, and close() stays bounded.
    const nowhere = new RegistryClient({ server: '127.0.0.1:1', backoff: { initialMs: 10, maxMs: 50 }, rpcTimeoutMs: 200 });
    const lost = nowhere.register({ service: 'x', address: '127.0.0.1', port: 3 });
    await until(() => lost.status().lastError !== undefined);
    const started = Date.now();
    await nowhere.close(200);
    assert.equal(await lost.registered(), false);
    assert.ok(Date.now() - started < 1_000);
  });
});
