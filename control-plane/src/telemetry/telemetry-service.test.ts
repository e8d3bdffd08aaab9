// The Report RPC on a real control plane (xDS auth required): refused without a credential, for another service, or
// too large; the SDK reporter's reports turn into /v1/stats numbers that match the traffic counted.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ControlPlaneClient } from '../../../src/discovery/control-plane-client.js';
import { protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { TrafficReporter } from '../../../src/telemetry/reporter.js';
import { LATENCY_BUCKETS_MS, MAX_TRAFFIC_ROWS } from '../../../src/telemetry/traffic-summary.js';
import { CountingTrafficSource } from '../../../src/telemetry/traffic-test-kit.js';
import { startControlPlane, type ControlPlane } from '../control-plane.js';
import type { StatsView, SeriesView } from '../admin/stats-routes.js';

const row = (i: number) => ({ direction: 'INBOUND', protocol: 'HTTP', peer: 'frontend', route: `r${i}`, requests: 1, failures: 0, retries: 0, latency: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0).map((_, j) => (j === 3 ? 1 : 0)) });

describe('weft.telemetry.v1.Telemetry/Report', { timeout: 30_000 }, () => {
  let dir = '';
  let cp: ControlPlane;
  let token = '';
  const clients: ControlPlaneClient[] = [];
  const report = (request: ProtoObject, credential?: string): Promise<grpc.ServiceError | null> => {
    const client = new ControlPlaneClient({ server: cp.xdsAddress, ...(credential ? { credential: () => credential } : {}) });
    clients.push(client);
    return new Promise((resolve) => client.unary(protos().telemetryService['Report'] as grpc.MethodDefinition<ProtoObject, ProtoObject>, request, 3000, (err) => resolve(err)));
  };
  const admin = async <T>(p: string, auth = true): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${cp.adminUrl}${p}`, { headers: auth ? { authorization: `Bearer ${cp.adminToken}` } : {} });
    return { status: res.status, body: (await res.json()) as T };
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-telemetry-'));
    cp = await startControlPlane({ configDir: path.join(dir, 'store'), xdsPort: 0, adminPort: 0, stateDir: false, security: { xdsAuth: 'required' } });
    token = (await cp.tokens.create({ service: 'payments', ttlMs: 600_000 })).token;
  });
  after(async () => {
    for (const c of clients) c.close();
    await cp.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a report without a credential (UNAUTHENTICATED) and records nothing', async () => {
    const err = await report({ node_id: 'n1', service: 'payments', traffic: [row(0)] });
    assert.equal(err?.code, grpc.status.UNAUTHENTICATED, String(err?.details));
    assert.equal(cp.traffic.size().instances, 0);
  });

  it('refuses an authenticated workload reporting for another service (PERMISSION_DENIED)', async () => {
    const err = await report({ node_id: 'n1', service: 'inventory', traffic: [row(0)] }, token);
    assert.equal(err?.code, grpc.status.PERMISSION_DENIED);
    assert.match(err!.details, /only its own service/);
    assert.equal(cp.traffic.size().instances, 0);
  });

  it(`refuses more than ${MAX_TRAFFIC_ROWS} rows and a malformed histogram (INVALID_ARGUMENT), accepts ${MAX_TRAFFIC_ROWS}`, async () => {
    const tooMany = await report({ node_id: 'n1', service: 'payments', traffic: Array.from({ length: MAX_TRAFFIC_ROWS + 1 }, (_, i) => row(i)) }, token);
    assert.equal(tooMany?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(tooMany!.details, /257 rows, at most 256/);
    const shortHistogram = await report({ node_id: 'n1', service: 'payments', traffic: [{ ...row(0), latency: [1, 2] }] }, token);
    assert.equal(shortHistogram?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(shortHistogram!.details, /traffic\[0\]\.latency: 2 counts, expected 15/);
    const noNode = await report({ service: 'payments', traffic: [] }, token);
    assert.equal(noNode?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(cp.traffic.size().instances, 0);
    assert.equal(await report({ node_id: 'n-max', service: 'payments', traffic: Array.from({ length: MAX_TRAFFIC_ROWS }, (_, i) => row(i)) }, token), null);
    assert.equal(cp.traffic.size().instances, 1);
    cp.traffic.clear();
  });

  it('turns the reporter\'s cumulative reports into /v1/stats rates, success rate and percentiles', async () => {
    const source = new CountingTrafficSource();
    const reporter = new TrafficReporter({
      server: cp.xdsAddress,
      source,
      nodeId: 'payments-1',
      service: 'payments',
      instance: () => '127.0.0.1:8080',
      certificateExpiresAtMs: () => 4_102_444_800_000,
      intervalMs: 200,
      credential: () => token,
    });
    try {
      // 40 requests between reports for 1.2 s: 1 in 10 fails; 9 in 10 take 20 ms, 1 in 10 takes 300 ms.
      const started = Date.now();
      let sent = 0;
      while (Date.now() - started < 1500) {
        for (let i = 0; i < 40; i++) source.record('inbound', 'frontend', 'charge', i % 10 === 0 ? 300 : 20, { failed: i % 10 === 5 });
        sent += 40;
        await reporter.flush();
        await new Promise((r) => setTimeout(r, 100));
      }
      await reporter.flush();
      assert.ok(reporter.status().sent >= 5, JSON.stringify(reporter.status()));
      assert.equal(reporter.status().failed, 0, reporter.status().lastError);
      const { status, body } = await admin<StatsView>('/v1/stats?window=1m');
      assert.equal(status, 200);
      const payments = body.services.find((s) => s.service === 'payments');
      assert.ok(payments, JSON.stringify(body));
      assert.equal(payments.meshed, 1);
      assert.equal(payments.requests, sent, 'every request counted once, the first report\'s included');
      assert.equal(payments.successRate, 0.9);
      assert.ok(payments.rps > 100 && payments.rps < 1000, `rps ${payments.rps}`);
      assert.ok(payments.p50Ms! > 10 && payments.p50Ms! <= 25, `p50 ${payments.p50Ms}`);
      assert.ok(payments.p99Ms! > 250 && payments.p99Ms! <= 500, `p99 ${payments.p99Ms}`);
      assert.deepEqual(body.routes.map((r) => [r.service, r.route, r.direction, r.requests]), [['payments', 'charge', 'inbound', sent]]);
      const inst = body.instances.find((i) => i.nodeId === 'payments-1')!;
      assert.equal(inst.certificateExpiresAtMs, 4_102_444_800_000);
      assert.equal(inst.instance, '127.0.0.1:8080');
      assert.match(inst.identity, /^spiffe:\/\/.+\/sa\/payments$/);
      assert.match(inst.sdkVersion, /^weft\/\d+\.\d+\.\d+/);

      const series = await admin<SeriesView>('/v1/stats/series?service=payments&range=10s&step=1s');
      assert.equal(series.status, 200);
      assert.ok(series.body.points.some((p) => p.rps > 0), JSON.stringify(series.body.points));
    } finally {
      await reporter.close();
    }
    const reads = source.reads;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(source.reads, reads, 'no report after close()');
  });

  it('answers /v1/stats only with the operator token, and refuses bad parameters', async () => {
    assert.equal((await admin('/v1/stats', false)).status, 401);
    assert.equal((await admin('/v1/stats/series?service=payments', false)).status, 401);
    const bad = await admin<{ error: string }>('/v1/stats?window=forever');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /window: 'forever' is not a duration/);
    assert.equal((await admin('/v1/stats/series')).status, 400);
  });

  it('serves the dashboard page without a token, locked down, and no data with it', async () => {
    const res = await fetch(`${cp.adminUrl}/dashboard`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    const html = await res.text();
    assert.doesNotMatch(html, new RegExp(cp.adminToken), 'the page does not carry the token');
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)="(?!data:)/i, 'no external assets');
  });
});
