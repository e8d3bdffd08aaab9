// The secrets lock on a real etcd: a short lease kept alive while held, so a replica SIGKILLed holding it delays the
// next one's start-up by at most that TTL (not 10 s, failing after 30 s); and a holder whose lease lapsed cannot write.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { startControlPlane } from '../../control-plane/src/index.js';
import { etcdKeys } from '../../control-plane/src/etcd/etcd-client.js';
import { SECRETS_LOCK_TTL_S, uploadDir, withEtcdLock } from '../../control-plane/src/etcd/etcd-secrets.js';
import { startEtcd, type EtcdServer } from './etcd.js';
import { spawnFixture, type TestProcess } from './helpers.js';

describe('the etcd secrets lock', { timeout: 180_000 }, () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  before(async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.clientUrl });
  });
  after(async () => {
    client?.close();
    await etcd?.stop();
  });

  it('a replica SIGKILLed holding it frees it after the short TTL: the next replica starts', async (t) => {
    const prefix = '/stale/';
    const lockKey = `${etcdKeys(prefix).secrets}lock`;
    let holder: TestProcess | undefined = spawnFixture('test/integration/fixtures/etcd-lock-holder.ts', { STORE: `${etcd.endpoint}${prefix}`, LOCK_KEY: lockKey });
    t.after(() => holder?.stop('SIGKILL'));
    const held = await holder.waitForLine<{ leaseId: string }>((l) => l['held'] === true);

    // The lock key lives under a lease etcd granted with the short TTL (etcd may round a TTL up to its minimum).
    const kv = (await client.get(lockKey).exec()).kvs[0];
    assert.equal(kv?.lease, held.leaseId);
    const lease = await client.leaseClient.leaseTimeToLive({ ID: held.leaseId });
    assert.ok(Number(lease.grantedTTL) <= SECRETS_LOCK_TTL_S && SECRETS_LOCK_TTL_S <= 3, `granted TTL ${lease.grantedTTL} s`);

    // While the holder lives, keep-alives hold the lock well past its TTL: nobody else takes it (no two writers).
    const waitMs = 3 * SECRETS_LOCK_TTL_S * 1000;
    await assert.rejects(withEtcdLock(client, lockKey, async () => 'taken', { timeoutMs: waitMs }), /another replica holds it/);

    await holder.stop('SIGKILL');
    holder = undefined;
    const killedAt = Date.now();
    const replica = await startControlPlane({ store: `${etcd.endpoint}${prefix}`, xdsPort: 0, adminPort: 0 });
    const stallMs = Date.now() - killedAt;
    t.after(() => replica.close());
    t.diagnostic(`start-up after the lock holder was SIGKILLed: ${stallMs} ms (lock TTL ${SECRETS_LOCK_TTL_S} s)`);
    assert.equal(replica.ca.trustBundlePem().length, 1, 'the replica created the shared CA under the freed lock');
  });

  it('a holder whose lease lapsed cannot upload: the write is fenced by the lock', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-fence-'));
    try {
      await writeFile(path.join(dir, 'state.json'), '{"v":2}');
      await client.put('/fence/ca/state.json').value('{"v":1}');
      await assert.rejects(
        withEtcdLock(client, '/fence/lock', async (fence) => {
          // As if this holder stalled past its TTL: the lease is gone, and another replica may hold the lock now.
          await client.leaseClient.leaseRevoke({ ID: fence.leaseId });
          await uploadDir(client, '/fence/ca/', dir, fence);
        }),
        /lost the etcd lock \/fence\/lock .* nothing was written/,
      );
      assert.equal(await client.get('/fence/ca/state.json').string(), '{"v":1}');
      // Held, the same upload lands.
      await withEtcdLock(client, '/fence/lock', (fence) => uploadDir(client, '/fence/ca/', dir, fence));
      assert.equal(await client.get('/fence/ca/state.json').string(), '{"v":2}');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
