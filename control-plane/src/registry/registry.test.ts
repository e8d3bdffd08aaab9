// Tests the lease registry with a fake clock, and its gRPC service against a real grpc-js client on loopback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { Registry, clampTtlMs, type ClockTimer, type RegistryClock, type EndpointRegistration } from './registry.js';
import { addRegistryService } from './registry-service.js';

/** A manual clock: timers fire only when `advance` moves time past them. */
class FakeClock implements RegistryClock {
  now = 1_000_000;
  timers: { atMs: number; fn: () => void; cancelled: boolean }[] = [];
  nowMs(): number {
    return this.now;
  }
  setTimer(fn: () => void, delayMs: number): ClockTimer {
    const t = { atMs: this.now + delayMs, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.atMs <= end).sort((a, b) => a.atMs - b.atMs)[0];
      if (!due) break;
      due.cancelled = true;
      this.now = Math.max(this.now, due.atMs);
      due.fn();
    }
    this.now = end;
  }
  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}

const EP: EndpointRegistration = { service: 'payments', address: '10.0.0.5', port: 8080, nodeId: 'payments-1' };

describe('Registry', () => {
  it('registers an endpoint with defaults filled in and notifies listeners', () => {
    const clock = new FakeClock();
    const registry = new Registry({ clock });
    const seen: number[] = [];
    registry.onChange((list) => seen.push(list.length));
    const result = registry.register(EP);
    assert.ok(result.ok);
    assert.equal(result.value.ttlMs, 10_000);
    const [e] = registry.endpoints();
    assert.ok(e);
    assert.equal(e.leaseId, result.value.leaseId);
    assert.equal(e.weight, 1);
    assert.equal(e.portName, '');
    assert.deepEqual(e.locality, { region: '', zone: '', subZone: '' });
    assert.equal(e.expiresAtMs, clock.now + 10_000);
    assert.deepEqual(seen, [1]);
    assert.ok(Object.isFrozen(registry.endpoints()));
  });

  it('clamps TTLs to [1 s, 5 min] and uses the default for 0', () => {
    assert.equal(clampTtlMs(0), 10_000);
    assert.equal(clampTtlMs(5), 1_000);
    assert.equal(clampTtlMs(10 * 60_000), 300_000);
    assert.equal(clampTtlMs(0, 3_000), 3_000);
    const registry = new Registry({ clock: new FakeClock(), defaultTtlMs: 50 });
    assert.equal(registry.defaultTtlMs, 1_000);
  });

  it('expires a lease after its TTL unless kept alive', () => {
    const clock = new FakeClock();
    const registry = new Registry({ clock });
    const changes: string[][] = [];
    registry.onChange((list) => changes.push(list.map((e) => e.address)));
    const a = registry.register(EP, 3_000);
    const b = registry.register({ ...EP, address: '10.0.0.6' }, 3_000);
    assert.ok(a.ok && b.ok);
    clock.advance(2_000);
    assert.ok(registry.keepAlive(a.value.leaseId).ok);
    clock.advance(1_500); // b expired at 3 s; a renewed to 5 s
    assert.deepEqual(registry.endpoints().map((e) => e.address), ['10.0.0.5']);
    assert.deepEqual(changes.at(-1), ['10.0.0.5']);
    clock.advance(1_600);
    assert.deepEqual(registry.endpoints(), []);
    assert.deepEqual(changes.at(-1), []);
    const ka = registry.keepAlive(a.value.leaseId);
    assert.ok(!ka.ok);
    assert.equal(ka.error.code, 'NOT_FOUND');
    assert.equal(clock.pending(), 0, 'no timer left once every lease is gone');
  });

  it('keeps at most one sweep timer armed', () => {
    const clock = new FakeClock();
    const registry = new Registry({ clock });
    for (let i = 1; i <= 20; i++) registry.register({ ...EP, address: `10.0.1.${i}` }, 60_000 - i * 1_000);
    assert.equal(clock.pending(), 1);
    clock.advance(60_000);
    assert.equal(registry.endpoints().length, 0);
  });

  it('answers NOT_FOUND for an unknown lease and ignores unknown deregistrations', () => {
    const registry = new Registry({ clock: new FakeClock() });
    const r = registry.keepAlive('nope');
    assert.ok(!r.ok);
    assert.equal(r.error.code, 'NOT_FOUND');
    assert.equal(registry.deregister('nope'), false);
  });

  it('deregisters at once and notifies', () => {
    const registry = new Registry({ clock: new FakeClock() });
    const r = registry.register(EP);
    assert.ok(r.ok);
    let calls = 0;
    registry.onChange(() => calls++);
    assert.equal(registry.deregister(r.value.leaseId), true);
    assert.deepEqual(registry.endpoints(), []);
    assert.equal(calls, 1);
  });

  it('replaces the lease of an endpoint registered again, so it is never listed twice', () => {
    const registry = new Registry({ clock: new FakeClock() });
    const first = registry.register(EP);
    const second = registry.register({ ...EP, weight: 3 });
    assert.ok(first.ok && second.ok);
    assert.equal(registry.endpoints().length, 1);
    assert.equal(registry.endpoints()[0]?.weight, 3);
    assert.ok(!registry.keepAlive(first.value.leaseId).ok);
    assert.ok(registry.keepAlive(second.value.leaseId).ok);
    // Deregistering the replaced lease must not remove the live one.
    assert.equal(registry.deregister(first.value.leaseId), false);
    assert.equal(registry.endpoints().length, 1);
  });

  it('accepts endpoints of any well-formed service name (config need not know it yet)', () => {
    const registry = new Registry({ clock: new FakeClock() });
    assert.ok(registry.register({ ...EP, service: 'not-configured-yet' }).ok);
  });

  it('refuses bad fields with INVALID_ARGUMENT naming the field', () => {
    const registry = new Registry({ clock: new FakeClock() });
    const cases: [Partial<EndpointRegistration>, string][] = [
      [{ address: 'payments.local' }, 'endpoint.address'],
      [{ address: '0.0.0.0' }, 'endpoint.address'],
      [{ port: 0 }, 'endpoint.port'],
      [{ port: 70_000 }, 'endpoint.port'],
      [{ service: 'Payments' }, 'endpoint.service'],
      [{ service: '' }, 'endpoint.service'],
      [{ service: 'a.b' }, 'endpoint.service'],
      [{ portName: 'HTTP_1' }, 'endpoint.port_name'],
      [{ weight: -1 }, 'endpoint.weight'],
    ];
    for (const [patch, field] of cases) {
      const r = registry.register({ ...EP, ...patch });
      assert.ok(!r.ok, JSON.stringify(patch));
      assert.equal(r.error.code, 'INVALID_ARGUMENT');
      assert.equal(r.error.field, field);
      assert.match(r.error.message, new RegExp(`^${field.replace('.', '\\.')}: `));
    }
    assert.ok(registry.register({ ...EP, address: 'fd00::1' }).ok);
    assert.equal(registry.endpoints().length, 1);
  });

  it('does not notify after close()', () => {
    const clock = new FakeClock();
    const registry = new Registry({ clock });
    let calls = 0;
    registry.onChange(() => calls++);
    registry.close();
    registry.register(EP);
    assert.equal(calls, 0);
    assert.equal(clock.pending(), 0);
  });
});

describe('Registry gRPC service', { timeout: 10_000 }, () => {
  const registry = new Registry({ clock: new FakeClock() });
  const server = new grpc.Server();
  let client: grpc.Client & Record<string, (req: ProtoObject, cb: (err: grpc.ServiceError | null, res?: ProtoObject) => void) => void>;

  before(async () => {
    addRegistryService(server, registry);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const Ctor = grpc.makeGenericClientConstructor(protos().registryService, 'Registry');
    client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as typeof client;
  });
  after(() => {
    client.close();
    server.forceShutdown();
    registry.close();
  });

  const call = (method: string, req: ProtoObject) =>
    new Promise<{ err: grpc.ServiceError | null; res?: ProtoObject }>((resolve) => {
      const fn = client[method];
      assert.ok(fn);
      fn.call(client, req, (err, res) => resolve({ err, res }));
    });

  it('registers, keeps alive and deregisters', async () => {
    const reg = await call('Register', {
      endpoint: { service: 'payments', address: '127.0.0.1', port: 9000, node_id: 'n1', locality: { zone: 'z1' }, labels: { v: '2' } },
      ttl_ms: 2_000,
    });
    assert.equal(reg.err, null);
    assert.equal(reg.res?.['ttl_ms'], 2_000);
    const leaseId = reg.res?.['lease_id'];
    assert.equal(typeof leaseId, 'string');
    const [e] = registry.endpoints();
    assert.equal(e?.nodeId, 'n1');
    assert.equal(e?.locality.zone, 'z1');
    assert.deepEqual(e?.labels, { v: '2' });
    const ka = await call('KeepAlive', { lease_id: leaseId });
    assert.equal(ka.err, null);
    assert.equal(ka.res?.['lease_id'], leaseId);
    const de = await call('Deregister', { lease_id: leaseId });
    assert.equal(de.err, null);
    assert.equal(registry.endpoints().length, 0);
  });

  it('maps refusals to INVALID_ARGUMENT and NOT_FOUND', async () => {
    const bad = await call('Register', { endpoint: { service: 'payments', address: 'localhost', port: 9000 } });
    assert.equal(bad.err?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(bad.err?.details ?? '', /endpoint\.address/);
    const missing = await call('Register', {});
    assert.equal(missing.err?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(missing.err?.details ?? '', /^endpoint: required/);
    const ka = await call('KeepAlive', { lease_id: 'gone' });
    assert.equal(ka.err?.code, grpc.status.NOT_FOUND);
    const de = await call('Deregister', { lease_id: 'gone' });
    assert.equal(de.err, null);
  });
});
