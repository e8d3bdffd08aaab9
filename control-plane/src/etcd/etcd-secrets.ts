// Security state shared by every replica through etcd: secrets created once (first replica wins), the CA's state
// directory loaded from and saved back to etcd under a lock, and the used-bootstrap-token ledger counted in transactions.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../ca/secure-files.js';
import { countUse, type ConsumeResult, type UseEntry, type UseLedger } from '../auth/token-ledger.js';

/** How long a replica waits for another one to finish creating the shared security state (ms). */
export const SECRETS_LOCK_TIMEOUT_MS = 30_000;

/**
 * Runs `fn` holding the etcd lock `key` (a lease-backed key, so a replica that dies holding it frees it within 10 s).
 * Retries acquiring it every 100 ms; rejects naming the key after SECRETS_LOCK_TIMEOUT_MS.
 */
export async function withEtcdLock<T>(client: Etcd3, key: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + SECRETS_LOCK_TIMEOUT_MS;
  for (;;) {
    const lock = client.lock(key).ttl(10);
    try {
      await lock.acquire();
    } catch (e: unknown) {
      if (Date.now() > deadline) throw new Error(`cannot take the etcd lock ${key} within ${SECRETS_LOCK_TIMEOUT_MS} ms: ${String(e)}`, { cause: e });
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    try {
      return await fn();
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

/** Puts every file under `dir` at `prefix` + its relative path and deletes keys whose file is gone, in one transaction. */
export async function uploadDir(client: Etcd3, prefix: string, dir: string): Promise<void> {
  const files = await listFiles(dir);
  const existing = await client.getAll().prefix(prefix).keys();
  const contents = await Promise.all(files.map((rel) => readFile(path.join(dir, rel))));
  const ops = [
    // Builders are thenables (awaiting one runs it), so they are made only here, from contents already read.
    ...files.map((rel, i) => client.put(prefix + rel).value(contents[i]!)),
    ...existing.filter((k) => !files.includes(k.slice(prefix.length))).map((k) => client.delete().key(k)),
  ];
  // etcd3's transaction builder needs a compare; this one always holds. The point is that all files land at once.
  if (ops.length > 0) await client.if(prefix, 'Mod', '>', -1).then(...ops).commit();
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
