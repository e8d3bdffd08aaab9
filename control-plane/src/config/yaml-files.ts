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

/**
 * Reads and parses every config file directly in `dir` (not sub-folders), in file-name order.
 * Resource sources are `path.join(dir, file)`. Never throws for a bad file: its problems are in `errors`.
 */
export async function readConfigDir(dir: string): Promise<{ resources: ConfigResource[]; errors: ConfigError[] }> {
  const resources: ConfigResource[] = [];
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
    return { resources, errors: [{ file: dir, message: `cannot read the config directory: ${(e as Error).message}` }] };
  }
  for (const name of names.sort()) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed since readdir
      errors.push({ file, message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    const parsed = parseConfigText(text, file);
    resources.push(...parsed.resources);
    errors.push(...parsed.errors);
  }
  return { resources, errors };
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
  readonly #files = new Map<string, { docs: Document[]; changed: boolean; existed: boolean }>();

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
    this.#files.set(file, { docs, changed: false, existed });
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

  /** Writes every changed file (temp + rename) and deletes emptied ones. Throws on an I/O error. */
  async commit(): Promise<void> {
    for (const [file, f] of this.#files) {
      if (!f.changed) continue;
      if (f.docs.length === 0) {
        if (f.existed) await unlink(file).catch((e: unknown) => ignoreMissing(e));
        continue;
      }
      await writeFileAtomic(file, documentsToText(f.docs));
    }
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
