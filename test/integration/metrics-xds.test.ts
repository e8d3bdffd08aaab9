// The xDS gauges of the metrics endpoint against a scripted ADS server: connection state, the ACKed version per type,
// and a NACK counted with its type when an invalid update arrives.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { FakeControlPlane, type FakeResource } from '../../src/testing/index.js';
import { waitFor } from './helpers.js';
import { matches, samples, scrape } from './prometheus-text.js';

const HOST = 'echo.default.svc.cluster.local:8080';
const CLUSTER = 'outbound|8080||echo.default.svc.cluster.local';

const listener: FakeResource = {
  '@type': TYPE_URL.listener,
  name: HOST,
  api_listener: {
    api_listener: {
      '@type': TYPE_URL.httpConnectionManager,
      rds: { route_config_name: '8080', config_source: { ads: {}, resource_api_version: 'V3' } },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } }],
    },
  },
};
const routeConfig = (match: Record<string, unknown>): FakeResource => ({
  '@type': TYPE_URL.routeConfiguration,
  name: '8080',
  virtual_hosts: [{ name: 'echo', domains: [HOST, 'echo'], routes: [{ name: 'default', match, route: { cluster: CLUSTER } }] }],
});

/** The value of the first sample of `name` with `labels` in `text`; undefined when there is none. */
const metric = (text: string, name: string, labels: Record<string, string>): number | undefined => samples(text, name).find((s) => matches(s, labels))?.value;

describe('xDS metrics (scripted ADS server)', { timeout: 60_000 }, () => {
  let xds: FakeControlPlane;
  let mesh: Mesh;
  const scrapeMesh = () => scrape(`http://127.0.0.1:${mesh.metricsAddress()!.port}/metrics`);

  before(async () => {
    xds = await FakeControlPlane.start();
    xds.setResources(TYPE_URL.listener, [listener], { version: 'l-1' });
    xds.setResources(TYPE_URL.routeConfiguration, [routeConfig({ prefix: '/' })], { version: 'r-1' });
    mesh = await createMesh({
      service: 'client',
      controlPlane: `http://${xds.address}`,
      dependsOn: [HOST],
      meshDomains: ['.svc.cluster.local'],
      ready: { timeoutMs: 3_000, onTimeout: 'fail-open' },
      metricsPort: 0,
    });
    await mesh.ready();
  });

  after(async () => {
    await mesh?.close();
    await xds?.close();
  });

  it('shows the stream connected and the ACKed version per type', async () => {
    await waitFor(async () => metric(await scrapeMesh(), 'weft_xds_acked_version_info', { type: 'RouteConfiguration', version: 'r-1' }) === 1, 'RDS r-1 ACKed', 5_000);
    const text = await scrapeMesh();
    assert.equal(metric(text, 'weft_xds_connected', {}), 1);
    assert.equal(metric(text, 'weft_xds_acked_version_info', { type: 'Listener', version: 'l-1' }), 1);
    assert.equal(metric(text, 'weft_xds_nacks_total', { type: 'RouteConfiguration' }), 0);
  });

  it('counts a NACK of an invalid update, and keeps the last ACKed version', async () => {
    xds.setResources(TYPE_URL.routeConfiguration, [routeConfig({ safe_regex: { regex: '(?=x).*' } })], { version: 'r-2' });
    await waitFor(async () => metric(await scrapeMesh(), 'weft_xds_nacks_total', { type: 'RouteConfiguration' }) === 1, 'the NACK counted', 5_000);
    const text = await scrapeMesh();
    assert.equal(metric(text, 'weft_xds_acked_version_info', { type: 'RouteConfiguration', version: 'r-1' }), 1);
    assert.equal(metric(text, 'weft_xds_nacks_total', { type: 'Listener' }), 0);
  });
});
