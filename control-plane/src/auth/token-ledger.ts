// Counts the uses of bootstrap tokens by `jti` and keeps the counts on disk until each token expires, so a used token
// is refused after a restart too.
import path from 'node:path';
import { ERROR_CODES, MeshError } from '../../../src/core/errors.js';
import { PRIVATE_FILE_MODE, readIfExists, writeFileAtomic } from '../ca/secure-files.js';

/** File of the used-token counts inside `<state-dir>/tokens/`. */
export const TOKEN_LEDGER_FILE = 'used.json';
const FORMAT_VERSION = 1;

/** The uses of one token, as kept (in the ledger file, or as one etcd key's JSON). */
export interface UseEntry {
  readonly count: number;
  readonly expiresAtMs: number;
  /** Thumbprints of the public keys the uses went to (absent in ledgers written before they were kept). */
  readonly keys?: readonly string[];
}
type Entry = UseEntry;

/** Where bootstrap-token uses are counted: a file (TokenLedger) or etcd (EtcdTokenLedger, shared by every replica). */
export interface UseLedger {
  /** How often token `jti` was used, as far as this process knows (consume is the authoritative check). */
  used(jti: string): number;
  /** Whether one of token `jti`'s uses went to the public key with thumbprint `key`. */
  usedFor(jti: string, key: string): boolean;
  /** Counts one use (see TokenLedger.consume); resolves only once the count is stored. */
  consume(jti: string, uses: number, expiresAtMs: number, key?: string): Promise<ConsumeResult>;
  /** Waits for a write in flight. */
  flush(): Promise<void>;
}

/**
 * The one counting rule of every ledger: a use for a key an earlier use already went to is not counted again (a
 * workload whose answer was lost asks again with the same key); once `uses` are spent the token is exhausted.
 * Returns the entry to store when a use is counted. Pure.
 */
export function countUse(
  jti: string,
  entry: UseEntry | undefined,
  uses: number,
  expiresAtMs: number,
  key: string | undefined,
): { readonly ok: true; readonly counted: boolean; readonly entry: UseEntry; readonly usesLeft: number } | (ConsumeResult & { readonly ok: false }) {
  const count = entry?.count ?? 0;
  if (entry !== undefined && key !== undefined && entry.keys?.includes(key)) return { ok: true, counted: false, entry, usesLeft: Math.max(0, uses - count) };
  if (count >= uses) {
    return { ok: false, reason: 'exhausted', error: `token ${jti} was already used ${count === 1 ? 'once' : `${count} times`} and allows ${uses === 1 ? 'one use' : `${uses} uses`} (replayed?)` };
  }
  const keys = key === undefined ? entry?.keys : [...(entry?.keys ?? []), key];
  return { ok: true, counted: true, entry: { count: count + 1, expiresAtMs: entry?.expiresAtMs ?? expiresAtMs, ...(keys && { keys }) }, usesLeft: uses - count - 1 };
}

/** The outcome of counting one use. */
export type ConsumeResult = { readonly ok: true; readonly usesLeft: number } | { readonly ok: false; readonly reason: 'exhausted' | 'unavailable'; readonly error: string };

/**
 * Use counts per token id. `consume` counts a use and resolves only once the count is on disk (one write at a time,
 * fsynced): a certificate is never issued for a use that a crash could forget. Entries are dropped once their token has
 * expired (an expired token is refused anyway). With no directory it counts in memory only.
 */
export class TokenLedger implements UseLedger {
  readonly #file: string | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #nowMs: () => number;
  #writing: Promise<void> = Promise.resolve();

  private constructor(file: string | undefined, nowMs: () => number) {
    this.#file = file;
    this.#nowMs = nowMs;
  }

  /**
   * Loads the ledger from `dir` (the `tokens` folder), or starts an empty one in memory when `dir` is undefined.
   * Rejects with WEFT_ERR_IDENTITY when the file exists but is unreadable: starting empty would let used tokens be
   * replayed.
   */
  static async open(dir: string | undefined, nowMs: () => number): Promise<TokenLedger> {
    const ledger = new TokenLedger(dir === undefined ? undefined : path.join(dir, TOKEN_LEDGER_FILE), nowMs);
    if (ledger.#file === undefined) return ledger;
    const text = await readIfExists(ledger.#file);
    if (text === undefined) return ledger;
    try {
      const parsed = JSON.parse(text) as { version?: unknown; used?: unknown };
      if (parsed.version !== FORMAT_VERSION || typeof parsed.used !== 'object' || parsed.used === null) throw new Error(`expected { version: ${FORMAT_VERSION}, used: {...} }`);
      for (const [jti, raw] of Object.entries(parsed.used as Record<string, { count?: unknown; expiresAtMs?: unknown; keys?: unknown }>)) {
        if (typeof raw?.count !== 'number' || typeof raw.expiresAtMs !== 'number') throw new Error(`entry '${jti}' is malformed`);
        const keys = Array.isArray(raw.keys) ? raw.keys.filter((k): k is string => typeof k === 'string') : undefined;
        if (raw.expiresAtMs > nowMs()) ledger.#entries.set(jti, { count: raw.count, expiresAtMs: raw.expiresAtMs, ...(keys && { keys }) });
      }
    } catch (e: unknown) {
      throw new MeshError(
        ERROR_CODES.IDENTITY,
        `the used-token ledger ${ledger.#file} cannot be read (${e instanceof Error ? e.message : String(e)}); restore it, or delete it to start empty (tokens already used could then be used again until they expire)`,
        { nonRetryable: true },
      );
    }
    return ledger;
  }

  /** How often token `jti` was used (0 if never, or once it expired). */
  used(jti: string): number {
    return this.#entries.get(jti)?.count ?? 0;
  }

  /** Whether one of token `jti`'s uses went to the public key with thumbprint `key`. */
  usedFor(jti: string, key: string): boolean {
    return this.#entries.get(jti)?.keys?.includes(key) ?? false;
  }

  /**
   * Counts one use of `jti` (allowed `uses` times, kept until `expiresAtMs`) for the public key with thumbprint `key`.
   * A use for a key an earlier use already went to is not counted again: a workload whose answer was lost asks again
   * with the same key and token, and gets a certificate for nothing it did not already hold. Refuses `exhausted` once
   * every use is spent, and `unavailable` when the count cannot be written (the use is then not counted; nothing may
   * be issued).
   */
  async consume(jti: string, uses: number, expiresAtMs: number, key?: string): Promise<ConsumeResult> {
    const previous = this.#entries.get(jti);
    const use = countUse(jti, previous, uses, expiresAtMs, key);
    if (!use.ok || !use.counted) return use.ok ? { ok: true, usesLeft: use.usesLeft } : use;
    this.#entries.set(jti, use.entry);
    try {
      await this.#persist();
    } catch (e: unknown) {
      if (previous === undefined) this.#entries.delete(jti);
      else this.#entries.set(jti, previous);
      return { ok: false, reason: 'unavailable', error: `cannot record the token use in ${this.#file}: ${e instanceof Error ? e.message : String(e)}` };
    }
    return { ok: true, usesLeft: use.usesLeft };
  }

  /** Waits for the write in flight, if any. */
  async flush(): Promise<void> {
    await this.#writing.catch(() => undefined);
  }

  /** Writes every unexpired entry; writes are serialized, each one includes every use counted before it started. */
  #persist(): Promise<void> {
    const file = this.#file;
    if (file === undefined) return Promise.resolve();
    const run = this.#writing.catch(() => undefined).then(async () => {
      const nowMs = this.#nowMs();
      const used: Record<string, Entry> = {};
      for (const [jti, entry] of this.#entries) {
        if (entry.expiresAtMs > nowMs) used[jti] = entry;
        else this.#entries.delete(jti);
      }
      await writeFileAtomic(file, `${JSON.stringify({ version: FORMAT_VERSION, used })}\n`, PRIVATE_FILE_MODE);
    });
    this.#writing = run;
    return run;
  }
}
