// Property-based tests of YAML validation: arbitrary text, arbitrary YAML values and mutations of valid resources
// never throw or hang, every error says where and why, and a refused apply leaves the store's configuration as it was.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import type { ConfigError, ConfigStore } from '../model.js';
import { bounded, fuzzParams, mutateAll, mutationsOf } from '../../../test/fuzz/kit.js';
import { renderDocuments, seedConfigurations } from '../../../test/fuzz/config-corpus.js';
import { openDirStore } from './dir-store.js';
import { KINDS } from './kinds.js';
import { parseConfigText } from './parse.js';
import { validateConfig } from './validate.js';

/** Generous: a hang, not a slow machine. One input is at most a few hundred KiB of YAML. */
const LIMIT_MS = 5000;
const SEEDS = seedConfigurations();
const NAMES = [...new Set(SEEDS.flat().map((d) => (d['metadata'] as { name?: unknown } | undefined)?.name).filter((n) => typeof n === 'string'))];

/** Parses and validates `text` as one whole configuration, as the directory store does. */
function check(text: string): ConfigError[] {
  return bounded('parse + validate', LIMIT_MS, () => {
    const { resources, errors } = parseConfigText(text, 'fuzz.yaml');
    return errors.length > 0 ? errors : validateConfig(resources);
  });
}

/** Every error names its file and says why; one about a resource's content names the resource too. */
function assertWellFormed(errors: readonly ConfigError[]): void {
  for (const e of errors) {
    assert.equal(e.file, 'fuzz.yaml', `error without its file: ${JSON.stringify(e)}`);
    assert.ok(typeof e.message === 'string' && e.message.trim() !== '', `error without a message: ${JSON.stringify(e)}`);
    const aboutText = /^(YAML|document \d+ is not a mapping)/.test(e.message);
    if (!aboutText) assert.ok(e.resource !== undefined && e.resource !== '', `error without its resource: ${JSON.stringify(e)}`);
  }
}

/** A seed configuration with up to 4 mutations (dropped fields, changed types, odd values, duplicates). */
const mutatedConfig = fc
  .constantFrom(...SEEDS)
  .chain((docs) => mutationsOf(docs, 4, NAMES).map((list) => mutateAll(docs, list)));

describe('config validation (fuzz)', () => {
  it('the seed configurations are valid (what the mutations start from)', () => {
    for (const docs of SEEDS) assert.deepEqual(check(renderDocuments(docs)), []);
  });

  it('arbitrary text: never throws, errors name the file', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 400 }),
      fc.array(fc.constantFrom('---\n', 'kind: Service\n', 'apiVersion: weft.dev/v1alpha1\n', 'metadata: {name: a}\n', 'spec:\n', '  - ', ': ', '&a ', '*a ', '!!binary ', '{', '[', '"', "'", '|\n', '  ', '\t', '#', '\n', 'x'), { maxLength: 60 }).map((parts) => parts.join('')),
    );
    fc.assert(fc.property(text, (t) => assertWellFormed(check(t))), fuzzParams());
  });

  it('arbitrary YAML values, and documents of every kind with an arbitrary spec: never throw, errors say where', () => {
    const doc = fc.oneof(
      fc.anything({ maxDepth: 3 }),
      fc.record({
        apiVersion: fc.constantFrom(...KINDS.map((k) => k.apiVersion)),
        kind: fc.constantFrom(...KINDS.map((k) => k.kind)),
        metadata: fc.record({ name: fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 12 })) }),
        spec: fc.anything({ maxDepth: 4 }),
      }),
    );
    fc.assert(fc.property(fc.array(doc, { maxLength: 4 }), (docs) => assertWellFormed(check(renderDocuments(docs)))), fuzzParams());
  });

  it('mutations of valid resources: never throw or hang, each error names file, resource and message', () => {
    fc.assert(fc.property(mutatedConfig, (docs) => assertWellFormed(check(renderDocuments(docs)))), fuzzParams(80));
  });
});

describe('directory store apply (fuzz)', () => {
  let dir: string;
  let store: ConfigStore;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-fuzz-store-'));
    await writeFile(path.join(dir, 'seed.yaml'), renderDocuments(SEEDS[0]!));
    store = await openDirStore({ dir, watch: false });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function snapshotDir(): Promise<string> {
    const files = (await readdir(dir)).sort();
    const parts = await Promise.all(files.map(async (f) => `${f}\n${await readFile(path.join(dir, f), 'utf8')}`));
    return parts.join('\n\0\n');
  }

  it('a refused apply leaves the configuration and the directory unchanged (last good kept)', async () => {
    // Apply one mutated document at a time: the store merges it into the current configuration by Kind/name.
    const applied = fc
      .constantFrom(...SEEDS[0]!)
      .chain((doc) => mutationsOf(doc, 3, NAMES).map((list) => mutateAll(doc, list)));
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(applied, async (doc) => {
        const config = store.current();
        const files = await snapshotDir();
        const result = await store.apply(stringify(doc, { lineWidth: 0 }), 'fuzz.yaml');
        if (result.ok) return;
        refused++;
        assert.ok(result.errors.length > 0);
        for (const e of result.errors) assert.ok(e.message.trim() !== '', JSON.stringify(e));
        assert.equal(store.current(), config, 'a refused apply must not publish a new configuration');
        assert.equal(await snapshotDir(), files, 'a refused apply must not write the directory');
      }),
      fuzzParams(40),
    );
    assert.ok(refused > 0, 'the mutations produced refused applies (the property checked something)');
  });
});
