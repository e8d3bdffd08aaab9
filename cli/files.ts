// Reads the `-f` inputs of `weft apply` and `weft delete`: files, directories of YAML files, or standard input.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ConfigError } from '../control-plane/src/model.js';
import { CliError } from './admin-client.js';
import type { CliIo } from './output.js';

/** One input file's text and the resources (`Kind/name`) its documents declare. */
export interface InputFile {
  /** Path as the user gave it (joined with the directory for directory inputs), or `<stdin>`. */
  readonly name: string;
  readonly text: string;
  /** `Kind/name` of each document that has both, in order. */
  readonly keys: readonly string[];
}

/** Result of reading inputs: the files, or syntax errors found locally (each names its file). */
export type ReadInputs = { readonly ok: true; readonly files: readonly InputFile[] } | { readonly ok: false; readonly errors: readonly ConfigError[] };

const YAML_FILE = /\.ya?ml$/i;

/**
 * Reads every `-f` argument: a file, a directory (its `*.yaml`/`*.yml` files, not sub-folders, sorted), or `-`
 * for standard input. YAML syntax is checked here so errors name the right file. Throws CliError for a path that
 * does not exist or a directory with no YAML files.
 */
export async function readInputs(args: readonly string[], io: CliIo): Promise<ReadInputs> {
  const files: InputFile[] = [];
  const errors: ConfigError[] = [];
  for (const arg of args) {
    for (const [name, text] of await expand(arg, io)) {
      const { keys, errors: syntax } = scan(name, text);
      errors.push(...syntax);
      files.push({ name, text, keys });
    }
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, files };
}

async function expand(arg: string, io: CliIo): Promise<[string, string][]> {
  if (arg === '-') return [['<stdin>', await io.readStdin()]];
  let info;
  try {
    info = await stat(arg);
  } catch {
    throw new CliError(`${arg}: no such file or directory`);
  }
  if (!info.isDirectory()) return [[arg, await readFile(arg, 'utf8')]];
  const names = (await readdir(arg)).filter((n) => YAML_FILE.test(n)).sort();
  if (names.length === 0) throw new CliError(`${arg}: no *.yaml or *.yml files in this directory`);
  const out: [string, string][] = [];
  for (const n of names) {
    const full = path.join(arg, n);
    if ((await stat(full)).isFile()) out.push([full, await readFile(full, 'utf8')]);
  }
  return out;
}

/** Finds the `Kind/name` of each document and any YAML syntax error. */
function scan(file: string, text: string): { keys: string[]; errors: ConfigError[] } {
  const keys: string[] = [];
  const errors: ConfigError[] = [];
  for (const doc of parseAllDocuments(text, { prettyErrors: false })) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) errors.push({ file, message: `YAML syntax error: ${e.message.split('\n')[0]}` });
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e: unknown) {
      errors.push({ file, message: `YAML error: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` });
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    const kind = (value as { kind?: unknown }).kind;
    const name = (value as { metadata?: { name?: unknown } }).metadata?.name;
    if (typeof kind === 'string' && typeof name === 'string') keys.push(`${kind}/${name}`);
  }
  return { keys, errors };
}

/** Joins the files into one multi-document text (so an apply of several files is one whole-or-nothing change). */
export function joinDocuments(files: readonly InputFile[]): string {
  return files.map((f) => (f.text.endsWith('\n') ? f.text : `${f.text}\n`)).join('---\n');
}

/**
 * Points errors about a combined apply back at the file each resource came from: an error whose `resource`
 * was declared in exactly one input file gets that file's name.
 */
export function attributeErrors(errors: readonly ConfigError[], files: readonly InputFile[], combinedSource: string): ConfigError[] {
  const owner = new Map<string, string | null>();
  for (const f of files) for (const k of f.keys) owner.set(k, owner.has(k) && owner.get(k) !== f.name ? null : f.name);
  return errors.map((e) => {
    if (e.file !== undefined && e.file !== combinedSource) return e;
    const file = e.resource === undefined ? undefined : owner.get(e.resource);
    return typeof file === 'string' ? { ...e, file } : e;
  });
}
