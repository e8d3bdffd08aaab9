// `weft stat`, `weft top` and `weft dashboard` through the real binary, against a control plane fed by real reports.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TrafficReporter } from '../src/telemetry/reporter.js';
import { CountingTrafficSource } from '../src/telemetry/traffic-test-kit.js';
import { suiteControlPlane, weftBinary } from './cli-test-kit.js';

describe('weft stat / top / dashboard', { timeout: 60_000 }, () => {
  const suite = suiteControlPlane('weft-cli-stat-');
  const reporters: TrafficReporter[] = [];
  const sent = { payments: 0, frontend: 0 };

  before(async () => {
    // Two processes: frontend calls payments (routes charge and refund); payments serves them. Counted per request.
    const payments = new CountingTrafficSource();
    const frontend = new CountingTrafficSource();
    for (const [nodeId, service, source] of [['payments-1', 'payments', payments], ['frontend-1', 'frontend', frontend]] as const) {
      reporters.push(new TrafficReporter({ server: suite.cp.xdsAddress, source, nodeId, service, instance: () => '127.0.0.1:9', intervalMs: 100 }));
    }
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 20; i++) {
        const route = i % 4 === 0 ? 'refund' : 'charge';
        const failed = i === 7;
        const ms = route === 'refund' ? 120 : 4;
        frontend.record('outbound', 'payments', route, ms + 1, { failed, retries: failed ? 1 : 0 });
        payments.record('inbound', 'frontend', '', ms, { failed });
        sent.payments++;
      }
      await Promise.all(reporters.map((r) => r.flush()));
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    await Promise.all(reporters.map((r) => r.close()));
  });

  it('prints one row per service with success rate, RPS and percentiles', async () => {
    const run = await weftBinary(['stat'], suite.env);
    assert.equal(run.code, 0, run.stderr);
    const [header, ...rows] = run.stdout.trimEnd().split('\n');
    assert.deepEqual(header!.split(/\s+/), ['NAME', 'MESHED', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99']);
    const cols = rows.map((r) => r.split(/\s+/));
    const payments = cols.find((c) => c[0] === 'payments')!;
    assert.ok(payments, run.stdout);
    assert.equal(payments[1], '1');
    assert.equal(payments[2], '95.00%', '1 in 20 failed');
    assert.match(payments[3]!, /^\d+\.\drps$/);
    assert.ok(Number(payments[3]!.replace('rps', '')) > 10, run.stdout);
    assert.match(payments[4]!, /^[\d.]+ms$/);
    assert.ok(Number(payments[4]!.replace('ms', '')) <= 5, `p50 within the 4 ms requests' bucket: ${run.stdout}`);
    assert.ok(Number(payments[6]!.replace('ms', '')) > 100, `p99 among the 120 ms refunds: ${run.stdout}`);
    const frontend = cols.find((c) => c[0] === 'frontend')!;
    assert.deepEqual(frontend.slice(2, 3), ['-'], 'frontend serves nothing');
  });

  it('prints one row per route of a named service, as its callers saw them, and the edges with -o wide', async () => {
    const run = await weftBinary(['stat', 'payments', '-o', 'wide', '--window', '1m'], suite.env);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.deepEqual(lines[0]!.split(/\s+/), ['NAME', 'ROUTE', 'MESHED', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99', 'RETRIES', 'SEEN_BY']);
    const charge = lines.find((l) => /^payments\s+charge\s/.test(l))!.split(/\s+/);
    const refund = lines.find((l) => /^payments\s+refund\s/.test(l))!.split(/\s+/);
    assert.equal(charge[3], `${((1 - 8 / 120) * 100).toFixed(2)}%`, 'the one failure per round is a charge');
    assert.equal(refund[3], '100.00%');
    assert.ok(Number(refund[5]!.replace('ms', '')) > 100, run.stdout);
    assert.equal(charge[8], '8');
    assert.equal(charge[9], 'callers');
    const edge = lines.find((l) => /^frontend\s+payments\s/.test(l));
    assert.ok(edge, `an edge frontend -> payments:\n${run.stdout}`);
    assert.ok(lines.some((l) => /^FROM\s+TO\s+SUCCESS/.test(l)));
  });

  it('prints the admin API\'s numbers with -o json', async () => {
    const run = await weftBinary(['stat', '-o', 'json'], suite.env);
    assert.equal(run.code, 0, run.stderr);
    const body = JSON.parse(run.stdout) as { services: { service: string; requests: number }[]; edges: unknown[] };
    assert.equal(body.services.find((s) => s.service === 'payments')!.requests, sent.payments);
    assert.equal(body.edges.length, 1);
  });

  it('refuses a bad window and a bad output format', async () => {
    const bad = await weftBinary(['stat', '--window', 'soon'], suite.env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /window: 'soon' is not a duration/);
    const badFormat = await weftBinary(['stat', '-o', 'yaml'], suite.env);
    assert.equal(badFormat.code, 2);
  });

  it('weft top --iterations 2 prints the table twice, with the edges, and exits', async () => {
    const run = await weftBinary(['top', '--iterations', '2', '--interval', '200ms'], suite.env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.match(/^weft top — /gm)?.length, 2, run.stdout);
    assert.equal(run.stdout.match(/^payments\s+1\s+95\.00%/gm)?.length, 2, run.stdout);
    assert.equal(run.stdout.match(/^frontend\s+payments\s/gm)?.length, 2, run.stdout);
    assert.doesNotMatch(run.stdout, /\x1b\[2J/, 'no screen clearing when not on a terminal');
  });

  it('weft dashboard prints the page address with the token in its fragment, after checking the token', async () => {
    const run = await weftBinary(['dashboard'], suite.env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), `${suite.cp.adminUrl}/dashboard#token=${encodeURIComponent(suite.cp.adminToken)}`);
    const wrong = await weftBinary(['dashboard'], { ...suite.env, WEFT_ADMIN_TOKEN: 'not-the-operator-token-000' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /operator token is wrong/);
  });
});
