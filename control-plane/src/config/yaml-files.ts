// File work for the directory store: reading a config directory, editing YAML files document by document
// (comments kept), and writing them atomically (temp file + rename).
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments, type Document } from 'yaml';
import type { ConfigError, ConfigResource } from '../model.js';
import { resourceKey } from './kinds.js';
import { parseConfigText } from './parse.js';

/** True for the files the store reads: `*.yaml` and `*.yml`, not hidden (the store's temp files are hidden). */
export function isConfigFileName(name: string): boolean {
  return !name.startsWith('.') && (name.endsWith('.yaml') || name.endsWith('.yml'));
}

/** True for the hidden temp files writeFileAtomic creates (their events need no reload). */
export function isTempFileName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

/** The config files of a directory as read, before parsing (readConfigTexts). */
export interface ConfigTexts {
  /** Text by path (`path.join(dir, file)`), in file-name order. */
  readonly texts: ReadonlyMap<string, string>;
  /** A directory that cannot be listed, or files that cannot be read. */
  readonly errors: readonly ConfigError[];
}

/**
 * Reads every config file directly in `dir` (not sub-folders), in file-name order, without parsing: a caller can tell
 * unchanged files before paying for parsing them (parseConfigTexts). Never throws; a file removed meanwhile is skipped.
 */
export async function readConfigTexts(dir: string): Promise<ConfigTexts> {
  const texts = new Map<string, string>();
  const errors: ConfigError[] = [];
  let names: string[];
  try {
    const entries = (await readdir(dir, { withFileTypes: true })).filter((d) => isConfigFileName(d.name));
    names = [];
    for (const d of entries) {
      // Symbolic links to files count (Kubernetes ConfigMap mounts are links); links to folders do not.
      if (d.isFile() || (d.isSymbolicLink() && (await stat(path.join(dir, d.name)).catch(() => undefined))?.isFile())) {
        names.push(d.name);
      }
    }
  } catch (e: unknown) {
    return { texts, errors: [{ file: dir, message: `cannot read the config directory: ${(e as Error).message}` }] };
  }
  for (const name of names.sort()) {
    const file = path.join(dir, name);
    try {
      texts.set(file, await readFile(file, 'utf8'));
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed since readdir
      errors.push({ file, message: `cannot read: ${(e as Error).message}` });
    }
  }
  return { texts, errors };
}

/**
 * Parses what readConfigTexts read, in file order; each file's path is the source of its resources. Never throws: read
 * errors come first in `errors`, then every bad file's problems.
 */
export function parseConfigTexts(read: ConfigTexts): { resources: ConfigResource[]; errors: ConfigError[] } {
  const resources: ConfigResource[] = [];
  const errors: ConfigError[] = [...read.errors];
  for (const [file, text] of read.texts) {
    const parsed = parseConfigText(text, file);
    resources.push(...parsed.resources);
    errors.push(...parsed.errors);
  }
  return { resources, errors };
}

/** What FileEdits.commit did to one file: its text as loaded before the edit, and as written (undefined = absent). */
export interface FileWrite {
  readonly file: string;
  readonly before: string | undefined;
  readonly after: string | undefined;
}

/** The `Kind/name` a YAML document defines, if it has both. */
export function documentKey(doc: Document): string | undefined {
  const kind: unknown = doc.get('kind');
  const name: unknown = doc.getIn(['metadata', 'name']);
  return typeof kind === 'string' && typeof name === 'string' ? resourceKey(kind, name) : undefined;
}

/**
 * Pending edits of several files, applied together by `commit()`: each file is loaded once, its documents
 * replaced, removed or appended by `Kind/name`, and written atomically; a file left with no document is deleted.
 */
export class FileEdits {
  readonly #files = new Map<string, { docs: Document[]; changed: boolean; existed: boolean; text: string }>();

  /** Loads `file` (once). Returns an error if it exists but has YAML errors (it cannot be rewritten safely). */
  async load(file: string): Promise<ConfigError | undefined> {
    if (this.#files.has(file)) return undefined;
    let text = '';
    let existed = true;
    try {
      text = await readFile(file, 'utf8');
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return { file, message: `cannot read: ${(e as Error).message}` };
      existed = false;
    }
    const docs = (parseAllDocuments(text) as Document[]).filter((d) => d.errors.length > 0 || !isEmptyDocument(d));
    if (docs.some((d) => d.errors.length > 0)) {
      return { file, message: 'has YAML syntax errors, so Weft cannot rewrite it; fix or remove it by hand first' };
    }
    this.#files.set(file, { docs, changed: false, existed, text });
    return undefined;
  }

  /** Removes the document defining `key` from `file` (loaded before). */
  remove(file: string, key: string): void {
    const f = this.#files.get(file);
    if (!f) return;
    const kept = f.docs.filter((d) => documentKey(d) !== key);
    if (kept.length !== f.docs.length) {
      f.docs = kept;
      f.changed = true;
    }
  }

  /** Puts `doc` (defining `key`) into `file` (loaded before): in place of its old version, or at the end. */
  put(file: string, key: string, doc: Document): void {
    const f = this.#files.get(file);
    if (!f) return;
    const at = f.docs.findIndex((d) => documentKey(d) === key);
    if (at >= 0) f.docs[at] = doc;
    else f.docs.push(doc);
    f.changed = true;
  }

  /**
   * Writes every changed file (temp + rename) and deletes emptied ones; returns what it did to each, so the store knows
   * the texts it wrote. Throws on an I/O error (files written before it stay written).
   */
  async commit(): Promise<FileWrite[]> {
    const writes: FileWrite[] = [];
    for (const [file, f] of this.#files) {
      if (!f.changed) continue;
      const before = f.existed ? f.text : undefined;
      if (f.docs.length === 0) {
        if (f.existed) await unlink(file).catch((e: unknown) => ignoreMissing(e));
        writes.push({ file, before, after: undefined });
        continue;
      }
      const after = documentsToText(f.docs);
      await writeFileAtomic(file, after);
      writes.push({ file, before, after });
    }
    return writes;
  }
}

/** Serializes documents as one multi-document YAML text, separated by `---`. */
export function documentsToText(docs: readonly Document[]): string {
  return docs
    .map((d, i) => {
      let s = d.toString();
      if (i > 0 && !s.startsWith('---')) s = `---\n${s}`;
      if (i === 0 && s.startsWith('---\n')) s = s.slice(4);
      return s.endsWith('\n') ? s : `${s}\n`;
    })
    .join('');
}

let tempCounter = 0;

/** Writes `text` to `file` so readers see the old or the new content, never half: a hidden temp file, fsync, rename. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++tempCounter}.${randomBytes(3).toString('hex')}.tmp`);
  const handle = await open(temp, 'w', 0o644);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (e: unknown) {
    await rm(temp, { force: true });
    throw e;
  }
}

/** True for a document with no content (a trailing `---`, or comments only). */
function isEmptyDocument(doc: Document): boolean {
  try {
    return doc.toJS() == null;
  } catch {
    return false;
  }
}

function ignoreMissing(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
}
