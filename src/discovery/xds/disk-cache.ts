// Keeps the last good (ACKed) xDS resources on disk, so a process restarted while every control plane is down starts
// from them and serves (static stability: gRFC A57's "keep cached config on stream failure", carried across restarts).
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { lstat, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../core/logger.js';
import { TYPE_URL, type AnyMessage, type ResourceTypeUrl } from './protos.js';

/** The `format` field every cache file carries, so a foreign JSON file is never mistaken for one. */
export const XDS_CACHE_FORMAT = 'weft.xds-cache';
/** The file format version this SDK writes and reads; a file with another version is ignored with a warning. */
export const XDS_CACHE_FORMAT_VERSION = 1;
/** Default least time between two writes of the cache file (ms): bursts of pushes cost one write per interval. */
export const DEFAULT_CACHE_WRITE_INTERVAL_MS = 1000;
/** Files larger than this are ignored rather than read into memory (a cache of 10,000 resources is a few MiB). */
export const MAX_CACHE_FILE_BYTES = 64 * 1024 * 1024;
/** The resource types kept on disk: the four a client routes by. SDS secrets (trust bundles) are not kept. */
export const CACHED_TYPE_URLS: readonly ResourceTypeUrl[] = [TYPE_URL.listener, TYPE_URL.routeConfiguration, TYPE_URL.cluster, TYPE_URL.clusterLoadAssignment];

/** Whose view a cache file holds: a file is used only by a process with the same service, locality and control plane. */
export interface XdsCacheIdentity {
  /** The mesh Service (xDS node cluster): the control plane computes one view per service and locality. */
  readonly service: string;
  /** The node id of the writer (informative: a restarted process has a new one). */
  readonly nodeId: string;
  /** The control plane as configured (`host:port`): a cache written for another mesh is not used. */
  readonly controlPlane: string;
  readonly locality: { readonly region?: string; readonly zone?: string; readonly subZone?: string };
}

/** One cached resource: its type, name, version and the Any payload exactly as received. */
export interface CachedXdsResource {
  readonly typeUrl: ResourceTypeUrl;
  readonly name: string;
  /** `version_info` of the response that carried it. */
  readonly version: string;
  readonly any: AnyMessage;
}

/** A cache file read back and checked: where it came from, when, and its resources. */
export interface XdsCacheSnapshot {
  readonly file: string;
  readonly writtenAtMs: number;
  /** The node id of the process that wrote it. */
  readonly nodeId: string;
  /** The control-plane address (`host:port`) that served these resources. */
  readonly server: string;
  readonly resources: readonly CachedXdsResource[];
}

/** The disk cache as mesh.status() shows it (plain frozen data). */
export interface XdsCacheStatus {
  /** The cache file (read at start-up, replaced atomically on change). */
  readonly file: string;
  /** What was loaded at start-up; undefined when there was no usable file. */
  readonly loaded?: { readonly writtenAtMs: number; readonly ageMs: number; readonly server: string; readonly resources: number };
  /** Why the file found at start-up was ignored (corrupt, truncated, foreign, future format...). */
  readonly ignored?: string;
  /** True while resources loaded from the file are still in use (not yet replaced by the control plane's). */
  readonly servingFromCache: boolean;
  /** How many resources in use came from the file. */
  readonly resourcesFromCache: number;
  readonly writes: number;
  readonly writeFailures: number;
  readonly lastWriteAtMs?: number;
  /** The latest write error; cleared by the next successful write. */
  readonly lastError?: string;
}

/** The result of decodeXdsCache: the resources, or the one reason the file cannot be used. */
export type DecodedXdsCache = { readonly ok: true; readonly snapshot: Omit<XdsCacheSnapshot, 'file'> } | { readonly ok: false; readonly reason: string };

interface FileResource {
  type_url: string;
  name: string;
  version: string;
  /** The Any value, base64. */
  value: string;
}

interface FileBody {
  format: string;
  formatVersion: number;
  service: string;
  nodeId: string;
  controlPlane: string;
  locality: { region: string; zone: string; subZone: string };
  server: string;
  writtenAtMs: number;
  /** sha256 (hex) of JSON.stringify(resources): a file cut short or altered is detected even if it still parses. */
  checksum: string;
  resources: FileResource[];
}

const localityOf = (l: XdsCacheIdentity['locality']): FileBody['locality'] => ({ region: l.region ?? '', zone: l.zone ?? '', subZone: l.subZone ?? '' });
const checksumOf = (resources: readonly FileResource[]): string => createHash('sha256').update(JSON.stringify(resources)).digest('hex');

/** Serializes `resources` for `identity` as one cache file's text. Pure; never throws for well-formed input. */
export function encodeXdsCache(identity: XdsCacheIdentity, server: string, writtenAtMs: number, resources: readonly CachedXdsResource[]): string {
  const list: FileResource[] = resources.map((r) => ({ type_url: r.typeUrl, name: r.name, version: r.version, value: Buffer.from(r.any.value).toString('base64') }));
  const body: FileBody = {
    format: XDS_CACHE_FORMAT,
    formatVersion: XDS_CACHE_FORMAT_VERSION,
    service: identity.service,
    nodeId: identity.nodeId,
    controlPlane: identity.controlPlane,
    locality: localityOf(identity.locality),
    server,
    writtenAtMs,
    checksum: checksumOf(list),
    resources: list,
  };
  return `${JSON.stringify(body)}\n`;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks one cache file's text against `expected` and returns its resources, or the reason it cannot be used: not
 * JSON (truncated or corrupt), not a Weft cache, another format version, a checksum mismatch, a malformed entry, or
 * written for another service, locality or control plane. Pure; never throws. The resources are not decoded here: the
 * xDS client validates them through the same path as live ones.
 */
export function decodeXdsCache(text: string, expected: XdsCacheIdentity): DecodedXdsCache {
  const fail = (reason: string): DecodedXdsCache => ({ ok: false, reason });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e: unknown) {
    return fail(`not valid JSON, the file is truncated or corrupt (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isRecord(body) || body['format'] !== XDS_CACHE_FORMAT) return fail(`not a Weft xDS cache file (no "format": "${XDS_CACHE_FORMAT}")`);
  const version = body['formatVersion'];
  if (typeof version !== 'number' || !Number.isInteger(version)) return fail('formatVersion is missing or not an integer');
  if (version > XDS_CACHE_FORMAT_VERSION) return fail(`written in format version ${version}, newer than the ${XDS_CACHE_FORMAT_VERSION} this SDK reads`);
  if (version !== XDS_CACHE_FORMAT_VERSION) return fail(`written in format version ${version}; this SDK reads only ${XDS_CACHE_FORMAT_VERSION}`);
  const resources = body['resources'];
  if (!Array.isArray(resources)) return fail('resources is not a list');
  if (typeof body['checksum'] !== 'string' || body['checksum'] !== checksumOf(resources as FileResource[])) return fail('checksum mismatch, the file is corrupt');
  if (body['service'] !== expected.service) return fail(`written for service '${String(body['service'])}', not '${expected.service}'`);
  if (body['controlPlane'] !== expected.controlPlane) return fail(`written for control plane ${String(body['controlPlane'])}, not ${expected.controlPlane}`);
  const want = localityOf(expected.locality);
  const got = body['locality'];
  if (!isRecord(got) || got['region'] !== want.region || got['zone'] !== want.zone || got['subZone'] !== want.subZone) {
    return fail(`written for locality ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
  }
  const writtenAtMs = body['writtenAtMs'];
  if (typeof writtenAtMs !== 'number' || !Number.isFinite(writtenAtMs)) return fail('writtenAtMs is missing or not a number');
  const out: CachedXdsResource[] = [];
  for (const [i, r] of resources.entries()) {
    if (!isRecord(r)) return fail(`resources[${i}] is not an object`);
    const { type_url: typeUrl, name, version: rv, value } = r;
    if (typeof typeUrl !== 'string' || !(CACHED_TYPE_URLS as readonly string[]).includes(typeUrl)) return fail(`resources[${i}].type_url ${JSON.stringify(typeUrl)} is not a cached xDS type`);
    if (typeof name !== 'string' || typeof rv !== 'string') return fail(`resources[${i}]: name and version must be strings`);
    // The checksum already vouches for the bytes; a string is all that is left to check before decoding.
    if (typeof value !== 'string') return fail(`resources[${i}].value is not a base64 string`);
    out.push({ typeUrl: typeUrl as ResourceTypeUrl, name, version: rv, any: { type_url: typeUrl, value: Buffer.from(value, 'base64') } });
  }
  return {
    ok: true,
    snapshot: { writtenAtMs, nodeId: String(body['nodeId'] ?? ''), server: String(body['server'] ?? ''), resources: out },
  };
}

/**
 * Name → version per type of `resources`: what an incremental (delta) xDS client sends as `initial_resource_versions`
 * when it reconnects, so the server sends only what changed (envoyproxy xds_protocol "Incremental xDS").
 */
export function initialResourceVersions(resources: readonly CachedXdsResource[]): ReadonlyMap<ResourceTypeUrl, ReadonlyMap<string, string>> {
  const out = new Map<ResourceTypeUrl, Map<string, string>>();
  for (const r of resources) {
    let byName = out.get(r.typeUrl);
    if (byName === undefined) out.set(r.typeUrl, (byName = new Map()));
    byName.set(r.name, r.version);
  }
  return out;
}

/**
 * The default cache directory: env WEFT_CACHE_DIR; else `$XDG_STATE_HOME/weft/xds`; else `~/.local/state/weft/xds`
 * (the XDG place for state that must outlive a restart; /tmp is often a tmpfs emptied at boot); else, with no usable
 * home directory, `<os tmpdir>/weft-<uid>/xds`.
 */
export function defaultCacheDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env['WEFT_CACHE_DIR']) return path.resolve(env['WEFT_CACHE_DIR']);
  if (env['XDG_STATE_HOME'] && path.isAbsolute(env['XDG_STATE_HOME'])) return path.join(env['XDG_STATE_HOME'], 'weft', 'xds');
  let home = '';
  try {
    home = os.homedir();
  } catch {
    home = ''; // no passwd entry (some containers): fall through to the temp dir
  }
  if (home !== '' && home !== '/') return path.join(home, '.local', 'state', 'weft', 'xds');
  return path.join(os.tmpdir(), `weft-${process.getuid?.() ?? 'user'}`, 'xds');
}

/** The file one service's cache lives in, inside `dir`. */
export function cacheFileOf(dir: string, service: string): string {
  return path.join(dir, `${service}.xds-cache.json`);
}

/** Options of XdsDiskCache. */
export interface XdsDiskCacheOptions {
  /** Directory of the cache file; created 0700 if missing. */
  readonly dir: string;
  readonly identity: XdsCacheIdentity;
  readonly logger: Logger;
  /** Least time between two writes (ms); default DEFAULT_CACHE_WRITE_INTERVAL_MS. */
  readonly minWriteIntervalMs?: number;
}

/** What a write stores: the control plane the resources came from and the resources. */
export interface XdsCacheContent {
  readonly server: string;
  readonly resources: readonly CachedXdsResource[];
}

/**
 * One process's cache file: loaded once at start-up, then rewritten atomically (temp file, fsync, rename; 0600 in a
 * 0700 directory) at most once per `minWriteIntervalMs`, off the request path. Nothing here throws: a failed write is
 * logged once (until a write succeeds again) and counted in status(); a bad file at start-up is ignored with one warning.
 */
export class XdsDiskCache {
  readonly file: string;
  readonly #dir: string;
  readonly #identity: XdsCacheIdentity;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #loaded: XdsCacheSnapshot | undefined;
  #ignored: string | undefined;
  #collect: (() => XdsCacheContent) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #lastWriteAtMs = 0;
  #lastWrittenAtMs = 0;
  #writes = 0;
  #failures = 0;
  #lastError: string | undefined;
  #dirChecked = false;
  #closed = false;

  constructor(options: XdsDiskCacheOptions) {
    this.#dir = path.resolve(options.dir);
    this.file = cacheFileOf(this.#dir, options.identity.service);
    this.#identity = options.identity;
    this.#logger = options.logger;
    this.#intervalMs = options.minWriteIntervalMs ?? DEFAULT_CACHE_WRITE_INTERVAL_MS;
  }

  /** The snapshot load() accepted, if any. */
  get loaded(): XdsCacheSnapshot | undefined {
    return this.#loaded;
  }

  /**
   * Reads and checks the cache file. No file: resolves undefined quietly. An unusable file (unreadable, too large,
   * corrupt, truncated, foreign, another format version): one warning naming the file and the reason, then undefined,
   * so start-up continues as with no cache. Never rejects.
   */
  async load(): Promise<XdsCacheSnapshot | undefined> {
    let text: string;
    try {
      const info = await lstat(this.file);
      if (!info.isFile()) return this.#ignore('not a regular file');
      if (info.size > MAX_CACHE_FILE_BYTES) return this.#ignore(`${info.size} bytes, more than the ${MAX_CACHE_FILE_BYTES} read`);
      text = await readFile(this.file, 'utf8');
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return this.#ignore(`cannot be read: ${e instanceof Error ? e.message : String(e)}`);
    }
    const decoded = decodeXdsCache(text, this.#identity);
    if (!decoded.ok) return this.#ignore(decoded.reason);
    this.#loaded = Object.freeze({ file: this.file, ...decoded.snapshot });
    this.#logger.info('xDS disk cache loaded', {
      file: this.file, resources: decoded.snapshot.resources.length, writtenAt: new Date(decoded.snapshot.writtenAtMs).toISOString(), server: decoded.snapshot.server,
    });
    return this.#loaded;
  }

  #ignore(reason: string): undefined {
    this.#ignored = reason;
    this.#logger.warn(`xDS disk cache ${this.file} ignored: ${reason}; starting without it`, { file: this.file, reason });
    return undefined;
  }

  /**
   * Asks for a write of what `collect` returns when the write happens (so a burst of pushes writes the latest state
   * once): no sooner than `minWriteIntervalMs` after the previous write. Returns at once; a no-op after close().
   */
  save(collect: () => XdsCacheContent): void {
    if (this.#closed) return;
    this.#collect = collect;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#writing !== undefined || this.#collect === undefined) return;
    const delayMs = Math.max(0, this.#lastWriteAtMs + this.#intervalMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#writeNow();
    }, delayMs);
    this.#timer.unref(); // a pending cache write must not keep the process alive
  }

  async #writeNow(): Promise<void> {
    const collect = this.#collect;
    if (collect === undefined) return;
    this.#collect = undefined;
    this.#lastWriteAtMs = Date.now();
    this.#writing = this.#write(collect).finally(() => {
      this.#writing = undefined;
      if (!this.#closed) this.#schedule(); // a save() that came in during the write
    });
    await this.#writing;
  }

  async #write(collect: () => XdsCacheContent): Promise<void> {
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      const content = collect();
      const text = encodeXdsCache(this.#identity, content.server, Date.now(), content.resources);
      await this.#ensureDir();
      const handle = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
      try {
        await handle.writeFile(text);
        await handle.sync(); // the bytes are on disk before the rename makes them the cache
      } finally {
        await handle.close();
      }
      await rename(tmp, this.file);
      await this.#syncDir();
      this.#writes++;
      this.#lastWrittenAtMs = Date.now();
      if (this.#lastError !== undefined) this.#logger.info('xDS disk cache written again', { file: this.file });
      this.#lastError = undefined;
    } catch (e: unknown) {
      this.#failures++;
      const message = e instanceof Error ? e.message : String(e);
      // Logged once per run of failures: a full disk must not turn every push into a log line.
      if (this.#lastError === undefined) this.#logger.warn('xDS disk cache not written; serving goes on, the cache on disk is stale', { file: this.file, error: message });
      this.#lastError = message;
      await rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  /** Creates the directory 0700 and refuses one another user could write to (they could plant a cache file). */
  async #ensureDir(): Promise<void> {
    if (this.#dirChecked) return;
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const info = await lstat(this.#dir);
    if (!info.isDirectory()) throw new Error(`${this.#dir} is not a directory`);
    const uid = process.getuid?.();
    if (uid !== undefined && info.uid !== uid) throw new Error(`${this.#dir} belongs to uid ${info.uid}, not to this process (uid ${uid})`);
    if (uid !== undefined && (info.mode & 0o022) !== 0) throw new Error(`${this.#dir} is writable by other users (mode ${(info.mode & 0o777).toString(8)})`);
    this.#dirChecked = true;
  }

  /** Makes the rename itself durable; some platforms cannot fsync a directory, which costs only durability there. */
  async #syncDir(): Promise<void> {
    try {
      const dir = await open(this.#dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch {
      // EISDIR/EPERM on platforms without directory fsync: the rename is still atomic
    }
  }

  /** Plain status; `resourcesFromCache` is how many resources in use the caller still holds from the file. */
  status(resourcesFromCache: number): XdsCacheStatus {
    const l = this.#loaded;
    return Object.freeze({
      file: this.file,
      ...(l !== undefined && { loaded: Object.freeze({ writtenAtMs: l.writtenAtMs, ageMs: Math.max(0, Date.now() - l.writtenAtMs), server: l.server, resources: l.resources.length }) }),
      ...(this.#ignored !== undefined && { ignored: this.#ignored }),
      servingFromCache: resourcesFromCache > 0,
      resourcesFromCache,
      writes: this.#writes,
      writeFailures: this.#failures,
      ...(this.#writes > 0 && { lastWriteAtMs: this.#lastWrittenAtMs }),
      ...(this.#lastError !== undefined && { lastError: this.#lastError }),
    });
  }

  /** Writes a pending change now (bounded by one write) and stops; later save() calls do nothing. Never rejects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    if (this.#collect !== undefined) await this.#writeNow();
  }
}
