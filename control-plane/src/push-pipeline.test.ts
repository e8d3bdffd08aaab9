// Tests the push pipeline of a real control plane over loopback gRPC and HTTP: edits debounced (coalesced, and
// bounded under churn) while endpoint changes are pushed at once, convergence timed from the first change to the client's ACK (debounce included), and the
// Prometheus /metrics endpoint and /v1/status that expose it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isMeshError } from '../../src/core/errors.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from './control-plane.js';
import { AdsTestClient } from './server/ads-test-client.js';
import { serviceYaml } from '../../test/integration/helpers.js';

/** A route on payments whose header match marks the edit (`x-edit: <n>`). */
const EDIT = (n: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: pay }
spec:
  parentRefs: [{ kind: Service, name: payments }]
  rules:
  - matches: [{ headers: [{ name: x-edit, value: '${n}' }] }]
    backendRefs: [{ name: payments, port: 8080 }]
`;
const EDS = TYPE_URL.clusterLoadAssignment;
const RDS = TYPE_URL.routeConfiguration;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The `x-edit` value a pushed RouteConfiguration matches (which EDIT it carries). */
const edit = (r: { resources: unknown }) => /"name":"x-edit".*?"exact":"(\d+)"/.exec(JSON.stringify(r.resources))?.[1];

async function start(t: { after(fn: () => Promise<void>): void }, options: Partial<ControlPlaneOptions>): Promise<ControlPlane> {
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-push-'));
  await writeFile(path.join(dir, 'payments.yaml'), serviceYaml('payments'));
  const cp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, stateDir: false, ...options });
  t.after(async () => {
    await cp.close();
    await rm(dir, { recursive: true, force: true });
  });
  return cp;
}

/** An ADS stream subscribed to payments' routes, its first answer ACKed. */
async function watchRoutes(t: { after(fn: () => void): void }, cp: ControlPlane): Promise<AdsTestClient> {
  const c = new AdsTestClient(cp.xdsAddress);
  t.after(() => c.close());
  c.send({ typeUrl: RDS, names: ['payments'], node: { id: `push-${cp.xdsAddress}` } });
  c.ack(await c.next(), ['payments']);
  return c;
}

/** One Prometheus sample's value from /metrics text, or undefined. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function until<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('push pipeline', { timeout: 60_000 }, () => {
  it('pushes an edit after a quiet spell at once, and coalesces the edits behind it into one push after the quiet period', async (t) => {
    const cp = await start(t, { debounceMs: 2_000, debounceMaxMs: 20_000 });
    const c = await watchRoutes(t, cp);
    assert.equal((await cp.store.apply(EDIT(1))).ok, true);
    const lead = await c.next(1_500); // well before the 2 s quiet period would end
    assert.equal(edit(lead), '1', 'the first edit is pushed without waiting');
    c.ack(lead, ['payments']);
    for (let i = 2; i <= 10; i++) {
      assert.equal((await cp.store.apply(EDIT(i))).ok, true);
      await sleep(50); // far apart for same-turn coalescing, well inside the 2 s quiet period
    }
    const pushed = await c.next(15_000);
    assert.equal(edit(pushed), '10', 'one push carries the nine that followed');
    assert.equal(c.pending, 0, 'and no other push followed');
  });

  it('still pushes at debounceMaxMs while edits never stop', async (t) => {
    const cp = await start(t, { debounceMs: 500, debounceMaxMs: 1_500 });
    const c = await watchRoutes(t, cp);
    // The first edit after a quiet spell is pushed at once; the churn behind it is what the bound is about.
    assert.equal((await cp.store.apply(EDIT(0))).ok, true);
    c.ack(await c.next(10_000), ['payments']);
    const CHURN = 100; // one edit every 100 ms: 10 s of churn, never a 500 ms quiet period
    let edits = 0;
    let pushedAfter: number | undefined;
    const push = c.next(30_000).then((r) => {
      pushedAfter = edits;
      return r;
    });
    while (edits < CHURN && pushedAfter === undefined) {
      assert.equal((await cp.store.apply(EDIT(++edits))).ok, true);
      await sleep(100);
    }
    await push;
    assert.ok(pushedAfter !== undefined && pushedAfter < CHURN, `a push came while the churn went on (after ${pushedAfter} of ${CHURN} edits)`);
  });

  it('pushes an endpoint change at once while an edit burst waits, as EDS only and without the half-applied burst', async (t) => {
    const cp = await start(t, { debounceMs: 3_000, debounceMaxMs: 30_000 });
    const c = new AdsTestClient(cp.xdsAddress);
    t.after(() => c.close());
    // One SotW stream watching both the routes and the endpoints of payments.
    c.send({ typeUrl: RDS, names: ['payments'], node: { id: 'push-urgent' } });
    c.ack(await c.next(), ['payments']);
    c.send({ typeUrl: EDS, names: ['payments:8080'], node: { id: 'push-urgent' } });
    c.ack(await c.next(), ['payments:8080']);
    assert.equal((await cp.store.apply(EDIT(1))).ok, true);
    const lead = await c.next(10_000); // the leading edge
    assert.equal(lead.type_url, RDS);
    c.ack(lead, ['payments']);
    assert.equal((await cp.store.apply(EDIT(2))).ok, true); // inside the 3 s quiet period: waits
    assert.ok(cp.registry.register({ service: 'payments', address: '10.5.0.1', port: 8080 }).ok);
    const eds = await c.next(10_000);
    assert.equal(eds.type_url, EDS, 'the endpoint change came first, not behind the edit');
    assert.match(JSON.stringify(eds.resources), /10\.5\.0\.1/);
    c.ack(eds, ['payments:8080']);
    const routes = cp.ads.clients()[0]!.types.find((s) => s.typeUrl === RDS)!;
    assert.equal(routes.sentVersion, lead.version_info, 'the waiting edit was not published with the endpoint');
    const status = async () => (await (await fetch(`${cp.adminUrl}/v1/status`, { headers: { authorization: `Bearer ${cp.adminToken}` } })).json()) as { generation: number; pushedGeneration: number };
    const waiting = await status();
    assert.equal(waiting.pushedGeneration, waiting.generation - 1, '/v1/status shows the edit still waiting in the debounce');
    assert.equal(cp.snapshotGeneration, waiting.pushedGeneration);
    const burst = await c.next(30_000);
    assert.equal(burst.type_url, RDS);
    assert.equal(edit(burst), '2', 'the edit lands when its quiet period ends');
    c.ack(burst, ['payments']);
    assert.equal(c.pending, 0);
    const pushed = await status();
    assert.equal(pushed.pushedGeneration, pushed.generation, 'and as pushed once it landed');
    assert.equal(cp.ads.clients()[0]!.types.find((s) => s.typeUrl === EDS)!.sentVersion, eds.version_info, 'and EDS was not pushed again');
  });

  it('times convergence from the change to the ACK, debounce included, and serves it on /metrics and /v1/status', async (t) => {
    const cp = await start(t, { debounceMs: 1_000 });
    const metrics = async () => {
      const res = await fetch(`${cp.adminUrl}/metrics`); // no operator token: scrapers do not hold it
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    const c = new AdsTestClient(cp.xdsAddress);
    t.after(() => c.close());
    c.send({ typeUrl: RDS, names: ['payments'], node: { id: 'push-3', cluster: 'checkout' } });
    const first = await c.next();
    c.ack(first, ['payments']);
    const before = await metrics();
    assert.equal(sample(before, 'weft_control_plane_xds_clients'), 1);
    assert.equal(sample(before, 'weft_control_plane_proxy_convergence_time_seconds_count'), 0, 'a first answer is not a convergence');

    // An edit just before takes the leading (immediate) rebuild, so the edit after it waits out the 1 s quiet period
    // (long, so that two file writes on a loaded machine still fall inside it). It adds a Service, which changes
    // nothing this stream watches.
    assert.equal((await cp.store.apply(serviceYaml('ledger'))).ok, true);
    const applied = await fetch(`${cp.adminUrl}/v1/apply`, { method: 'POST', body: EDIT(1), headers: { authorization: `Bearer ${cp.adminToken}` } });
    assert.equal(applied.status, 200);
    const pushed = await c.next(10_000);
    assert.match(JSON.stringify(pushed.resources), /HTTPRoute\/pay/);
    assert.equal(sample(await metrics(), 'weft_control_plane_proxy_convergence_time_seconds_count'), 0, 'sent is not converged: the ACK is');
    c.ack(pushed, ['payments']);
    const text = await until(async () => {
      const m = await metrics();
      return sample(m, 'weft_control_plane_proxy_convergence_time_seconds_count') === 1 ? m : undefined;
    }, 'the convergence to be counted');
    assert.ok(sample(text, 'weft_control_plane_proxy_convergence_time_seconds_sum')! >= 1, 'the 1 s debounce is part of convergence time');
    assert.match(text, /^weft_control_plane_proxy_convergence_time_seconds_bucket\{le="0\.5"\} 0$/m, "Istio's buckets, and none under the debounce");
    assert.match(text, /^weft_control_plane_proxy_convergence_time_seconds_bucket\{le="30"\} 1$/m);
    assert.match(text, /^weft_control_plane_xds_pushes_total\{type="RouteConfiguration",type_url="type\.googleapis\.com\/envoy\.config\.route\.v3\.RouteConfiguration"\} 2$/m);
    assert.match(text, /^weft_control_plane_rebuild_duration_seconds_count [1-9]\d*$/m);

    const status = await fetch(`${cp.adminUrl}/v1/status`, { headers: { authorization: `Bearer ${cp.adminToken}` } });
    const body = (await status.json()) as { convergence?: { count: number; p50Ms?: number; p99Ms?: number; window: number } };
    assert.equal(body.convergence?.count, 1);
    assert.equal(body.convergence?.window, 1);
    assert.ok((body.convergence?.p50Ms ?? 0) >= 1_000 && body.convergence?.p99Ms === body.convergence?.p50Ms);
    assert.equal((await fetch(`${cp.adminUrl}/v1/status`)).status, 401, 'the rest of the admin API still needs the token');

    // A NACK is counted per type and is not a convergence.
    await fetch(`${cp.adminUrl}/v1/apply`, { method: 'POST', body: EDIT(2), headers: { authorization: `Bearer ${cp.adminToken}` } });
    const refused = await c.next(10_000);
    c.send({ typeUrl: RDS, names: ['payments'], version: pushed.version_info, nonce: refused.nonce, errorMessage: 'test: refused' });
    const after = await until(async () => {
      const m = await metrics();
      return /^weft_control_plane_xds_nacks_total\{type="RouteConfiguration"/m.test(m) ? m : undefined;
    }, 'the NACK to be counted');
    assert.match(after, /^weft_control_plane_xds_nacks_total\{type="RouteConfiguration",type_url="[^"]+"\} 1$/m);
    assert.equal(sample(after, 'weft_control_plane_proxy_convergence_time_seconds_count'), 1);
  });

  it('refuses bad push options with a clear error before opening anything', async () => {
    const dir = path.join(tmpdir(), 'weft-push-never-created');
    for (const [options, message] of [
      [{ debounceMs: -5 }, /debounceMs must be a number of ms ≥ 0, got -5/],
      [{ debounceMaxMs: Infinity }, /debounceMaxMs must be a number of ms ≥ 0, got Infinity/],
      [{ maxConnectionAgeMs: 1.5 }, /maxConnectionAgeMs must be an integer number of ms ≥ 0, got 1\.5/],
      [{ maxConnectionAgeGraceMs: -1 }, /maxConnectionAgeGraceMs must be an integer number of ms ≥ 0, got -1/],
    ] as const) {
      await assert.rejects(startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, ...options }), (e: unknown) => isMeshError(e, 'WEFT_ERR_INVALID_ARG') && message.test((e as Error).message));
    }
  });
});
