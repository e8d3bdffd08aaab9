// Resilience of meshed gRPC, with the same cluster policies HTTP uses: a backend killed mid-stream and mid-load,
// outlier ejection of a failing instance, circuit-breaker thresholds that fail fast and recover, and the retry budget
// holding when every backend fails. Real control plane; backends in their own processes unless a test must count
// what a backend received.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createMesh, type Mesh } from '../../src/index.js';
import { addEchoService, EchoClient, echoService, say, type EchoReply, type EchoClientInstance, type EchoStats } from '../../src/testing/index.js';
import { serviceYaml, spawnFixture, startTestControlPlane, waitFor, type TestControlPlane, type TestProcess } from './helpers.js';

const UNAVAILABLE = grpc.status.UNAVAILABLE;

const route = (name: string, retry: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ kind: Service, name: ${name} }]
  rules:
    - backendRefs: [{ name: ${name}, port: 50051 }]
      timeouts: { request: 5s }
${retry}---
`;
const RETRY_UNAVAILABLE = '      retry: { codes: [UNAVAILABLE], attempts: 2, backoff: 5ms }\n';

const CONFIG = {
  'services.yaml': ['streams', 'steady', 'flaky', 'narrow', 'down', 'avoid'].map((s) => serviceYaml(s, 'GRPC', 50051)).join('---\n'),
  'routes.yaml':
    route('streams', '') +
    route('steady', RETRY_UNAVAILABLE) +
    route('flaky', '') +
    route('narrow', '') +
    route('down', '      retry: { codes: [UNAVAILABLE], attempts: 4, backoff: 1ms }\n') +
    route('avoid', RETRY_UNAVAILABLE),
  'policies.yaml': `apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: { name: flaky }
spec:
  targetRef: { kind: Service, name: flaky }
  outlierDetection: { consecutiveGatewayErrors: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50 }
---
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: { name: narrow }
spec:
  targetRef: { kind: Service, name: narrow }
  circuitBreaker: { maxRequests: 2 }
---
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: { name: down }
spec:
  targetRef: { kind: Service, name: down }
  retryBudget: { percent: 20, minRetriesPerSecond: 5 }
---
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: { name: avoid }
spec:
  targetRef: { kind: Service, name: avoid }
  loadBalancer: { type: Random }
  retryBudget: { percent: 100, minRetriesPerSecond: 100 }
`,
};

describe('meshed gRPC resilience', { timeout: 180_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  const procs: TestProcess[] = [];
  const clients: grpc.Client[] = [];
  const inProcess: Mesh[] = [];

  const backend = (service: string, instance: string, extra: Record<string, string> = {}): TestProcess => {
    const p = spawnFixture('test/integration/fixtures/grpc-echo-backend.ts', { WEFT_CONTROL_PLANE: tcp.cp.xdsUrl, SERVICE: service, INSTANCE: instance, ...extra });
    procs.push(p);
    return p;
  };
  const client = (service: string): EchoClientInstance => {
    const c = mesh.grpc.client(EchoClient, service);
    clients.push(c);
    return c;
  };

  /** Resolves `service` through discovery (without a gRPC call) and waits until its cluster has `n` endpoints. */
  const endpointsKnown = async (service: string, n: number): Promise<void> => {
    await mesh.explain(`http://${service}/`);
    await waitFor(
      () => Object.entries(mesh.configDump().clusters).some(([cluster, c]) => cluster.startsWith(service) && c.endpoints.length === n),
      `${n} endpoints of ${service}`,
    );
  };

  before(async () => {
    tcp = await startTestControlPlane(CONFIG);
    mesh = await createMesh({ service: 'caller', controlPlane: tcp.cp.xdsUrl });
  });

  after(async () => {
    for (const c of clients) c.close();
    await mesh?.close();
    await Promise.all(inProcess.map((m) => m.close()));
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await tcp?.close();
  });

  it('a backend killed mid-stream fails that stream with UNAVAILABLE, and new streams go to the survivor', async () => {
    const [a, b] = [backend('streams', 's-a'), backend('streams', 's-b')];
    await Promise.all([a, b].map((p) => p.waitForLine((l) => l['type'] === 'ready')));
    const c = client('streams');
    await waitFor(async () => new Set(await Promise.all(Array.from({ length: 8 }, () => say(c, {}).then((r) => r.server)))).size === 2, 'both stream backends in use');
    const stream = c.makeServerStreamRequest(echoService.Count.path, echoService.Count.requestSerialize, echoService.Count.responseDeserialize, { count: 200, intervalMs: 20 });
    const first = await new Promise<EchoReply>((resolve) => stream.once('data', resolve));
    const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
      stream.on('error', resolve);
      stream.on('end', () => resolve(undefined));
    });
    stream.on('data', () => {});
    const victim = first.server === 's-a' ? a : b;
    const survivor = first.server === 's-a' ? 's-b' : 's-a';
    victim.child.kill('SIGKILL');
    const err = await ended;
    assert.equal(err?.code, UNAVAILABLE, `the broken stream ends with UNAVAILABLE, got ${err?.code} ${err?.details}`);
    for (let i = 0; i < 10; i++) {
      const replies: EchoReply[] = [];
      const s = c.makeServerStreamRequest(echoService.Count.path, echoService.Count.requestSerialize, echoService.Count.responseDeserialize, { count: 2 });
      await new Promise<void>((resolve, reject) => {
        s.on('data', (r: EchoReply) => replies.push(r));
        s.on('error', reject);
        s.on('end', resolve);
      });
      assert.deepEqual(replies.map((r) => r.server), [survivor, survivor]);
    }
  });

  it('under steady unary load with one of three backends killed, ≥ 99.9 % of calls succeed', async () => {
    const ps = ['u-a', 'u-b', 'u-c'].map((i) => backend('steady', i));
    await Promise.all(ps.map((p) => p.waitForLine((l) => l['type'] === 'ready')));
    const c = client('steady');
    await waitFor(async () => new Set(await Promise.all(Array.from({ length: 12 }, () => say(c, {}).then((r) => r.server)))).size === 3, 'all three in use');
    // A fixed number of calls, not a time window: a loaded machine gets slower, not a weaker test. One backend dies
    // once 300 have succeeded; the bound on time only keeps a broken mesh from hanging the suite.
    const CALLS = 2_000;
    let ok = 0;
    let failed = 0;
    let started = 0;
    let lastError = '';
    const bound = Date.now() + 60_000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (started < CALLS && Date.now() < bound) {
          started++;
          try {
            await say(c, { delayMs: 2 });
            if (++ok === 300) ps[1]!.child.kill('SIGKILL');
          } catch (e: unknown) {
            failed++;
            lastError = (e as grpc.ServiceError).details;
          }
        }
      }),
    );
    assert.equal(ok + failed, CALLS, `only ${ok + failed} of ${CALLS} calls ended within 60 s`);
    assert.ok(ps[1]!.child.killed, 'a backend was killed mid-run');
    assert.ok(failed / (ok + failed) <= 0.001, `${failed} of ${ok + failed} failed; last: ${lastError}`);
  });

  it('sends a retry to another endpoint than the attempt that failed (previous hosts avoided)', async () => {
    const good = backend('avoid', 'v-good');
    const bad = backend('avoid', 'v-bad', { FAIL_CODE: String(UNAVAILABLE) });
    await Promise.all([good, bad].map((p) => p.waitForLine((l) => l['type'] === 'ready')));
    const c = client('avoid');
    await endpointsKnown('avoid', 2);
    // Connect to both first: a retry can only avoid the failing instance while another one is ready.
    for (let i = 0; i < 10; i++) await say(c, {}).catch(() => undefined);
    // Random balancing: without avoidance a retry would land on the failing instance again half the time.
    const results = await Promise.allSettled(Array.from({ length: 60 }, () => say(c, {})));
    const failed = results.filter((r) => r.status === 'rejected');
    assert.equal(failed.length, 0, `${failed.length} of 60 calls failed: ${failed.map((r) => (r as PromiseRejectedResult).reason?.details).slice(0, 2).join('; ')}`);
    assert.ok(results.every((r) => r.status === 'fulfilled' && r.value.server === 'v-good'));
  });

  it('ejects an instance whose calls fail (outlier detection on gRPC statuses) and routes around it', async () => {
    const good = backend('flaky', 'f-good');
    const bad = backend('flaky', 'f-bad', { FAIL_CODE: String(UNAVAILABLE) });
    await Promise.all([good, bad].map((p) => p.waitForLine((l) => l['type'] === 'ready')));
    const c = client('flaky');
    await endpointsKnown('flaky', 2);
    let failures = 0;
    for (let i = 0; i < 40; i++) await say(c, {}).catch(() => failures++);
    assert.ok(failures >= 3 && failures <= 6, `the bad instance failed ${failures} calls before its ejection (threshold 3)`);
    const replies = await Promise.all(Array.from({ length: 20 }, () => say(c, {})));
    assert.ok(replies.every((r) => r.server === 'f-good'));
    const status = Object.entries(mesh.status().resilience).find(([cluster]) => cluster.startsWith('flaky'))?.[1];
    assert.equal(status?.ejected?.length, 1, JSON.stringify(mesh.status().resilience));
  });

  it('fails calls past the max_requests threshold at once with a clear UNAVAILABLE, and admits again when load drops', async () => {
    const p = backend('narrow', 'n-a');
    await p.waitForLine((l) => l['type'] === 'ready');
    const c = client('narrow');
    await say(c, {});
    const started = Date.now();
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => say(c, { delayMs: 400 })));
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(refused.length, 3, JSON.stringify(results.map((r) => r.status)));
    for (const r of refused) {
      const e = r.reason as grpc.ServiceError;
      assert.equal(e.code, UNAVAILABLE);
      assert.match(e.details, /^WEFT_ERR_OVERLOADED: cluster '[^']+' .* 2 calls in flight already, the circuit_breakers max_requests threshold/);
    }
    assert.ok(Date.now() - started < 2_000);
    const breaker = Object.entries(mesh.status().resilience).find(([cluster]) => cluster.startsWith('narrow'))?.[1].circuitBreaker;
    assert.equal(breaker?.activeRequests, 0, 'every admitted call was given back');
    assert.equal((await say(c, {})).server, 'n-a', 'admits again');
  });

  it('holds the retry budget when every backend fails: attempts ≤ 1.2 × calls + the floor', async () => {
    const stats: EchoStats[] = [];
    for (const i of ['d-a', 'd-b']) {
      const m = await createMesh({ service: 'down', controlPlane: tcp.cp.xdsUrl, drain: { drainDelayMs: 0 } });
      inProcess.push(m);
      const server = m.grpc.server();
      stats.push(addEchoService(server, i, UNAVAILABLE));
      await (await m.grpc.serve(server, { port: 0 })).registration?.registered();
    }
    const c = client('down');
    await endpointsKnown('down', 2);
    const calls = 200;
    const started = Date.now();
    let budgetRefusals = 0;
    for (let i = 0; i < calls; i++) {
      await say(c, {}).catch((e: grpc.ServiceError) => {
        assert.equal(e.code, UNAVAILABLE);
        if (/retry budget is spent/.test(e.details)) budgetRefusals++;
      });
    }
    const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
    const attempts = stats.reduce((n, s) => n + (s.calls['Say'] ?? 0), 0);
    assert.ok(attempts >= calls, `every call reached a backend at least once (${attempts})`);
    assert.ok(attempts <= 1.2 * calls + 5 * seconds, `${attempts} attempts for ${calls} calls in ~${seconds}s: the budget must hold (5 attempts each without it)`);
    assert.ok(budgetRefusals > 0, 'some retries were refused by the budget, and said so');
  });
});
