// The reporter against a real gRPC server on loopback: one report in flight at most, failures retried at the next
// tick with the cumulative counters, nothing sent after close().
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { protos, type ProtoObject } from '../discovery/xds/protos.js';
import { TrafficReporter } from './reporter.js';
import { CountingTrafficSource } from './traffic-test-kit.js';

describe('TrafficReporter', { timeout: 20_000 }, () => {
  let server: grpc.Server;
  let address = '';
  const received: ProtoObject[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let failNext = 0;
  let delayMs = 0;

  before(async () => {
    server = new grpc.Server();
    server.addService(protos().telemetryService, {
      Report: (call: grpc.ServerUnaryCall<ProtoObject, ProtoObject>, callback: grpc.sendUnaryData<ProtoObject>) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        setTimeout(() => {
          inFlight--;
          if (failNext > 0) {
            failNext--;
            return callback({ code: grpc.status.UNAVAILABLE, details: 'control plane busy' });
          }
          received.push(call.request);
          callback(null, {});
        }, delayMs);
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    address = `127.0.0.1:${port}`;
  });
  after(() => void server.forceShutdown());

  it('sends at most one report at a time, even when the control plane answers slower than the interval', async () => {
    delayMs = 450;
    received.length = 0;
    const source = new CountingTrafficSource();
    source.record('outbound', 'payments', 'charge', 3);
    const reporter = new TrafficReporter({ server: address, source, nodeId: 'n1', service: 'frontend', intervalMs: 100, rpcTimeoutMs: 2000 });
    await new Promise((r) => setTimeout(r, 1600));
    await reporter.close();
    assert.equal(maxInFlight, 1);
    assert.ok(received.length >= 2 && received.length <= 4, `${received.length} reports`);
    assert.equal(received[0]!['service'], 'frontend');
    const rows = received[0]!['traffic'] as ProtoObject[];
    assert.deepEqual([rows[0]!['direction'], rows[0]!['peer'], rows[0]!['route'], rows[0]!['requests']], ['OUTBOUND', 'payments', 'charge', '1']);
    delayMs = 0;
  });

  it('retries a failed report at the next tick with the counters as they are then, and stops after close()', async () => {
    received.length = 0;
    failNext = 2;
    const warnings: string[] = [];
    const source = new CountingTrafficSource();
    const reporter = new TrafficReporter({
      server: address,
      source,
      nodeId: 'n2',
      service: 'frontend',
      intervalMs: 100,
      logger: { debug() {}, info() {}, warn: (m) => void warnings.push(m), error() {} },
    });
    source.record('outbound', 'payments', '', 1);
    await new Promise((r) => setTimeout(r, 250));
    source.record('outbound', 'payments', '', 1);
    const until = Date.now() + 3000;
    while (received.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.equal(reporter.status().failed, 2);
    assert.equal(warnings.length, 1, 'the first failure is logged, not every one');
    const first = received[0]!['traffic'] as ProtoObject[];
    assert.equal(first[0]!['requests'], '2', 'the report after the failures carries the traffic they missed');
    await reporter.close();
    const count = received.length;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(received.length, count, 'nothing sent after close()');
    assert.equal(reporter.status().closed, true);
  });

  it('never throws for an unreachable control plane or a throwing source', async () => {
    const source = { traffic: () => { throw new Error('registry broke'); } };
    const broken = new TrafficReporter({ server: address, source, nodeId: 'n3', service: 'x', intervalMs: 100 });
    const unreachable = new TrafficReporter({ server: '127.0.0.1:1', source: new CountingTrafficSource(), nodeId: 'n4', service: 'x', intervalMs: 100, rpcTimeoutMs: 200 });
    await new Promise((r) => setTimeout(r, 450));
    assert.ok(broken.status().failed >= 2);
    assert.match(broken.status().lastError ?? '', /registry broke/);
    assert.ok(unreachable.status().failed >= 1);
    await Promise.all([broken.close(), unreachable.close()]);
  });
});
