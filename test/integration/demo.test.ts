// The README's first command: the demo starts a control plane, its HTTP and gRPC services and traffic, and stops cleanly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers.js';

describe('npm run demo', { timeout: 90_000 }, () => {
  it('serves traffic through every service with no failed request, then stops by itself', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'examples/demo/run.ts'), '--duration', '6', '--xds-port', '0', '--admin-port', '0', '--rate', '30'],
      // Inventory sheds every 3rd Reserve (25 by default) so a short run on a slow machine still exercises the retry.
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHED_EVERY: '3' } },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 80_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    assert.equal(code, 0, `demo exited ${code}\nstdout:\n${out}\nstderr:\n${err}`);

    const final = out.slice(out.lastIndexOf('\nfinal\n'));
    assert.ok(final.length > 7, `no final table in:\n${out}`);
    const rows = final
      .split('\n')
      .slice(3)
      .filter((l) => l.trim() !== '')
      .map((l) => l.trim().split(/\s{2,}/));
    const byService = new Map<string, { requests: number; ok: number; errors: number }>();
    for (const [, service, requests, ok, errors] of rows) {
      const sum = byService.get(service!) ?? { requests: 0, ok: 0, errors: 0 };
      byService.set(service!, { requests: sum.requests + Number(requests), ok: sum.ok + Number(ok), errors: sum.errors + Number(errors) });
    }
    for (const service of ['loadgen', 'frontend', 'catalog', 'payments', 'payments-v2']) {
      const s = byService.get(service);
      assert.ok(s && s.ok > 0, `${service} served nothing:\n${final}`);
      assert.equal(s.errors, 0, `${service} had errors:\n${final}`);
    }
    // Two payments v1 replicas share v1's traffic (round robin).
    assert.equal(rows.filter((r) => r[1] === 'payments').length, 2);

    // gRPC: every catalog request streams stock levels (ListStock) and every frontend request reserves stock (Reserve)
    // from inventory, through mesh.grpc clients, and both inventory replicas answer.
    const inventory = rows.filter((r) => r[1] === 'inventory');
    assert.equal(inventory.length, 2, `two inventory replicas:\n${final}`);
    for (const [instance, , , ok] of inventory) assert.ok(Number(ok) > 0, `${instance} answered no gRPC call:\n${final}`);
    const inv = byService.get('inventory')!;
    const callers = byService.get('frontend')!.requests + byService.get('catalog')!.requests;
    assert.equal(inv.ok, callers, `one successful gRPC call per frontend and catalog request:\n${final}`);
    // Replicas refuse every 3rd Reserve (SHED_EVERY above) with UNAVAILABLE on purpose. Those are inventory's only errors, and the
    // GRPCRoute's retry hid all of them from frontend (which had no errors, above).
    assert.ok(inv.errors > 0, `no Reserve was shed, so the retry went untested:\n${final}`);
    for (const [instance, , , , errors, , , lastError] of inventory) {
      if (Number(errors) > 0) assert.match(lastError ?? '', /^shed a Reserve: UNAVAILABLE/, `${instance}:\n${final}`);
    }
  });
});
