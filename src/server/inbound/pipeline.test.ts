// Tests the inbound pipeline and runtime: path normalization, filter-chain choice, waiting (bounded) for the first
// policy, failing closed on a refused one, a live policy change applying to the next request, and the counters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WatchCell } from '../../core/watch.js';
import type { Logger } from '../../core/logger.js';
import type { Discovery } from '../../discovery/discovery.js';
import type { InboundChain, InboundPolicy, InboundState, RbacFilter } from '../../discovery/inbound-policy.js';
import { EMPTY_MESH_STATE, type MeshState } from '../../discovery/mesh-state.js';
import { normalizePath, type InboundRequest } from './pipeline.js';
import { InboundRuntime } from './runtime.js';

describe('normalizePath', () => {
  it('removes dot segments and decodes unreserved escapes, keeping the query, so /public/../admin is /admin', () => {
    const cases: [string, string, string, boolean][] = [
      ['/a/b?x=1', '/a/b', '?x=1', false],
      ['/public/../admin', '/admin', '', true],
      ['/a/./b/', '/a/b/', '', true],
      ['/%61dmin', '/admin', '', true],
      ['/%2e%2e/admin?q', '/admin', '?q', true],
      ['/a%2Fb', '/a%2Fb', '', false],
      ['/..', '/', '', true],
      ['/a\\..\\b', '/b', '', true],
      ['http://payments/admin?x', '/admin', '?x', true],
      ['HTTP://payments:8080', '/', '', true],
      ['*', '/*', '', true],
    ];
    for (const [target, path, query, changed] of cases) assert.deepEqual(normalizePath(target), { path, query, changed }, target);
  });
});

const DENY_ALL: RbacFilter = { kind: 'rbac', name: 'deny', action: 'DENY', policies: [{ name: 'AuthorizationPolicy/lockdown/rules/0', permissions: [{ kind: 'any' }], principals: [{ kind: 'any' }] }] };
const chain = (over: Partial<InboundChain>): InboundChain => ({ name: 'c', tlsOnly: false, plaintextOnly: false, filters: [], virtualHosts: [], ...over });
const policy = (...chains: InboundChain[]): InboundPolicy => ({ listener: 'weft/inbound/svc', chains, defaultChain: undefined });

function request(over: Partial<InboundRequest> = {}): InboundRequest {
  return { method: 'GET', path: '/', rawPath: '/', authority: 'svc', header: () => undefined, principal: undefined, peerVerified: false, localPort: 1, tls: false, jwt: undefined, ...over };
}

/** A Discovery whose inbound state the test sets. */
function fakeDiscovery(initial?: InboundState) {
  const cell = new WatchCell<MeshState>(EMPTY_MESH_STATE);
  let generation = 0;
  const set = (s: InboundState) => cell.set({ ...EMPTY_MESH_STATE, generation: ++generation, inbound: new Map([['svc', s]]) });
  if (initial) set(initial);
  const discovery: Discovery = {
    state: cell,
    resolve: async () => ({ status: 'pending' }),
    resolveInbound: async () => cell.get().inbound?.get('svc') ?? { status: 'pending' },
    status: () => ({ connected: true, nodeId: 'n', server: 's', types: [] }),
    onNack: () => ({ dispose() {} }),
    close: async () => {},
  };
  return { discovery, set };
}

const verdict = async (rt: InboundRuntime, req = request()) => {
  const d = await rt.check(req);
  return d.ok ? 'allow' : `${d.refusal.code} ${d.refusal.reason}`;
};

describe('InboundRuntime', () => {
  it('waits for the first policy, then applies every change to the next request', async () => {
    const { discovery, set } = fakeDiscovery();
    const rt = new InboundRuntime({ service: 'svc', discovery });
    await rt.start();
    const current = () => rt.current;
    assert.equal(current(), undefined);
    const waiting = verdict(rt);
    set({ status: 'resolved', policy: policy(chain({ filters: [DENY_ALL] })) });
    assert.equal(await waiting, 'WEFT_ERR_PERMISSION_DENIED rbac_denied', 'the waiting request got the policy that arrived');
    set({ status: 'resolved', policy: policy(chain({})) });
    assert.equal(current()?.passThrough, true);
    assert.equal(await verdict(rt), 'allow');
    set({ status: 'absent' });
    assert.equal(await verdict(rt), 'allow');
    const s = rt.status();
    assert.deepEqual([s.policy, s.checked, s.allowed, s.refused, s.deniedBy], ['absent', 1, 0, { rbac_denied: 1 }, { lockdown: 1 }]);
  });

  it('refuses with 503 codes when no policy arrives in time, or the first one was refused', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { discovery, set } = fakeDiscovery();
    const rt = new InboundRuntime({ service: 'svc', discovery, policyWaitMs: 2000 });
    const pending = verdict(rt);
    await Promise.resolve();
    t.mock.timers.tick(2000);
    assert.equal(await pending, 'WEFT_ERR_CONFIG_TIMEOUT inbound_policy_pending');
    set({ status: 'error', message: "resource 'weft/inbound/svc': bad" });
    assert.equal(await verdict(rt), 'WEFT_ERR_CONFIG_REJECTED inbound_policy_refused');
    assert.equal(rt.status().policy, 'error');
  });

  it('chooses the filter chain by transport: a TLS-only chain refuses plaintext', async () => {
    const { discovery } = fakeDiscovery({ status: 'resolved', policy: policy(chain({ tlsOnly: true })) });
    const rt = new InboundRuntime({ service: 'svc', discovery });
    await rt.start();
    assert.equal(await verdict(rt, request({ tls: true })), 'allow');
    assert.equal(await verdict(rt, request({ tls: false })), 'WEFT_ERR_PERMISSION_DENIED no_filter_chain');
  });

  it('says whether plaintext connections are taken at all (for servers that refuse connections, not requests)', async () => {
    const strict = new InboundRuntime({ service: 'svc', discovery: fakeDiscovery({ status: 'resolved', policy: policy(chain({ tlsOnly: true })) }).discovery });
    await strict.start();
    assert.equal(strict.current?.plaintextAllowed, false);
    const permissive = new InboundRuntime({
      service: 'svc',
      discovery: fakeDiscovery({ status: 'resolved', policy: policy(chain({ tlsOnly: true }), chain({ plaintextOnly: true })) }).discovery,
    });
    await permissive.start();
    assert.equal(permissive.current?.plaintextAllowed, true);
  });

  it('logs a refusal once per reason per second, counting the rest', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 0 });
    const logged: Record<string, unknown>[] = [];
    const logger: Logger = { debug() {}, info() {}, warn: (message, fields) => logged.push({ message, ...fields }), error() {} };
    const { discovery } = fakeDiscovery({ status: 'resolved', policy: policy(chain({ filters: [DENY_ALL] })) });
    const rt = new InboundRuntime({ service: 'svc', discovery, logger });
    await rt.start();
    for (let i = 0; i < 5; i++) await verdict(rt, request({ path: `/p${i}` }));
    t.mock.timers.tick(1000);
    await verdict(rt);
    const refusals = logged.filter((l) => l['message'] === 'weft: inbound request refused');
    assert.equal(refusals.length, 2);
    assert.deepEqual([refusals[0]!['reason'], refusals[0]!['detail'], refusals[0]!['path']], ['rbac_denied', 'policy lockdown', '/p0']);
    assert.equal(refusals[1]!['suppressedSinceLast'], 4);
  });
});
