// Tests saving and restoring registry leases across a control-plane restart (real files in a temp dir).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import { Registry, type ClockTimer, type RegistryClock } from './registry.js';
import { loadRegistryState, REGISTRY_STATE_FILE, saveRegistryState } from './registry-state.js';

class StillClock implements RegistryClock {
  now = 5_000_000;
  timers: { atMs: number; fn: () => void }[] = [];
  nowMs(): number {
    return this.now;
  }
  setTimer(fn: () => void, delayMs: number): ClockTimer {
    const t = { atMs: this.now + delayMs, fn };
    this.timers.push(t);
    return { cancel: () => void this.timers.splice(this.timers.indexOf(t), 1) };
  }
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { ...NOOP_LOGGER, warn: (message: string, fields?: Record<string, unknown>) => void warnings.push(`${message} ${JSON.stringify(fields)}`), warnings };
}

describe('registry state', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-registry-state-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('restores saved leases with their ids, each for one more TTL, so keep-alives find them after a restart', async () => {
    const file = path.join(dir, 'a', REGISTRY_STATE_FILE);
    const clock = new StillClock();
    const before = new Registry({ clock });
    const writer = saveRegistryState(before, file, NOOP_LOGGER);
    const a = before.register({ service: 'payments', address: '10.0.0.5', port: 8080, nodeId: 'n1', locality: { zone: 'z1' }, labels: { v: '1' } }, 3_000);
    const b = before.register({ service: 'catalog', address: '10.0.0.6', port: 9090, portName: 'http', weight: 7 });
    assert.ok(a.ok && b.ok);
    await writer.flush();
    writer.dispose();

    const later = new StillClock();
    later.now = clock.now + 60_000; // down for longer than every TTL
    const after = new Registry({ clock: later });
    const errors = after.restore(await loadRegistryState(file, NOOP_LOGGER));
    assert.deepEqual(errors, []);
    const restored = after.endpoints();
    assert.deepEqual(
      restored.map((e) => [e.leaseId, e.service, e.address, e.port, e.portName, e.weight, e.locality.zone, e.labels['v'], e.expiresAtMs]),
      [
        [b.value.leaseId, 'catalog', '10.0.0.6', 9090, 'http', 7, '', undefined, later.now + 10_000],
        [a.value.leaseId, 'payments', '10.0.0.5', 8080, '', 1, 'z1', '1', later.now + 3_000],
      ],
    );
    assert.ok(after.keepAlive(a.value.leaseId).ok, 'the old lease id is alive again');
  });

  it('saves after changes (a burst included) but not for keep-alives', async () => {
    const file = path.join(dir, 'b', REGISTRY_STATE_FILE);
    const registry = new Registry({ clock: new StillClock() });
    const writer = saveRegistryState(registry, file, NOOP_LOGGER);
    for (let i = 1; i <= 20; i++) registry.register({ service: 'svc', address: '10.0.1.1', port: 1000 + i });
    await writer.flush();
    const first = await readFile(file, 'utf8');
    assert.equal((JSON.parse(first) as { leases: unknown[] }).leases.length, 20);
    const lease = registry.leases()[0]!;
    await writeFile(file, 'sentinel');
    registry.keepAlive(lease.leaseId);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(await readFile(file, 'utf8'), 'sentinel', 'a keep-alive rewrote the file');
    registry.deregister(lease.leaseId);
    await writer.flush();
    assert.equal((JSON.parse(await readFile(file, 'utf8')) as { leases: unknown[] }).leases.length, 19);
    writer.dispose();
  });

  it('treats a missing file as empty and a malformed one as empty with a warning, and skips invalid leases', async () => {
    const logger = recordingLogger();
    assert.deepEqual(await loadRegistryState(path.join(dir, 'none.json'), logger), []);
    assert.deepEqual(logger.warnings, []);
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{ not json');
    assert.deepEqual(await loadRegistryState(bad, logger), []);
    assert.match(logger.warnings[0] ?? '', /malformed/);
    const mixed = path.join(dir, 'mixed.json');
    await writeFile(
      mixed,
      JSON.stringify({
        version: 1,
        leases: [
          { leaseId: 'ok', service: 'svc', address: '10.0.0.1', port: 80, ttlMs: 5000 },
          { leaseId: 'bad-address', service: 'svc', address: 'not-an-ip', port: 80, ttlMs: 5000 },
          { service: 'no-lease-id', address: '10.0.0.2', port: 80, ttlMs: 5000 },
        ],
      }),
    );
    const registry = new Registry({ clock: new StillClock() });
    const errors = registry.restore(await loadRegistryState(mixed, logger));
    assert.deepEqual(registry.endpoints().map((e) => e.leaseId), ['ok']);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /endpoint\.address/);
  });

  it('keeps running when the state dir cannot be written, and says so once', async () => {
    const blocker = path.join(dir, 'blocker');
    await writeFile(blocker, 'a file where a directory should be');
    const logger = recordingLogger();
    const registry = new Registry({ clock: new StillClock() });
    const writer = saveRegistryState(registry, path.join(blocker, 'sub', REGISTRY_STATE_FILE), logger);
    registry.register({ service: 'svc', address: '10.0.0.1', port: 80 });
    await writer.flush();
    registry.register({ service: 'svc', address: '10.0.0.1', port: 81 });
    await writer.flush();
    assert.equal(logger.warnings.length, 1);
    assert.match(logger.warnings[0]!, /cannot save leases/);
    assert.equal(registry.endpoints().length, 2);
    writer.dispose();
  });
});
