// Tests the pickers with a seeded RNG and a fake clock: weights honoured, P2C prefers the less loaded, peak-EWMA moves
// traffic away from a slow endpoint, ring hash sticks keys and moves about 1/N of them when one endpoint is added.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Dispatcher } from 'undici';
import { buildPicker, EndpointLoad, loadOf, pickAvoiding, type LoadTable, type Picker } from './picker.js';
import { hash32, requestHash, RingHashPicker } from './ring-hash.js';
import { trackLoad } from './track-load.js';
import { seededRandom as seeded } from '../../testing/seeded-random.js';

const ep = (name: string, weight = 1) => ({ origin: `http://${name}`, weight });
function counts<T extends { origin: string; weight: number }>(picker: Picker<T>, n: number, hash?: () => number): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const o = picker.pick(hash?.()).origin;
    out.set(o, (out.get(o) ?? 0) + 1);
  }
  return out;
}

describe('random and round robin', () => {
  it('honour weights (random within ±2 % of 10 000 picks; round robin exactly)', () => {
    const items = [ep('a', 1), ep('b', 2), ep('c', 7)];
    const r = counts(buildPicker({ kind: 'random' }, items, undefined, new Map(), { random: seeded(1) }), 10_000);
    assert.ok(Math.abs(r.get('http://a')! / 10_000 - 0.1) < 0.02, `a: ${r.get('http://a')}`);
    assert.ok(Math.abs(r.get('http://c')! / 10_000 - 0.7) < 0.02, `c: ${r.get('http://c')}`);
    const rr = counts(buildPicker(undefined, items, undefined, new Map()), 1000);
    assert.deepEqual([rr.get('http://a'), rr.get('http://b'), rr.get('http://c')], [100, 200, 700]);
  });
});

describe('pickAvoiding (retries avoid endpoints already tried)', () => {
  it('never returns a tried endpoint while an untried one is available, even when the balancer keeps choosing it', () => {
    const items = [ep('a', 99), ep('b', 1)];
    // A random picker over a 99:1 weighting picks `a` almost always: re-picking alone would not get away from it.
    const picker = buildPicker({ kind: 'random' }, items, undefined, new Map(), { random: () => 0.1 });
    for (let i = 0; i < 100; i++) assert.equal(pickAvoiding(picker, (e) => e.origin === 'http://a').origin, 'http://b');
    assert.equal(pickAvoiding(picker, () => false).origin, 'http://a', 'nothing tried: the balancer\'s own choice');
    assert.equal(pickAvoiding(picker, () => true).origin, 'http://a', 'everything tried: the balancer\'s choice again');
  });
});

describe('least request (P2C)', () => {
  it('never picks the most loaded of three, and splits evenly between the idle two (±5 %)', () => {
    const items = [ep('busy'), ep('b'), ep('c')];
    const loads: LoadTable = new Map();
    loadOf(loads, 'http://busy', 0).inflight = 10;
    const picker = buildPicker({ kind: 'least-request', choiceCount: 2 }, items, undefined, loads, { random: seeded(7) });
    const c = counts(picker, 4000);
    assert.equal(c.get('http://busy') ?? 0, 0);
    assert.ok(Math.abs(c.get('http://b')! / 4000 - 0.5) < 0.05, `b: ${c.get('http://b')}`);
  });

  it('divides load by weight: equal in-flight, the heavier endpoint wins the comparison', () => {
    const picker = buildPicker({ kind: 'least-request', choiceCount: 2 }, [ep('a', 1), ep('b', 3)], undefined, new Map(), { random: seeded(3) });
    assert.equal(counts(picker, 100).get('http://b'), 100);
  });
});

describe('peak EWMA', () => {
  /** Closed loop: `workers` callers, each calls again when its call ends; latency per endpoint; fake clock. */
  function simulate(kind: 'peak-ewma' | 'round-robin', latencyMs: Record<string, number>, calls: number): Map<string, number> {
    let now = 0;
    const nowMs = () => now;
    const items = Object.keys(latencyMs).map((n) => ep(n));
    const loads: LoadTable = new Map();
    const picker = buildPicker(kind === 'peak-ewma' ? { kind, decayMs: 10_000 } : { kind }, items, undefined, loads, { random: seeded(11), nowMs });
    const pending: { at: number; load: EndpointLoad; start: number }[] = [];
    const picked = new Map<string, number>();
    const issue = () => {
      const e = picker.pick();
      picked.set(e.origin, (picked.get(e.origin) ?? 0) + 1);
      const load = loadOf(loads, e.origin, now);
      load.inflight++;
      pending.push({ at: now + latencyMs[e.origin.slice(7)]!, load, start: now });
    };
    for (let w = 0; w < 8; w++) issue();
    for (let done = 0; done < calls; done++) {
      pending.sort((x, y) => x.at - y.at);
      const next = pending.shift()!;
      now = next.at;
      next.load.inflight--;
      next.load.observe(now - next.start, now, 10_000);
      issue();
    }
    return picked;
  }

  it('sends a 50 ms endpoint far less traffic than two 5 ms ones (round robin sends it a third)', () => {
    const ewma = simulate('peak-ewma', { a: 5, b: 5, slow: 50 }, 5000);
    const total = [...ewma.values()].reduce((x, y) => x + y, 0);
    assert.ok(ewma.get('http://slow')! / total < 0.1, `slow got ${ewma.get('http://slow')} of ${total}`);
    const rr = simulate('round-robin', { a: 5, b: 5, slow: 50 }, 5000);
    assert.ok(Math.abs(rr.get('http://slow')! / [...rr.values()].reduce((x, y) => x + y, 0) - 1 / 3) < 0.01);
  });

  it('a peak replaces the estimate at once; lower samples blend in; an idle estimate decays', () => {
    const load = new EndpointLoad(0);
    load.observe(100, 0, 10_000);
    assert.equal(load.ewmaMs, 100);
    load.observe(10, 10_000, 10_000); // one decay period later: weight e^-1 on the old value
    assert.ok(Math.abs(load.ewmaMs - (100 * Math.exp(-1) + 10 * (1 - Math.exp(-1)))) < 1e-9);
    const before = load.cost(10_000, 10_000);
    assert.ok(load.cost(30_000, 10_000) < before / 7, 'decays while idle');
    load.inflight = 3;
    assert.equal(load.cost(10_000, 10_000), before * 4, 'cost × (in flight + 1)');
  });
});

describe('ring hash', () => {
  const keys = Array.from({ length: 2000 }, (_, i) => hash32(`user-${i}`));
  const owners = (p: RingHashPicker<{ origin: string; weight: number }>) => keys.map((k) => p.pick(k).origin);

  it('sticks each key to one endpoint, the same in every picker built over the same endpoints', () => {
    const items = ['a', 'b', 'c', 'd', 'e'].map((n) => ep(n));
    const one = new RingHashPicker(items, 1024, 8 << 20, seeded(1));
    const two = new RingHashPicker([...items].reverse(), 1024, 8 << 20, seeded(2));
    assert.deepEqual(owners(one), owners(two));
    assert.ok(one.ringSize >= 1024);
    const spread = new Map<string, number>();
    for (const o of owners(one)) spread.set(o, (spread.get(o) ?? 0) + 1);
    for (const [o, n] of spread) assert.ok(Math.abs(n / keys.length - 0.2) < 0.06, `${o}: ${n}`);
  });

  it('adding one of N endpoints moves about 1/N of keys (tolerance ±0.06), all of them to the new endpoint', () => {
    const items = ['a', 'b', 'c', 'd', 'e'].map((n) => ep(n));
    const before = owners(new RingHashPicker(items, 1024, 8 << 20, seeded(1)));
    const after = owners(new RingHashPicker([...items, ep('f')], 1024, 8 << 20, seeded(1)));
    const moved = before.filter((o, i) => o !== after[i]);
    assert.ok(Math.abs(moved.length / keys.length - 1 / 6) < 0.06, `moved ${moved.length} of ${keys.length}`);
    assert.ok(after.every((o, i) => o === before[i] || o === 'http://f'));
  });

  it('weights give proportionally more keys (±0.06)', () => {
    const p = new RingHashPicker([ep('a', 1), ep('b', 3)], 256, 8 << 20, seeded(1));
    const share = owners(p).filter((o) => o === 'http://b').length / keys.length;
    assert.ok(Math.abs(share - 0.75) < 0.06, `b: ${share}`);
  });

  it('keys come from header, cookie or source IP per the route; none yields a random pick', () => {
    const read = (h: Record<string, string>, name: string) => h[name];
    assert.equal(requestHash([{ kind: 'header', name: 'x-user', terminal: false }], { 'x-user': 'u1' }, read, 'ip'), hash32('u1'));
    assert.equal(requestHash([{ kind: 'cookie', name: 'sid', terminal: false }], { cookie: 'a=1; sid=s9' }, read, 'ip'), hash32('s9'));
    assert.equal(requestHash([{ kind: 'source-ip', terminal: false }], {}, read, '10.0.0.1'), hash32('10.0.0.1'));
    assert.equal(requestHash([{ kind: 'header', name: 'x-user', terminal: false }], {}, read, 'ip'), undefined);
    const terminal = requestHash(
      [
        { kind: 'header', name: 'x-user', terminal: true },
        { kind: 'source-ip', terminal: false },
      ],
      { 'x-user': 'u1' },
      read,
      'ip',
    );
    assert.equal(terminal, hash32('u1'));
  });
});

describe('trackLoad', () => {
  it('counts a call in flight from dispatch to its end and records its latency to the response headers', () => {
    let now = 0;
    const load = new EndpointLoad(0);
    let inner: Dispatcher.DispatchHandler | undefined;
    const dispatch = trackLoad((_o, h) => ((inner = h), true), load, 10_000, () => now);
    dispatch({ path: '/', method: 'GET' }, { onHeaders: () => true, onComplete: () => {}, onError: () => {} } as Dispatcher.DispatchHandler);
    assert.equal(load.inflight, 1);
    now = 40;
    inner!.onHeaders!(200, [], () => {}, 'OK');
    now = 90;
    inner!.onComplete!(null);
    inner!.onComplete!(null); // ends once
    assert.equal(load.inflight, 0);
    assert.equal(load.ewmaMs, 40);
  });
});
