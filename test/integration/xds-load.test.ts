// Smoke test of the xDS load harness (benchmarks/xds-load): 50 simulated ADS clients in two worker processes over a
// real control plane get their whole view, ACK it, and each ACKs the version carrying a routing edit. Speed is the
// benchmarks' business (benchmarks/xds-scale.ts); this only checks that the harness and the push path work.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLoad, type Load } from '../../benchmarks/xds-load/harness.js';
import { editScenario } from '../../benchmarks/xds-load/scenario.js';
import { startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

const CLIENTS = 50;

describe('xDS load harness', () => {
  const scenario = editScenario(5);
  let cp: TestControlPlane;
  let load: Load | undefined;

  before(async () => {
    cp = await startTestControlPlane(scenario.files);
  });
  after(async () => {
    await load?.close();
    await cp?.close();
  });

  it('brings every client to its view, and every client ACKs the version carrying an edit', async () => {
    load = await startLoad({ address: cp.cp.xdsAddress, specs: scenario.specs(CLIENTS), workers: 2, channelsPerWorker: 2 });
    await load.waitReady(90_000);
    assert.equal(load.readyCount(), CLIENTS);
    assert.equal(cp.cp.ads.clients().length, CLIENTS);

    const applied = await cp.apply(scenario.edit(1));
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    const acked = await load.waitConverged(1, 60_000);
    assert.equal(acked.size, CLIENTS);
    // The server sees those ACKs too (they are on the wire once a client reports): every stream's RDS ACKs the
    // version it was last sent.
    const rdsAcked = () => cp.cp.ads.clients().filter((c) => {
      const rds = c.types.find((t) => t.typeUrl.endsWith('RouteConfiguration'));
      return rds !== undefined && rds.ackedVersion !== '' && rds.ackedVersion === rds.sentVersion && rds.nack === undefined;
    }).length;
    await waitFor(() => rdsAcked() === CLIENTS, `the control plane to record ${CLIENTS} RDS ACKs`, 30_000);

    const counters = await load.counters();
    assert.equal(counters.nacks, 0);
    assert.ok(counters.responses >= CLIENTS * 5, `${counters.responses} responses`); // 4 types each, then the edit
    assert.deepEqual(load.ended, []);
  });
});
