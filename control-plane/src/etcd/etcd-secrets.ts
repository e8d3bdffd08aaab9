// Security state shared by every replica through etcd: secrets created once (first replica wins), the CA's state
// directory loaded from and saved back to etcd under a lock, and the used-bootstrap-token ledger counted in transactions.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EtcdLockFailedError, type Etcd3, type Watcher } from 'etcd3';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../ca/secure-files.js';
import { countUse, type ConsumeResult, type UseEntry, type UseLedger } from '../auth/token-ledger.js';

/** How long a replica waits for another one to finish creating the shared security state (ms). */
export const SECRETS_LOCK_TIMEOUT_MS = 30_000;
/**
 * TTL of the lease under the secrets lock (s). etcd3 keeps it alive every TTL/3 while the lock is held, so a holder
 * that dies (SIGKILL, lost host) frees it within this time instead of stalling the next replica's start-up. Writes
 * made under the lock are fenced by it (LockFence), so a holder whose lease lapsed (a stall longer than the TTL)
 * cannot overwrite what the next holder wrote. etcd raises a TTL below its minimum (2 s with default timings).
 */
export const SECRETS_LOCK_TTL_S = 3;

/**
 * Test seam, internal (the package does not export it): `beforeFencedUpload` is awaited by uploadDir after it has
 * read the files and right before its fenced transaction, so a test can take the lock away at exactly that point
 * (revoke its lease or delete its key with a real etcd client) and check what the holder does when the write is
 * refused. Unset outside tests; costs one property read per upload.
 */
export const etcdSecretsTestHooks: { beforeFencedUpload?: (fence: LockFence) => Promise<void> } = {};

/** Proof of holding an etcd lock: a transaction that compares `key`'s lease with `leaseId` commits only while held. */
export interface LockFence {
  /** The lock key. */
  readonly key: string;
  /** The lease the lock key was created under (decimal). */
  readonly leaseId: string;
}

/**
 * Runs `fn` holding the etcd lock `key` (a key under a lease of SECRETS_LOCK_TTL_S, kept alive while held). Retries
 * acquiring it every 100 ms while another holder has it; rejects naming the key after `timeoutMs` (default
 * SECRETS_LOCK_TIMEOUT_MS), or at once when etcd refuses (unreachable, permission denied).
 */
export async function withEtcdLock<T>(client: Etcd3, key: string, fn: (fence: LockFence) => Promise<T>, options: { readonly timeoutMs?: number } = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? SECRETS_LOCK_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lock = client.lock(key).ttl(SECRETS_LOCK_TTL_S);
    try {
      await lock.acquire();
    } catch (e: unknown) {
      if (!(e instanceof EtcdLockFailedError)) throw new Error(`cannot take the etcd lock ${key}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      if (Date.now() > deadline) throw new Error(`cannot take the etcd lock ${key} within ${timeoutMs} ms: another replica holds it`, { cause: e });
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    try {
      const leaseId = await lock.leaseId();
      if (leaseId === null) throw new Error(`etcd lock ${key}: acquired without a lease`); // unreachable after acquire()
      return await fn({ key, leaseId });
    } finally {
      await lock.release().catch(() => undefined);
    }
  }
}

/** The value of `key`, creating it with `create()` when absent (in one transaction: concurrent replicas agree on one). */
export async function sharedSecret(client: Etcd3, key: string, create: () => string): Promise<{ value: string; created: boolean }> {
  const candidate = create();
  const txn = await client.if(key, 'Create', '==', 0).then(client.put(key).value(candidate)).else(client.get(key)).commit();
  if (txn.succeeded) return { value: candidate, created: true };
  const kv = txn.responses[0]?.response_range.kvs[0];
  if (kv === undefined) throw new Error(`etcd key ${key} vanished while being read`);
  return { value: kv.value.toString(), created: false };
}

/** Writes every key under `prefix` as a file under `dir` (private modes): the CA's state as its file code reads it. */
export async function downloadDir(client: Etcd3, prefix: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const kvs = await client.getAll().prefix(prefix).buffers();
  for (const [key, value] of Object.entries(kvs)) {
    const rel = key.slice(prefix.length);
    if (rel === '' || rel.split('/').some((s) => s === '' || s === '.' || s === '..')) continue; // never write outside dir
    const file = path.join(dir, rel);
    await mkdir(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
    await writeFile(file, value, { mode: PRIVATE_FILE_MODE });
  }
}

/** Downloads `prefix` into a fresh private directory under `parent`, runs `fn` on it and removes it. */
export async function withDownloadedDir<T>(client: Etcd3, prefix: string, parent: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(parent, 'download-'));
  try {
    await downloadDir(client, prefix, dir);
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A watch started by followPrefix. */
export interface PrefixFollower {
  /** Stops watching and waits for a sync in flight. Idempotent. */
  close(): Promise<void>;
}

/**
 * Calls `sync` after every change under `prefix` (an upload is one transaction, so one call per upload) and after
 * every (re)connection of the watch, which covers changes missed while etcd was unreachable. Calls never overlap;
 * changes during one lead to one more. A failing sync is logged and the next change tries again.
 */
export async function followPrefix(client: Etcd3, prefix: string, sync: () => Promise<void>, logger: Logger = NOOP_LOGGER): Promise<PrefixFollower> {
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;
  const kick = (): void => {
    if (closed) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    running = sync()
      .catch((e: unknown) => logger.warn('etcd: cannot follow a change; keeping the last good state', { prefix, error: e instanceof Error ? e.message : String(e) }))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          kick();
        }
      });
  };
  const watcher: Watcher = await client.watch().prefix(prefix).create();
  watcher.on('data', kick);
  watcher.on('connected', kick);
  watcher.on('error', (e: Error) => logger.warn('etcd: watch failed; it reconnects', { prefix, error: e.message }));
  return {
    async close() {
      if (closed) return;
      closed = true;
      await watcher.cancel().catch(() => undefined);
      await running;
    },
  };
}

/**
 * Puts every file under `dir` at `prefix` + its relative path and deletes keys whose file is gone, in one transaction
 * that commits only while `fence`'s lock is held; rejects, writing nothing, when it is not.
 */
export async function uploadDir(client: Etcd3, prefix: string, dir: string, fence: LockFence): Promise<void> {
  const files = await listFiles(dir);
  const existing = await client.getAll().prefix(prefix).keys();
  const contents = await Promise.all(files.map((rel) => readFile(path.join(dir, rel))));
  const ops = [
    // Builders are thenables (awaiting one runs it), so they are made only here, from contents already read.
    ...files.map((rel, i) => client.put(prefix + rel).value(contents[i]!)),
    ...existing.filter((k) => !files.includes(k.slice(prefix.length))).map((k) => client.delete().key(k)),
  ];
  // All files land at once, and only from the lock's holder.
  if (ops.length === 0) return;
  await etcdSecretsTestHooks.beforeFencedUpload?.(fence);
  const txn = await client.if(fence.key, 'Lease', '==', fence.leaseId).then(...ops).commit();
  if (!txn.succeeded) throw new Error(`lost the etcd lock ${fence.key} (its lease lapsed) before saving ${prefix}; nothing was written`);
}

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const name = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, name)));
    else if (entry.isFile() && !entry.name.endsWith('.tmp')) out.push(name);
  }
  return out;
}

/**
 * The used-token ledger in etcd: one key per token id (`<prefix><jti>`, JSON UseEntry) under a lease that ends when
 * the token expires. consume() reads the key and commits the new count only if nobody changed it since (bounded
 * retries), so a single-use token is used once across all replicas. used()/usedFor() answer from what this replica
 * saw (a pre-check only; consume is the authority).
 */
export class EtcdTokenLedger implements UseLedger {
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #seen = new Map<string, UseEntry>();

  /** Counts uses under `prefix` (ending with `/`) through `client`. */
  constructor(client: Etcd3, prefix: string) {
    this.#client = client;
    this.#prefix = prefix;
  }

  used(jti: string): number {
    return this.#seen.get(jti)?.count ?? 0;
  }

  usedFor(jti: string, key: string): boolean {
    return this.#seen.get(jti)?.keys?.includes(key) ?? false;
  }

  async consume(jti: string, uses: number, expiresAtMs: number, key?: string): Promise<ConsumeResult> {
    const k = this.#prefix + jti;
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        const got = await this.#client.get(k).exec();
        const kv = got.kvs[0];
        const entry = kv === undefined ? undefined : (JSON.parse(kv.value.toString()) as UseEntry);
        const use = countUse(jti, entry, uses, expiresAtMs, key);
        if (!use.ok) {
          if (entry !== undefined) this.#seen.set(jti, entry);
          return use;
        }
        if (!use.counted) return { ok: true, usesLeft: use.usesLeft };
        const ttlS = Math.max(1, Math.ceil((use.entry.expiresAtMs - Date.now()) / 1000));
        const lease = kv?.lease !== undefined && kv.lease !== '0' ? kv.lease : String((await this.#client.leaseClient.leaseGrant({ TTL: ttlS, ID: 0 })).ID);
        const txn = await this.#client
          .if(k, 'Mod', '==', kv?.mod_revision ?? '0')
          .then(this.#client.put(k).value(JSON.stringify(use.entry)).lease(lease))
          .commit();
        if (txn.succeeded) {
          this.#seen.set(jti, use.entry);
          return { ok: true, usesLeft: use.usesLeft };
        }
      }
      return { ok: false, reason: 'unavailable', error: `token ${jti} is being used on other replicas at the same time; try again` };
    } catch (e: unknown) {
      return { ok: false, reason: 'unavailable', error: `cannot record the token use in etcd: ${e instanceof Error ? e.message : String(e)}` };
    }
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }
}
