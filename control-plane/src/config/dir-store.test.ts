// Tests of the directory store on a real temp directory: start-up, apply, delete, hand edits seen by the watcher.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ERROR_CODES, isMeshError } from '../../../src/core/errors.js';
import type { Logger } from '../../../src/core/logger.js';
import type { ConfigStore, MeshConfig } from '../model.js';
import { openDirStore } from './dir-store.js';
import { previewApply } from './plan.js';

const SVC = (name: string, port = 8080) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: [{ name: http, port: ${port} }]
`;
const ROUTE = (name: string, parent: string, backend: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ kind: Service, name: ${parent} }]
  rules:
  - backendRefs: [{ name: ${backend} }]
`;

const dirs: string[] = [];
const stores: ConfigStore[] = [];
after(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-store-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

/** A logger that records messages, so a test can wait for the watcher's reload. */
function recordingLogger(): Logger & { messages: string[] } {
  const messages: string[] = [];
  const rec = (m: string) => void messages.push(m);
  return { messages, debug: rec, info: rec, warn: rec, error: rec };
}

async function open(dir: string, watch = false, logger?: Logger): Promise<ConfigStore> {
  const store = await openDirStore({ dir, watch, debounceMs: 20, ...(logger ? { logger } : {}) });
  stores.push(store);
  return store;
}

/** Polls `cond` every 10 ms until it holds; fails after `timeoutMs`. */
async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) out[name] = await readFile(path.join(dir, name), 'utf8');
  return out;
}

const names = (c: MeshConfig) => c.resources.map((r) => `${r.kind}/${r.metadata.name}`);

describe('openDirStore', { timeout: 10_000 }, () => {
  it('creates a missing directory and starts with an empty config', async () => {
    const dir = path.join(await tempDir(), 'nested', 'mesh');
    const store = await open(dir);
    assert.deepEqual(store.current(), { generation: 1, resources: [] });
    assert.ok((await stat(dir)).isDirectory());
  });

  it('loads every *.yaml and *.yml file, sorted by kind then name, ignoring other files', async () => {
    const dir = await tempDir({ 'a.yaml': `${SVC('b')}---\n${ROUTE('r', 'b', 'a')}`, 'b.yml': SVC('a'), 'notes.txt': 'kind: nonsense' });
    const store = await open(dir);
    assert.deepEqual(names(store.current()), ['HTTPRoute/r', 'Service/a', 'Service/b']);
    assert.equal(store.current().resources[1]!.source, path.join(dir, 'b.yml'));
  });

  it('follows symbolic links to files (ConfigMap mounts) but not to folders, and returns deeply frozen config', async () => {
    const dir = await tempDir({ 'real.yml': SVC('a') });
    await mkdir(path.join(dir, '..data'));
    await writeFile(path.join(dir, '..data', 'b.yaml'), SVC('b'));
    await symlink(path.join('..data', 'b.yaml'), path.join(dir, 'b.yaml'));
    await mkdir(path.join(dir, 'sub.yaml'));
    await writeFile(path.join(dir, 'sub.yaml', 'c.yaml'), SVC('c'));
    await symlink('sub.yaml', path.join(dir, 'dirlink.yaml'));
    const store = await open(dir);
    assert.deepEqual(names(store.current()), ['Service/a', 'Service/b']);
    const svc = store.current().resources[0]!;
    assert.throws(() => ((svc.spec as { ports: unknown[] }).ports.length = 0), TypeError);
    assert.throws(() => ((svc.metadata as { name: string }).name = 'x'), TypeError);
  });

  it('refuses to open an invalid directory, listing every error', async () => {
    const dir = await tempDir({ 'a.yaml': ROUTE('r', 'missing', 'gone'), 'b.yaml': SVC('Bad_Name') });
    await assert.rejects(open(dir), (e: unknown) => {
      assert.ok(isMeshError(e, ERROR_CODES.INVALID_CONFIG));
      assert.match(e.message, /^invalid configuration in .* \(1 error\):\n/); // schema errors first...
      assert.match(e.message, /b\.yaml: Service\/Bad_Name: metadata\.name: must be a DNS-1123 label/);
      return true;
    });
    await writeFile(path.join(dir, 'b.yaml'), SVC('ok'));
    await assert.rejects(open(dir), (e: unknown) => {
      assert.ok(isMeshError(e, ERROR_CODES.INVALID_CONFIG)); // ...then every reference error
      assert.match(e.message, /\(2 errors\)/);
      assert.match(e.message, /a\.yaml: HTTPRoute\/r: spec\.parentRefs\[0\]\.name: no Service named "missing"/);
      assert.match(e.message, /a\.yaml: HTTPRoute\/r: spec\.rules\[0\]\.backendRefs\[0\]\.name: no Service named "gone"/);
      return true;
    });
  });
});

describe('DirStore.apply', { timeout: 10_000 }, () => {
  it('writes one file per resource, updates current() at once and notifies once', async () => {
    const dir = await tempDir();
    const store = await open(dir);
    const seen: number[] = [];
    store.onChange((c) => seen.push(c.generation));
    const text = `# the payments service\n${SVC('payments')}---\n${ROUTE('split', 'payments', 'payments')}`;
    const res = await store.apply(text, 'policy.yaml');
    assert.ok(res.ok);
    assert.deepEqual(res.changed, ['HTTPRoute/split', 'Service/payments']);
    assert.equal(res.config.generation, 2);
    assert.equal(store.current(), res.config);
    assert.deepEqual(seen, [2]);
    const files = await snapshot(dir);
    assert.deepEqual(Object.keys(files), ['httproute-split.yaml', 'service-payments.yaml']);
    assert.match(files['service-payments.yaml']!, /^# the payments service\n/); // written as applied, comments kept
    assert.equal(store.current().resources.find((r) => r.kind === 'Service')!.source, path.join(dir, 'service-payments.yaml'));
  });

  it('refuses a bad apply whole: nothing changes, files untouched, every error returned', async () => {
    const dir = await tempDir({ 'mesh.yaml': SVC('payments') });
    const store = await open(dir);
    const before = await snapshot(dir);
    let notified = 0;
    store.onChange(() => notified++);
    const res = await store.apply(`${SVC('ledger')}---\n${ROUTE('r', 'payments', 'nowhere')}---\n${ROUTE('q', 'nowhere', 'ledger')}`);
    assert.equal(res.ok, false);
    assert.deepEqual(
      !res.ok && res.errors.map((e) => `${e.file}: ${e.resource}: ${e.field}`),
      ['<apply>: HTTPRoute/r: spec.rules[0].backendRefs[0].name', '<apply>: HTTPRoute/q: spec.parentRefs[0].name'],
    );
    assert.deepEqual(await snapshot(dir), before);
    assert.equal(store.current().generation, 1);
    assert.deepEqual(names(store.current()), ['Service/payments']);
    assert.equal(notified, 0);
    const empty = await store.apply('# nothing\n', 'x.yaml');
    assert.deepEqual(empty, { ok: false, errors: [{ file: 'x.yaml', message: 'contains no resources to apply' }] });
  });

  it('validates against the whole config: changing a Service port breaks a route that uses it', async () => {
    const dir = await tempDir({ 'svc.yaml': SVC('payments'), 'r.yaml': ROUTE('r', 'payments', 'payments').replace('{ name: payments }]', '{ name: payments, port: 8080 }]') });
    const store = await open(dir);
    const res = await store.apply(SVC('payments', 9090));
    assert.equal(res.ok, false);
    assert.deepEqual(!res.ok && res.errors, [
      {
        file: path.join(dir, 'r.yaml'),
        resource: 'HTTPRoute/r',
        field: 'spec.rules[0].backendRefs[0].port',
        message: 'Service "payments" declares no port 8080 (its ports: 9090)',
      },
    ]);
  });

  it('applying identical content yields no new generation and writes nothing', async () => {
    const dir = await tempDir();
    const store = await open(dir);
    const first = await store.apply(SVC('payments'));
    assert.ok(first.ok);
    const mtime = (await stat(path.join(dir, 'service-payments.yaml'))).mtimeMs;
    let notified = 0;
    store.onChange(() => notified++);
    // Same content, different spelling: defaults written out, flow style.
    const again = await store.apply('{apiVersion: weft.dev/v1alpha1, kind: Service, metadata: {name: payments}, spec: {ports: [{name: http, port: 8080, protocol: HTTP}]}}');
    assert.ok(again.ok);
    assert.deepEqual(again.changed, []);
    assert.equal(again.config.generation, first.config.generation);
    assert.equal(notified, 0);
    assert.equal((await stat(path.join(dir, 'service-payments.yaml'))).mtimeMs, mtime);
  });

  it('moves an applied resource out of the file that defined it, keeping the other documents and comments', async () => {
    const dir = await tempDir({ 'mesh.yaml': `# hand-written\n${SVC('payments')}---\n# the route\n${ROUTE('r', 'payments', 'payments')}` });
    const store = await open(`${dir}${path.sep}`); // a trailing separator must not confuse which files are the store's
    const res = await store.apply(SVC('payments', 9090).replace('port: 9090', 'port: 9090 }, { name: admin, port: 8080'));
    assert.ok(res.ok, JSON.stringify(res));
    assert.deepEqual(res.changed, ['Service/payments']);
    const files = await snapshot(dir);
    assert.deepEqual(Object.keys(files), ['mesh.yaml', 'service-payments.yaml']);
    assert.doesNotMatch(files['mesh.yaml']!, /^kind: Service$/m);
    assert.match(files['mesh.yaml']!, /# the route\n/);
    assert.match(files['mesh.yaml']!, /kind: HTTPRoute/);
    // What was written reloads to the same config.
    const reopened = await open(dir);
    assert.deepEqual(names(reopened.current()), names(store.current()));
  });

  it('previewApply predicts apply exactly, writing nothing', async () => {
    const dir = await tempDir({ 'mesh.yaml': `${SVC('payments')}---\n${SVC('ledger')}` });
    const store = await open(dir);
    const text = `${SVC('payments', 9090)}---\n${SVC('ledger')}---\n${ROUTE('r', 'payments', 'ledger')}`;
    const before = await snapshot(dir);
    const preview = previewApply(store.current(), text, 'p.yaml');
    assert.deepEqual(await snapshot(dir), before);
    assert.ok(preview.ok);
    assert.equal(preview.config.generation, 1);
    const res = await store.apply(text, 'p.yaml');
    assert.ok(res.ok);
    assert.deepEqual(preview.changed, res.changed);
    assert.deepEqual(preview.changed, ['HTTPRoute/r', 'Service/payments']);
    assert.deepEqual(names(preview.config), names(res.config));
    const bad = previewApply(store.current(), ROUTE('q', 'nope', 'ledger'), 'p.yaml');
    assert.deepEqual(bad, (await store.apply(ROUTE('q', 'nope', 'ledger'), 'p.yaml')));
  });

  it('serializes concurrent applies and deletes', async () => {
    const dir = await tempDir();
    const store = await open(dir);
    const results = await Promise.all([
      ...['a', 'b', 'c', 'd'].map((n) => store.apply(SVC(n))),
      store.delete('svc', 'a'),
    ]);
    assert.ok(results.every((r) => r.ok));
    assert.deepEqual(results.map((r) => r.ok && r.config.generation), [2, 3, 4, 5, 6]);
    assert.deepEqual(names(store.current()), ['Service/b', 'Service/c', 'Service/d']);
    assert.deepEqual(Object.keys(await snapshot(dir)), ['service-b.yaml', 'service-c.yaml', 'service-d.yaml']);
  });
});

describe('DirStore.delete', { timeout: 10_000 }, () => {
  it('refuses to delete a Service a route still references, naming the route', async () => {
    const dir = await tempDir({ 'mesh.yaml': `${SVC('payments')}---\n${SVC('ledger')}---\n${ROUTE('split', 'payments', 'ledger')}` });
    const store = await open(dir);
    const before = await snapshot(dir);
    const res = await store.delete('services', 'ledger');
    assert.deepEqual(res, {
      ok: false,
      errors: [
        {
          file: path.join(dir, 'mesh.yaml'),
          resource: 'HTTPRoute/split',
          field: 'spec.rules[0].backendRefs[0]',
          message: 'still references Service "ledger"; change or delete HTTPRoute/split first',
        },
      ],
    });
    assert.deepEqual(await snapshot(dir), before);
    assert.equal(store.current().generation, 1);
  });

  it('deletes by kind alias, rewriting or removing the file', async () => {
    const dir = await tempDir({ 'mesh.yaml': `${SVC('payments')}---\n${ROUTE('split', 'payments', 'payments')}` });
    const store = await open(dir);
    const r1 = await store.delete('httproutes', 'split');
    assert.ok(r1.ok);
    assert.deepEqual(r1.changed, ['HTTPRoute/split']);
    assert.doesNotMatch(await readFile(path.join(dir, 'mesh.yaml'), 'utf8'), /HTTPRoute/);
    const r2 = await store.delete('svc', 'payments');
    assert.ok(r2.ok);
    assert.equal(r2.config.generation, 3);
    assert.deepEqual(await readdir(dir), []);
    assert.deepEqual(await store.delete('svc', 'payments'), { ok: false, errors: [{ resource: 'Service/payments', message: 'not found' }] });
    const bad = await store.delete('gateway', 'x');
    assert.ok(!bad.ok && /"gateway" is not a kind Weft knows; Weft knows Service/.test(bad.errors[0]!.message));
  });
});

describe('DirStore watching', { timeout: 10_000 }, () => {
  it('refuses to rewrite a file that a hand edit left with broken YAML, and says which', async () => {
    const dir = await tempDir({ 'service-payments.yaml': SVC('payments') });
    const store = await open(dir, true);
    await writeFile(path.join(dir, 'service-payments.yaml'), 'kind: [oops\n');
    await until(() => store.lastErrors().length > 0);
    const res = await store.apply(SVC('payments', 9090));
    assert.deepEqual(res, {
      ok: false,
      errors: [
        {
          file: path.join(dir, 'service-payments.yaml'),
          resource: 'Service/payments',
          message: 'has YAML syntax errors, so Weft cannot rewrite it; fix or remove it by hand first',
        },
      ],
    });
    assert.equal(await readFile(path.join(dir, 'service-payments.yaml'), 'utf8'), 'kind: [oops\n');
    assert.equal(store.current().generation, 1);
  });

  it('applies a hand edit live', async () => {
    const dir = await tempDir({ 'a.yaml': SVC('payments') });
    const store = await open(dir, true);
    const seen: MeshConfig[] = [];
    store.onChange((c) => seen.push(c));
    await writeFile(path.join(dir, 'b.yaml'), SVC('ledger'));
    await until(() => store.current().generation === 2);
    assert.deepEqual(names(store.current()), ['Service/ledger', 'Service/payments']);
    assert.equal(seen.length, 1);
  });

  it('picks up a Kubernetes ConfigMap update (the ..data link swapped atomically)', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, '..v1'));
    await writeFile(path.join(dir, '..v1', 'mesh.yaml'), SVC('payments'));
    await symlink('..v1', path.join(dir, '..data'));
    await symlink(path.join('..data', 'mesh.yaml'), path.join(dir, 'mesh.yaml'));
    const store = await open(dir, true);
    assert.deepEqual(names(store.current()), ['Service/payments']);
    await mkdir(path.join(dir, '..v2'));
    await writeFile(path.join(dir, '..v2', 'mesh.yaml'), `${SVC('payments')}---\n${SVC('ledger')}`);
    await symlink('..v2', path.join(dir, '..data_tmp'));
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await until(() => store.current().generation === 2);
    assert.deepEqual(names(store.current()), ['Service/ledger', 'Service/payments']);
  });

  it('keeps the last good config on a bad hand edit and reports it in lastErrors', async () => {
    const dir = await tempDir({ 'a.yaml': SVC('payments') });
    const logger = recordingLogger();
    const store = await open(dir, true, logger);
    await writeFile(path.join(dir, 'a.yaml'), SVC('payments').replace('port: 8080', 'port: 99999'));
    await until(() => store.lastErrors().length > 0);
    assert.deepEqual(store.lastErrors().map((e) => e.field), ['spec.ports[0].port']);
    assert.equal(store.current().generation, 1);
    assert.equal((store.current().resources[0]!.spec as { ports: Array<{ port: number }> }).ports[0]!.port, 8080);
    assert.ok(logger.messages.includes('config directory has errors; keeping the last good configuration'));
    await writeFile(path.join(dir, 'a.yaml'), SVC('payments', 8081));
    await until(() => store.current().generation === 2);
    assert.deepEqual(store.lastErrors(), []);
  });

  it("does not make a second generation when the watcher sees the store's own write", async () => {
    const dir = await tempDir();
    const logger = recordingLogger();
    const store = await open(dir, true, logger);
    let notified = 0;
    store.onChange(() => notified++);
    const res = await store.apply(SVC('payments'));
    assert.ok(res.ok);
    await until(() => logger.messages.includes('config directory re-read: every file as the store last read or wrote it'));
    assert.equal(store.current().generation, 2);
    assert.equal(notified, 1);
    assert.ok(!logger.messages.includes('config directory re-read: no change'), 'the echo of its own write is not parsed again');
  });

  it('still applies a hand edit that an apply rewrote into the same file before the reload came', async () => {
    const dir = await tempDir({ 'service-payments.yaml': SVC('payments') });
    const logger = recordingLogger();
    // reload() is what the watcher calls: called here, the test decides when the reload comes.
    const store = (await open(dir, false, logger)) as ConfigStore & { reload(): Promise<void> };
    // The hand edit adds a document; before any reload sees it, an apply rewrites that file (keeping the document).
    await writeFile(path.join(dir, 'service-payments.yaml'), `${SVC('payments')}---\n${SVC('ledger')}`);
    const res = await store.apply(SVC('payments', 8081));
    assert.ok(res.ok);
    assert.deepEqual(names(store.current()), ['Service/payments']);
    assert.match(await readFile(path.join(dir, 'service-payments.yaml'), 'utf8'), /ledger/);
    await store.reload();
    assert.deepEqual(names(store.current()), ['Service/ledger', 'Service/payments'], 'the file is not taken for the echo of the apply');
    await store.reload();
    assert.ok(logger.messages.includes('config directory re-read: every file as the store last read or wrote it'));
    assert.equal(store.current().generation, 3);
  });

  it('stops watching on close', async () => {
    const dir = await tempDir();
    const store = await open(dir, true);
    await store.close();
    await store.close(); // idempotent
    await writeFile(path.join(dir, 'a.yaml'), SVC('payments'));
    await new Promise((r) => setTimeout(r, 100)); // > debounce: a live watcher would have reloaded by now
    assert.equal(store.current().generation, 1);
    const res = await store.apply(SVC('x'));
    assert.deepEqual(res, { ok: false, errors: [{ message: 'the config store is closed' }] });
  });
});
