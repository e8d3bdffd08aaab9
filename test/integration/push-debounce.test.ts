// The push debounce at its default settings, on a real `weft control-plane` process with real SDK processes: an edit
// burst costs fewer snapshot versions than edits, while endpoint changes bypass it: a backend registered during
// constant edit churn is called as soon as it is up, and a deregistration reaches a caller before the server's drain
// delay ends.
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMesh, DEFAULT_DRAIN_DELAY_MS, type Mesh } from '../../src/index.js';
import { startControlPlaneProcess, type ControlPlaneProcess } from './control-plane-process.js';
import { serviceYaml, spawnFixture, waitFor, type TestProcess } from './helpers.js';

/** An HTTPRoute `name` on payments matching the exact path `/<name>`; `tag` changes its content without changing its match. */
const route = (name: string, tag = '0') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ kind: Service, name: payments }]
  rules:
  - matches: [{ path: { type: Exact, value: /${name} }, headers: [{ name: x-tag, value: '${tag}' }] }]
    backendRefs: [{ name: payments, port: 8080 }]
`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The sum of the samples in /metrics text whose line starts with `prefix` (a metric name, optionally with labels). */
function total(text: string, prefix: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(prefix) && /^[^ ]+ /.test(l))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('push debounce at the default settings (real control-plane process)', { timeout: 180_000 }, () => {
  let dir: string;
  let cp: ControlPlaneProcess;
  let client: Mesh;
  const cleanup: (() => Promise<unknown>)[] = [];

  const metrics = async () => (await fetch(`${cp.adminUrl}/metrics`)).text();
  const apply = async (yaml: string) => {
    const r = await cp.admin('POST', '/v1/apply', yaml);
    assert.equal(r.status, 200, `apply refused: ${JSON.stringify(r.body)}`);
  };
  /** The addresses the client routes echo to, as it sees them now. */
  const echoEndpoints = () => client.configDump().clusters['echo:8080']?.endpoints ?? [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-push-debounce-'));
    await writeFile(path.join(dir, 'mesh.yaml'), `${serviceYaml('echo')}---\n${serviceYaml('payments')}`);
    cp = await startControlPlaneProcess({ configDir: dir }); // no --debounce: the defaults are what is tested
    client = await createMesh({ service: 'client', controlPlane: cp.xdsUrl, dependsOn: ['echo', 'payments'] });
    await client.ready();
  });

  after(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
    await client?.close();
    await cp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('coalesces a burst of applies into fewer snapshot versions than edits', async () => {
    const EDITS = 8;
    const before = await metrics();
    // Sent together, as a script or CI job applying a directory file by file does: the store applies them in turn.
    await Promise.all(Array.from({ length: EDITS }, (_, i) => apply(route(`burst-${i}`))));
    // Wait for the pushed version (not a sleep): the client routes every edit.
    await waitFor(async () => {
      for (let i = 0; i < EDITS; i++) if (!(await client.explain(`http://payments/burst-${i}`, { headers: { 'x-tag': '0' } })).route?.name.includes(`burst-${i}`)) return false;
      return true;
    }, 'the client to route every edit of the burst', 30_000);
    const after = await metrics();
    const rebuilds = total(after, 'weft_control_plane_rebuild_duration_seconds_count ') - total(before, 'weft_control_plane_rebuild_duration_seconds_count ');
    const routePushes = total(after, 'weft_control_plane_xds_pushes_total{type="RouteConfiguration"') - total(before, 'weft_control_plane_xds_pushes_total{type="RouteConfiguration"');
    assert.ok(rebuilds >= 1 && rebuilds < EDITS, `${EDITS} edits cost ${rebuilds} snapshot versions (rebuilds)`);
    assert.ok(routePushes >= 1 && routePushes < EDITS, `${EDITS} edits cost the client ${routePushes} RouteConfiguration pushes`);
  });

  it('routes an endpoint registered during edit churn at once, and a deregistration reaches the caller before the drain delay ends', async () => {
    // Constant churn: an edit every ~20 ms never leaves the 100 ms quiet period, so edits are pushed only at the 1 s
    // bound. Endpoint changes must not wait for it.
    let churning = true;
    let edits = 0;
    const churn = (async () => {
      while (churning) {
        await apply(route('churn', String(++edits)));
        await sleep(20);
      }
    })();
    cleanup.push(async () => {
      churning = false;
      await churn;
    });
    await waitFor(() => edits >= 5, 'the churn to be under way', 30_000);

    // Register-then-call: a backend process that prints ready once registered is called at once, as a start-up script would.
    const fresh: TestProcess = spawnFixture('test/integration/fixtures/http-backend.ts', { WEFT_CONTROL_PLANE: cp.xdsUrl, SERVICE: 'echo', INSTANCE: 'fresh' });
    cleanup.push(() => fresh.stop('SIGKILL'));
    await fresh.waitForLine((l) => l.type === 'ready');
    const res = await client.fetch('http://echo/');
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { instance: string }).instance, 'fresh');

    // Deregistrations: an in-process server with the SDK's default drain delay closes while the churn goes on. The
    // caller must stop picking it before the drain delay ends (close() resolves only after it), however the 1 s bound
    // of the churn falls: three rounds, each landing at another point of the churn's debounce window.
    assert.equal(DEFAULT_DRAIN_DELAY_MS, 500);
    for (let round = 1; round <= 3; round++) {
      const server = await createMesh({ service: 'echo', controlPlane: cp.xdsUrl });
      cleanup.push(() => server.close());
      const served = await server.serve((_req: http.IncomingMessage, res: http.ServerResponse) => res.end(JSON.stringify({ instance: `round-${round}` })), { port: 0 });
      const mine = (e: string) => e.endsWith(`:${served.port}`);
      await waitFor(() => echoEndpoints().some(mine), `round ${round}: the client to see the new endpoint`, 30_000);
      const events: string[] = [];
      const watch = client.onConfig(() => {
        if (!events.includes('caller stopped picking it') && !echoEndpoints().some(mine)) events.push('caller stopped picking it');
      });
      await served.close(); // deregister, then the drain delay, then close
      events.push('drain delay over, server closed');
      await waitFor(() => events.includes('caller stopped picking it'), `round ${round}: the client to drop the endpoint`, 30_000);
      watch.dispose();
      assert.deepEqual(events, ['caller stopped picking it', 'drain delay over, server closed'], `round ${round} (${edits} edits so far)`);
      await server.close();
    }
    churning = false;
    await churn;
    assert.ok(edits >= 10, `the churn went on throughout (${edits} edits)`);
  });
});
