// The dashboard in real headless Chromium (Debian's chromium through playwright-core), over the running demo: it shows
// the demo's services, edges and live numbers, and a NACK with its message once a resource a client refuses is applied.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { StatsView } from '../../control-plane/src/admin/stats-routes.js';
import { AdsTestClient } from '../../control-plane/src/server/ads-test-client.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { weftBinary } from '../../cli/cli-test-kit.js';
import { ROOT, runXdsClient } from './helpers.js';

/** Debian's chromium; .ci/run installs it. */
const CHROMIUM = process.env['WEFT_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = path.join(ROOT, 'test-artifacts');

// A route that turns retries off with `attempts: 0` (num_retries 0): valid for the control plane, Envoy and the Weft
// SDK (the demo's frontend ACKs it), but gRFC A44 clients require num_retries >= 1, so an unmodified grpc-js-xds client
// watching `catalog` refuses the RouteConfiguration and NACKs it: a real client refusing a resource the control plane
// serves, a difference between xDS clients rather than a validation gap that a later fix would close.
const NACKED_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: catalog-no-retries }
spec:
  parentRefs: [{ kind: Service, name: catalog }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /no-retries } }]
    retry: { attempts: 0 }
    backendRefs: [{ name: catalog }]
`;
/** Node id of the grpc-js-xds client, so the test finds its NACK on the page. */
const GRPC_NODE = 'grpc-js-xds-dashboard';

/** Polls `check` every 200 ms until it holds; fails naming `what` after `timeoutMs`. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('dashboard in headless Chromium', { timeout: 180_000 }, () => {
  let demo: ChildProcess | undefined;
  let demoOut = '';
  let adminUrl = '';
  let xdsAddress = '';
  let token = '';
  let context: BrowserContext | undefined;
  let userDataDir = '';
  const admin = async <T>(method: string, p: string, body?: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${adminUrl}${p}`, { method, headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { body }) });
    return { status: res.status, body: (await res.json()) as T };
  };

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: the dashboard test needs Debian's chromium (apt-get install -y --no-install-recommends chromium; .ci/run does this)`);
    demo = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'examples/demo/run.ts'), '--duration', '170', '--xds-port', '0', '--admin-port', '0', '--rate', '20'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, REPORT_INTERVAL_MS: '1000' },
    });
    demo.stderr!.on('data', (d: Buffer) => (demoOut = (demoOut + d.toString()).slice(-20_000)));
    let tokenFile = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the demo printed no admin address within 60 s:\n${demoOut}`)), 60_000);
      createInterface({ input: demo!.stdout! }).on('line', (line) => {
        demoOut = (demoOut + line + '\n').slice(-20_000);
        const url = /admin (http:\/\/[^,\s]+)/.exec(line);
        if (url) adminUrl = url[1]!;
        const xds = /xDS http:\/\/([^,\s]+)/.exec(line);
        if (xds) xdsAddress = xds[1]!;
        const file = /WEFT_ADMIN_TOKEN_FILE=(\S+)/.exec(line);
        if (file) tokenFile = file[1]!;
        if (adminUrl !== '' && tokenFile !== '') {
          clearTimeout(timer);
          resolve();
        }
      });
      demo!.once('exit', (code) => reject(new Error(`the demo exited (${code}) early:\n${demoOut}`)));
    });
    token = (await readFile(tokenFile, 'utf8')).trim();
    userDataDir = await mkdtemp(path.join(tmpdir(), 'weft-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1400, height: 1000 } });
  });

  after(async () => {
    await context?.close();
    if (demo && demo.exitCode === null) {
      const exited = new Promise((resolve) => demo!.once('exit', resolve));
      demo.kill('SIGTERM');
      const timer = setTimeout(() => demo!.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  it('shows the services, the edges between them and live numbers, then a NACK with its message', { timeout: 150_000 }, async () => {
    // Reports arrive every second once the services run; wait until the control plane has rates for the callees.
    const deadline = Date.now() + 60_000;
    let stats: StatsView | undefined;
    while (Date.now() < deadline) {
      stats = (await admin<StatsView>('GET', '/v1/stats?window=1m')).body;
      if (['payments', 'payments-v2', 'catalog', 'inventory', 'frontend'].every((s) => (stats!.services.find((x) => x.service === s)?.rps ?? 0) > 0)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(stats && stats.services.some((s) => s.service === 'payments' && s.rps > 0), `no traffic reported:\n${JSON.stringify(stats)}\n${demoOut}`);

    // weft stat over the same reports: one row per service, with live numbers (kept as an artifact beside the screenshot).
    const stat = await weftBinary(['stat'], { WEFT_ADMIN: adminUrl, WEFT_ADMIN_TOKEN: token });
    assert.equal(stat.code, 0, stat.stderr);
    for (const service of ['catalog', 'frontend', 'inventory', 'payments', 'payments-v2']) {
      assert.match(stat.stdout, new RegExp(`^${service}\\s+[1-9]\\d*\\s+\\d+\\.\\d\\d%\\s+\\d+\\.\\d+rps\\s+[\\d.]+ms\\s+[\\d.]+ms\\s+[\\d.]+ms$`, 'm'), stat.stdout);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    await writeFile(path.join(ARTIFACTS, 'weft-stat.txt'), stat.stdout);

    const page: Page = await context!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
    await page.goto(`${adminUrl}/dashboard#token=${encodeURIComponent(token)}`);
    assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar at once');

    for (const service of ['loadgen', 'frontend', 'catalog', 'payments', 'payments-v2', 'inventory']) {
      await page.locator(`svg.graph g.node[data-service="${service}"]`).waitFor({ timeout: 15_000 });
    }
    // Edges go to the service called (payments), whichever backend the route then picked (the payments-v2 canary).
    for (const [from, to] of [['loadgen', 'frontend'], ['frontend', 'catalog'], ['frontend', 'payments'], ['frontend', 'inventory'], ['catalog', 'inventory']]) {
      const edge = page.locator(`svg.graph g.edge[data-source="${from}"][data-destination="${to}"]`);
      await edge.waitFor({ timeout: 15_000 });
      assert.match((await edge.textContent()) ?? '', /[\d.]+ rps.*%.*p99 [\d.]+ms/, `edge ${from} -> ${to}`);
    }
    const paymentsRow = page.locator('#services tbody tr[data-service="payments"]');
    await paymentsRow.waitFor();
    const rps = Number(await paymentsRow.locator('td.rps').textContent());
    assert.ok(rps > 0, `payments RPS on the page: ${rps}`);
    const cells = await paymentsRow.locator('td').allTextContents();
    assert.match(cells[2]!, /^\d+(\.\d+)?%$/, `success rate: ${cells.join(' | ')}`);
    assert.match(cells[6]!, /^[\d.]+ms$/, `p99: ${cells.join(' | ')}`);
    // Live: the numbers change between two polls as traffic goes on.
    const before = await page.locator('#updated').textContent();
    await until(async () => (await page.locator('#updated').textContent()) !== before, 'the page to refresh', 10_000);

    // The per-service page: its chart over time and its routes.
    await page.locator('svg.graph g.node[data-service="payments"]').click();
    await until(async () => (await page.locator('#selected-service').textContent()) === 'payments', 'the payments page', 10_000);
    await page.locator('svg.chart polyline.p99-line').waitFor({ timeout: 15_000 });
    await until(async () => ((await page.locator('svg.chart polyline.rps-line').getAttribute('points')) ?? '').split(' ').length >= 2, 'two points on the chart', 15_000);
    // Instances with their ACKed versions and certificate expiry (the demo enrols every service).
    const instanceRow = page.locator('#instances tbody tr', { hasText: 'payments-v2' }).first();
    await instanceRow.waitFor();
    assert.match((await instanceRow.textContent()) ?? '', /in (\d+h\d+m|\d+m\d+s|\d+d\d+h)/, 'certificate expiry shown');

    // The realistic NACK: a route the control plane serves and the Weft SDK accepts, which a real grpc-js-xds client
    // (its own process, watching catalog while it makes calls) refuses.
    const applied = await admin<{ changed?: unknown }>('POST', '/v1/apply?source=dashboard-test', NACKED_ROUTE);
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    const stopGrpc = new AbortController();
    const grpcClient = runXdsClient(xdsAddress, 1_000_000, 'xds:///catalog', undefined, { nodeId: GRPC_NODE, signal: stopGrpc.signal }).catch(() => undefined);
    try {
      const nack = page.locator('#nacks tr.nack', { hasText: GRPC_NODE }).first();
      await nack.waitFor({ timeout: 60_000 });
      const message = (await nack.locator('.nack-message').textContent()) ?? '';
      assert.match(message, /num_retries\.value: 0/, message);
      assert.match((await nack.textContent()) ?? '', /RDS/);
      assert.match((await page.locator('#nack-count').textContent()) ?? '', /^[1-9]\d* NACKs?$/);
      // The Weft SDK in frontend took the same route: no NACK from it.
      assert.equal(await page.locator('#nacks tr.nack', { hasText: 'frontend' }).count(), 0, 'the Weft SDK accepts num_retries 0');
    } finally {
      stopGrpc.abort();
      await grpcClient;
    }

    // What clients send is shown as text, never as markup: any loopback process may connect with any node id and
    // NACK with any message.
    const markup = '<img src=x onerror="globalThis.__pwned=1">';
    const evil = new AdsTestClient(xdsAddress);
    try {
      evil.send({ typeUrl: TYPE_URL.cluster, node: { id: `evil-${markup}`, cluster: 'evil' } });
      const response = await evil.next(10_000);
      evil.send({ typeUrl: TYPE_URL.cluster, version: '', nonce: response.nonce, errorMessage: `refused ${markup}` });
      await page.locator('#nacks .nack-message', { hasText: `refused ${markup}` }).waitFor({ timeout: 15_000 });
      await page.locator('#instances td', { hasText: `evil-${markup}` }).first().waitFor({ timeout: 5_000 });
      assert.equal(await page.locator('main img').count(), 0, 'no element made from client text');
      // (Functions run in the page; this project compiles without the DOM library, hence globalThis.)
      assert.equal(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned), undefined, 'no markup from a client ran');
    } finally {
      evil.close();
    }
    await until(async () => (await page.locator('#nacks .nack-message', { hasText: markup }).count()) === 0, 'the closed client to leave the page', 10_000);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    if (process.env['WEFT_WRITE_DOCS_SCREENSHOT'] === '1') {
      await mkdir(path.join(ROOT, 'docs', 'images'), { recursive: true });
      await page.screenshot({ path: path.join(ROOT, 'docs', 'images', 'dashboard.png'), fullPage: true });
    }
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
    await page.close();
  });
});
