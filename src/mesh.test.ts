// Tests createMesh end to end on loopback: serve + register, fetch/request through the mesh, ready(), explain, off switch, close.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { ERROR_CODES, isMeshError } from './core/errors.js';
import { FakeDiscovery, cluster, resolvedTarget, route } from './client/http/test-kit.js';
import { startFakeRegistry, type FakeRegistry } from './discovery/registration-test-kit.js';
import { formatExplanation } from './explain.js';
import { createMesh, type Mesh } from './mesh.js';
import { resolveMeshOptions } from './mesh/options.js';

describe('createMesh', { timeout: 30_000 }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const f of cleanups.reverse()) await f();
  });

  async function registry(): Promise<FakeRegistry> {
    const r = await startFakeRegistry();
    cleanups.push(() => r.close());
    return r;
  }

  function track(mesh: Mesh): Mesh {
    cleanups.push(() => mesh.close());
    return mesh;
  }

  it('serves and registers, routes fetch and request to the served endpoint, is ready, and closes in order', async () => {
    const reg = await registry();
    const discovery = new FakeDiscovery();
    const mesh = track(
      await createMesh({
        service: 'payments',
        controlPlane: `http://${reg.address}`,
        nodeId: 'payments-1',
        dependsOn: ['payments'],
        discovery,
        drain: { drainDelayMs: 50, drainTimeoutMs: 2_000 },
        ready: { timeoutMs: 3_000 },
      }),
    );
    const served = await mesh.serve((req, res) => res.end(`charged ${req.url} for ${req.headers.host}`), { port: 0, leaseTtlMs: 3_000 });
    assert.equal(await served.registration?.registered(), true);
    assert.equal(reg.calls[0]?.method, 'Register');
    // The control plane would now push the endpoint; the fake discovery does it by hand.
    discovery.publish({ payments: resolvedTarget('payments', [route('HTTPRoute/pay/rules/0/matches/0', { clusters: ['payments:80'] })]) }, [
      cluster('payments:80', [served.port]),
    ]);
    await mesh.ready();

    const res = await mesh.fetch('http://payments/charge');
    assert.equal(await res.text(), 'charged /charge for payments');
    const viaRequest = await request('http://payments/refund', { dispatcher: mesh.dispatcher });
    assert.equal(await viaRequest.body.text(), 'charged /refund for payments');

    const status = mesh.status();
    assert.equal(status.registrations[0]?.state, 'registered');
    assert.deepEqual(status.served, [{ address: '127.0.0.1', port: served.port }]);
    const dump = mesh.configDump();
    assert.deepEqual(dump.clusters['payments:80']?.endpoints, [`127.0.0.1:${served.port}`]);
    assert.deepEqual(dump.targets['payments']?.routes, ['HTTPRoute/pay/rules/0/matches/0']);
    assert.equal(JSON.parse(JSON.stringify(dump)).generation, 1);

    await mesh.close();
    assert.equal(reg.calls.at(-1)?.method, 'Deregister');
    assert.equal(served.server.listening, false);
    assert.equal(discovery.closed, true);
    await mesh.close();
    const err = await mesh.fetch('http://payments/charge').then(
      () => undefined,
      (e: unknown) => (e as { cause?: unknown }).cause,
    );
    assert.ok(isMeshError(err, ERROR_CODES.CLOSED), String(err));
    await assert.rejects(mesh.serve(() => {}, { port: 0 }), (e: unknown) => isMeshError(e, ERROR_CODES.CLOSED));
  });

  it('ready() fails closed naming what is missing, or resolves when fail-open', async () => {
    const reg = await registry();
    const base = { service: 'checkout', controlPlane: `http://${reg.address}`, dependsOn: ['payments', 'ghost'] };
    const discovery = new FakeDiscovery({ ghost: { status: 'absent' } });
    const closed = track(await createMesh({ ...base, discovery, ready: { timeoutMs: 150 } }));
    const started = Date.now();
    const err = await closed.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isMeshError(err, ERROR_CODES.READY_TIMEOUT), String(err));
    assert.ok(Date.now() - started < 1_500);
    assert.deepEqual(err.details.missing, ["service 'payments' (not resolved yet)", "service 'ghost' (the control plane has no such service)"]);

    const open = track(await createMesh({ ...base, discovery: new FakeDiscovery(), ready: { timeoutMs: 100, onTimeout: 'fail-open' } }));
    await open.ready();

    // A mesh that resolves later becomes ready as soon as it does.
    const later = new FakeDiscovery();
    const waiting = track(await createMesh({ ...base, discovery: later, dependsOn: ['payments'], ready: { timeoutMs: 3_000 } }));
    const ready = waiting.ready();
    setTimeout(() => later.publish({ payments: resolvedTarget('payments', []) }, []), 30);
    await ready;
  });

  it('ready() with the built-in xDS client names the stream when the control plane is unreachable', async () => {
    const mesh = track(await createMesh({ service: 'lonely', controlPlane: 'http://127.0.0.1:1', ready: { timeoutMs: 200 } }));
    const err = await mesh.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isMeshError(err, ERROR_CODES.READY_TIMEOUT), String(err));
    assert.match(err.message, /xDS stream to 127\.0\.0\.1:1/);
    assert.equal(mesh.status().discovery?.connected, false);
  });

  it('explains a match (with the next endpoint, not advancing it), a miss and a pass-through', async () => {
    const reg = await registry();
    const discovery = new FakeDiscovery(
      {
        payments: resolvedTarget('payments', [
          route('HTTPRoute/pay/rules/0/matches/0', { path: { kind: 'exact', value: '/charge', ignoreCase: false }, clusters: ['a'], timeoutMs: 2_000 }),
          route('HTTPRoute/pay/rules/1/matches/0', {
            headers: [{ name: 'x-canary', match: { kind: 'exact', value: 'on', ignoreCase: false }, invert: false }],
            clusters: [{ cluster: 'a', weight: 90 }, { cluster: 'b', weight: 10 }],
          }),
        ]),
        elsewhere: { status: 'absent' },
        broken: { status: 'error', message: "resource 'broken': bad regex" },
      },
      [cluster('a', [9001, 9002]), cluster('b', [])],
    );
    const mesh = track(await createMesh({ service: 'checkout', controlPlane: `http://${reg.address}`, discovery }));

    const hit = await mesh.explain('http://payments/refund', { headers: { 'X-Canary': 'on' } });
    assert.equal(hit.decision, 'forward');
    assert.equal(hit.route?.name, 'HTTPRoute/pay/rules/1/matches/0');
    assert.deepEqual(hit.route?.source, { kind: 'HTTPRoute', name: 'pay', rule: 1, match: 0 });
    assert.deepEqual(hit.routes[0], {
      name: 'HTTPRoute/pay/rules/0/matches/0',
      source: { kind: 'HTTPRoute', name: 'pay', rule: 0, match: 0 },
      matched: false,
      reason: "path '/refund' does not match exact '/charge'",
    });
    assert.deepEqual(hit.route?.clusters.map((c) => [c.name, c.sharePercent, c.nextEndpoint?.port]), [
      ['a', 90, 9001],
      ['b', 10, undefined],
    ]);
    assert.match(hit.reason, /'b' has no endpoints/);
    const again = await mesh.explain('http://payments/charge');
    assert.equal(again.route?.clusters[0]?.nextEndpoint?.port, 9001, 'explain does not advance round robin');
    assert.equal(again.route?.timeoutMs, 2_000);

    const miss = await mesh.explain('http://payments/refund');
    assert.equal(miss.decision, 'fail');
    assert.equal(miss.error?.code, ERROR_CODES.NO_ROUTE);
    assert.equal(miss.routes[1]?.reason, "header 'x-canary' is absent (wants exact 'on')");

    const pass = await mesh.explain('http://elsewhere/x');
    assert.equal(pass.decision, 'pass-through');
    assert.equal(pass.mesh, false);
    const ip = await mesh.explain('http://10.1.2.3:8080/x');
    assert.match(ip.reason, /IP literal/);

    const refused = await mesh.explain('http://broken/');
    assert.equal(refused.error?.code, ERROR_CODES.CONFIG_REJECTED);
    assert.match(refused.reason, /bad regex/);

    const text = formatExplanation(hit);
    assert.match(text, /✘ HTTPRoute\/pay\/rules\/0\/matches\/0 \(HTTPRoute pay, rule 0, match 0\): path/);
    assert.match(text, /cluster a 90%: 127\.0\.0\.1:9001, 127\.0\.0\.1:9002; next → 127\.0\.0\.1:9001/);
    assert.deepEqual(JSON.parse(JSON.stringify(hit)).route.name, hit.route?.name);
  });

  it('when switched off: plain undici calls, serve without registration, ready at once', async () => {
    const reg = await registry();
    const mesh = track(await createMesh({ service: 'checkout', controlPlane: `http://${reg.address}`, enabled: false, dependsOn: ['payments'], drain: { drainDelayMs: 10 } }));
    assert.equal(mesh.enabled, false);
    assert.ok(mesh.dispatcher instanceof Agent);
    await mesh.ready();
    const server = http.createServer((_req, res) => res.end('plain'));
    const served = await mesh.serve(server, { port: 0 });
    assert.equal(served.registration, undefined);
    const res = await mesh.fetch(`http://127.0.0.1:${served.port}/`);
    assert.equal(await res.text(), 'plain');
    assert.equal(reg.calls.length, 0);
    assert.equal((await mesh.explain('http://payments/')).decision, 'pass-through');
    await mesh.close();
    assert.equal(server.listening, false);

    assert.equal(resolveMeshOptions({ service: 's' }, { WEFT_DISABLED: '1' }).disabledBy, 'WEFT_DISABLED');
    assert.equal(resolveMeshOptions({ service: 's', enabled: true }, { WEFT_DISABLED: 'true' }).enabled, false);
    assert.equal(resolveMeshOptions({ service: 's' }, { WEFT_CONTROL_PLANE: 'http://cp.internal:9000' }).controlPlaneAddress, 'cp.internal:9000');
    assert.equal(resolveMeshOptions({ service: 's' }, {}).controlPlaneAddress, '127.0.0.1:15010');
    assert.deepEqual(resolveMeshOptions({ service: 's' }, { WEFT_MESH_DOMAINS: '.svc.cluster.local, .mesh' }).meshDomains, ['.svc.cluster.local', '.mesh']);
    assert.deepEqual(resolveMeshOptions({ service: 's' }, {}).meshDomains, []);
  });

  it('refuses programmer errors at construction with WEFT_ERR_INVALID_ARG', async () => {
    const bad = [
      {},
      { service: 'Bad Name' },
      { service: 's', controlPlane: 'grpc://x:1' },
      { service: 's', ready: { onTimeout: 'maybe' } },
      { service: 's', pool: { connections: 0 } },
      { service: 's', dependsOn: [''] },
      { service: 's', meshDomains: ['svc.cluster.local'] },
    ];
    for (const options of bad) {
      await assert.rejects(createMesh(options as never), (e: unknown) => isMeshError(e, ERROR_CODES.INVALID_ARG), JSON.stringify(options));
    }
  });
  it('onConfig fires after each accepted change, once calls route by it, and stops after dispose and close', async () => {
    const discovery = new FakeDiscovery();
    const mesh = await createMesh({ service: 'client', discovery, controlPlane: 'http://127.0.0.1:1' });
    const upstream = http.createServer((req, res) => res.end(`got ${req.url}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => upstream.close(r)));
    const port = (upstream.address() as { port: number }).port;
    const seen: number[] = [];
    const routedAt: string[] = [];
    const sub = mesh.onConfig((event) => {
      seen.push(event.generation);
      // By the time listeners run, the dispatcher already routes by the new state.
      void mesh.explain('http://payments/x').then((e) => routedAt.push(e.decision));
    });
    discovery.publish({ payments: resolvedTarget('payments', [route('HTTPRoute/p/rules/0/matches/0', { clusters: ['payments:80'] })]) }, [
      cluster('payments:80', [port]),
    ]);
    assert.equal(seen.length, 1);
    assert.ok(seen[0]! > 0);
    const res = await mesh.fetch('http://payments/x');
    assert.equal(await res.text(), 'got /x');
    assert.deepEqual(routedAt, ['forward']);
    sub.dispose();
    discovery.publish({}, []);
    assert.equal(seen.length, 1, 'no call after dispose');
    const again: number[] = [];
    mesh.onConfig((e) => again.push(e.generation));
    await mesh.close();
    discovery.publish({ payments: resolvedTarget('payments', []) }, []);
    assert.deepEqual(again, [], 'no call after close');
  });
});
