// Unit tests of the retry layer against a scripted dispatch function and a fake clock (no real sleeps).
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Dispatcher } from 'undici';
import type { RetryPolicy } from '../../discovery/mesh-state.js';
import { RetryBudget } from '../../policy/retry/retry-budget.js';
import { compileRetry } from '../../policy/retry/retry-config.js';
import type { DispatchFn } from '../stack.js';
import { getHeader } from './headers.js';
import { EXCLUDE_ORIGINS, retry, type RetryClock } from './retry-handler.js';
import { undiciOutcome } from './undici-errors.js';

type Step =
  | { readonly refuse: true }
  | { readonly reset: true }
  | { readonly hang: true }
  | { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string };

class FakeClock implements RetryClock {
  t = 1_000;
  timers: { at: number; fn: () => void; id: number; ms: number }[] = [];
  delays: number[] = [];
  #id = 0;
  now(): number {
    return this.t;
  }
  epochMs(): number {
    return 1_700_000_000_000 + this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#id;
    this.timers.push({ at: this.t + ms, fn, id, ms });
    this.delays.push(ms);
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  /** Runs every timer due within `ms`, in order, flushing microtasks between them. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (next === undefined || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
    await flush();
  }
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Seen {
  readonly headers: Dispatcher.DispatchOptions['headers'];
  readonly exclude: readonly string[] | undefined;
  readonly body: unknown;
}

/** A dispatch that plays `steps` in order (the last repeats), one per attempt, on a fake origin per attempt. */
function scripted(steps: Step[]): { next: DispatchFn; seen: Seen[] } {
  const seen: Seen[] = [];
  const next: DispatchFn = (opts, h) => {
    const i = seen.length;
    seen.push({ headers: opts.headers, exclude: (opts as unknown as Record<symbol, string[]>)[EXCLUDE_ORIGINS]?.slice(), body: opts.body });
    opts.origin = `http://10.0.0.${i + 1}:80`;
    const step = steps[Math.min(i, steps.length - 1)]!;
    queueMicrotask(() => {
      if ('refuse' in step) return h.onError!(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
      const abort = (err?: Error): void => void h.onError!(err ?? new Error('aborted'));
      h.onConnect!(abort);
      if ('reset' in step) return h.onError!(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
      if ('hang' in step) return;
      const raw = Object.entries(step.headers ?? {}).flatMap(([k, v]) => [Buffer.from(k), Buffer.from(v)]);
      h.onHeaders!(step.status, raw, () => {}, '');
      if (step.body !== undefined) h.onData!(Buffer.from(step.body));
      h.onComplete!([]);
    });
    return true;
  };
  return { next, seen };
}

interface Result {
  status?: number;
  body: string;
  error?: Error;
  done: boolean;
  abort?: (err?: Error) => void;
}

function collector(): { handler: Dispatcher.DispatchHandler; result: Result } {
  const result: Result = { body: '', done: false };
  const handler = {
    onConnect(abort: (err?: Error) => void) {
      result.abort = abort;
    },
    onHeaders(status: number) {
      result.status = status;
      return true;
    },
    onData(chunk: Buffer) {
      result.body += chunk.toString();
      return true;
    },
    onComplete() {
      result.done = true;
    },
    onError(err: Error) {
      result.error = err;
      result.done = true;
    },
  } as unknown as Dispatcher.DispatchHandler;
  return { handler, result };
}

const policy = (p: Partial<RetryPolicy> = {}): RetryPolicy => ({
  conditions: ['5xx'],
  retriableStatusCodes: [],
  numRetries: 3,
  perTryTimeoutMs: undefined,
  baseIntervalMs: 25,
  maxIntervalMs: 250,
  retryNonIdempotent: false,
  ...p,
});

interface Slots {
  held: number;
  max: number;
  refused: number;
  tryAcquireRetry(): boolean;
  releaseRetry(): void;
}
function slots(max: number): Slots {
  return {
    held: 0,
    max,
    refused: 0,
    tryAcquireRetry() {
      if (this.held >= this.max) return (this.refused++, false);
      this.held++;
      return true;
    },
    releaseRetry() {
      this.held--;
    },
  };
}

function setup(
  p: RetryPolicy | undefined,
  steps: Step[],
  extra: { timeoutMs?: number; budget?: RetryBudget; random?: () => number; maxRequestBytes?: number; retrySlots?: Slots } = {},
) {
  const clock = new FakeClock();
  const { next, seen } = scripted(steps);
  const budget = extra.budget ?? new RetryBudget({}, () => clock.now());
  const layer = retry({
    authority: 'echo',
    route: 'r',
    cluster: 'echo:8080',
    timeoutMs: extra.timeoutMs,
    retry: compileRetry(p, extra.maxRequestBytes !== undefined ? { maxRequestBytes: extra.maxRequestBytes } : {}),
    budget,
    clock,
    random: extra.random ?? (() => 0.5),
    ...(extra.retrySlots !== undefined ? { retrySlots: extra.retrySlots } : {}),
  });
  const dispatch = layer(next);
  const send = (method = 'GET', body?: unknown) => {
    const { handler, result } = collector();
    dispatch({ origin: 'http://echo', path: '/', method, headers: { host: 'echo' }, body } as Dispatcher.DispatchOptions, handler);
    return result;
  };
  return { clock, seen, send, budget };
}

const attemptsOf = (seen: Seen[]) => seen.map((s) => getHeader(s.headers, 'x-weft-attempt'));

describe('retry layer: safe default (no policy)', () => {
  it('retries a refused connection once, on another endpoint, for any method', async () => {
    const { clock, seen, send } = setup(undefined, [{ refuse: true }, { status: 200, body: 'ok' }]);
    const r = send('POST', 'payload');
    await clock.advance(1_000);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.equal(seen.length, 2);
    assert.deepEqual(attemptsOf(seen), [undefined, '2'], 'attempt header only on the retry');
    assert.deepEqual(seen[1]!.exclude, ['http://10.0.0.1:80'], 'the retry avoids the refused endpoint');
    assert.equal(seen[1]!.body, 'payload');
  });
  it('does not retry a reset after the request was sent, nor a 503; retries a refusal only once', async () => {
    for (const steps of [[{ reset: true } as Step], [{ status: 503, body: 'down' } as Step]]) {
      const { clock, seen, send } = setup(undefined, [...steps, { status: 200 }]);
      const r = send('GET');
      await clock.advance(1_000);
      assert.equal(seen.length, 1);
      assert.ok(r.error !== undefined || r.status === 503);
    }
    const { clock, seen, send } = setup(undefined, [{ refuse: true }]);
    const r = send('GET');
    await clock.advance(1_000);
    assert.equal(seen.length, 2);
    assert.equal((r.error as { code?: string }).code, 'ECONNREFUSED');
  });
});

describe('retry layer: with a policy', () => {
  it('retries 503s up to num_retries, sends the attempt number, and never delivers a dumped response', async () => {
    const { clock, seen, send } = setup(policy(), [{ status: 503, body: 'no1' }, { status: 503, body: 'no2' }, { status: 200, body: 'yes' }]);
    const r = send('GET');
    await clock.advance(5_000);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'yes');
    assert.deepEqual(attemptsOf(seen), [undefined, '2', '3'], 'the attempt number on retries; none on the first attempt');
    assert.deepEqual(seen[2]!.exclude, ['http://10.0.0.1:80', 'http://10.0.0.2:80']);
  });
  it('delivers the last failure untouched once attempts run out', async () => {
    const { clock, seen, send } = setup(policy({ numRetries: 2 }), [{ status: 503, body: 'down' }]);
    const r = send('GET');
    await clock.advance(5_000);
    assert.equal(seen.length, 3);
    assert.equal(r.status, 503);
    assert.equal(r.body, 'down');
  });
  it('does not retry POST unless the route opts in; a refused POST is retried either way', async () => {
    const a = setup(policy(), [{ status: 503 }, { status: 200 }]);
    const r = a.send('POST', 'x');
    await a.clock.advance(5_000);
    assert.equal(a.seen.length, 1);
    assert.equal(r.status, 503);
    const b = setup(policy({ retryNonIdempotent: true }), [{ status: 503 }, { status: 200 }]);
    const r2 = b.send('POST', 'x');
    await b.clock.advance(5_000);
    assert.equal(b.seen.length, 2);
    assert.equal(r2.status, 200);
    const c = setup(policy(), [{ refuse: true }, { status: 200 }]);
    const r3 = c.send('POST', 'x');
    await c.clock.advance(5_000);
    assert.equal(c.seen.length, 2);
    assert.equal(r3.status, 200);
  });
  it('backs off exponentially with full jitter within [0, min(max, base·2^(n-1)))', async () => {
    const { clock, send } = setup(policy({ numRetries: 5, baseIntervalMs: 10, maxIntervalMs: 50 }), [{ status: 503 }], { random: () => 0.999 });
    send('GET');
    await clock.advance(10_000);
    assert.deepEqual(clock.delays, [9, 19, 39, 49, 49]);
    const low = setup(policy({ numRetries: 2 }), [{ status: 503 }], { random: () => 0 });
    low.send('GET');
    await low.clock.advance(10_000);
    assert.deepEqual(low.clock.delays, [0, 0]);
  });
  it('honours Retry-After (seconds and HTTP date) on 503/429, but not past the route deadline', async () => {
    const { clock, send } = setup(policy({ conditions: ['retriable-status-codes'], retriableStatusCodes: [429] }), [{ status: 429, headers: { 'retry-after': '2' } }, { status: 200 }]);
    const r = send('GET');
    await clock.advance(1_999);
    assert.equal(r.status, undefined, 'still waiting for Retry-After');
    await clock.advance(1);
    assert.equal(r.status, 200);
    const date = new Date(1_700_000_000_000 + 1_000 + 3_000).toUTCString();
    const d = setup(policy(), [{ status: 503, headers: { 'retry-after': date } }, { status: 200 }]);
    d.send('GET');
    await d.clock.advance(10_000);
    assert.ok(d.clock.delays.includes(3_000), `delays ${d.clock.delays.join(',')}`);
    const capped = setup(policy(), [{ status: 503, headers: { 'retry-after': '5' }, body: 'busy' }, { status: 200 }], { timeoutMs: 1_000 });
    const r3 = capped.send('GET');
    await capped.clock.advance(10_000);
    assert.equal(capped.seen.length, 1, 'Retry-After beyond the deadline: no retry');
    assert.equal(r3.status, 503);
    assert.equal(r3.body, 'busy');
  });
  it('sends the remaining route deadline as x-weft-timeout-ms, shrinking across attempts', async () => {
    const { clock, seen, send } = setup(policy({ baseIntervalMs: 100, maxIntervalMs: 100 }), [{ status: 503 }, { status: 200 }], { timeoutMs: 300, random: () => 0.999 });
    send('GET');
    await clock.advance(1_000);
    assert.deepEqual(seen.map((s) => getHeader(s.headers, 'x-weft-timeout-ms')), ['300', '201']);
  });
  it('per-try timeout aborts a hung attempt and retries it (the per-try budget is what the server is told)', async () => {
    const { clock, seen, send } = setup(policy({ perTryTimeoutMs: 100 }), [{ hang: true }, { status: 200, body: 'ok' }], { timeoutMs: 1_000 });
    const r = send('GET');
    await clock.advance(99);
    assert.equal(seen.length, 1);
    await clock.advance(500);
    assert.equal(seen.length, 2);
    assert.equal(r.status, 200);
    assert.equal(getHeader(seen[0]!.headers, 'x-weft-timeout-ms'), '100');
  });
  it('body cap: bodies above maxRequestBytes are sent once; streams within it are buffered and replayed', async () => {
    const big = setup(policy({ retryNonIdempotent: true }), [{ status: 503 }, { status: 200 }], { maxRequestBytes: 1024 });
    const r = big.send('PUT', Buffer.alloc(2048));
    await big.clock.advance(5_000);
    assert.equal(big.seen.length, 1);
    assert.equal(r.status, 503);
    const small = setup(policy(), [{ status: 503 }, { status: 200 }], { maxRequestBytes: 1024 });
    const r2 = small.send('PUT', Readable.from([Buffer.from('ab'), Buffer.from('cd')]));
    await small.clock.advance(5_000);
    assert.equal(r2.status, 200);
    assert.equal(small.seen.length, 2);
    assert.deepEqual(small.seen.map((s) => String(s.body)), ['abcd', 'abcd']);
    const stream = setup(policy(), [{ status: 503 }, { status: 200 }], { maxRequestBytes: 3 });
    const r3 = stream.send('PUT', Readable.from([Buffer.from('ab'), Buffer.from('cd')]));
    await stream.clock.advance(5_000);
    assert.equal(stream.seen.length, 1, 'a stream above the cap is not retried');
    assert.equal(r3.status, 503);
  });
  it('stops when the budget is exhausted and returns the failure as is', async () => {
    const clock0 = { now: () => 0 };
    const budget = new RetryBudget({ percent: 0, minRetriesPerSecond: 1 }, clock0.now);
    const { clock, seen, send } = setup(policy({ numRetries: 5 }), [{ status: 503, body: 'down' }], { budget });
    const r = send('GET');
    await clock.advance(10_000);
    assert.equal(seen.length, 2, 'one retry from the floor, then the budget says no');
    assert.equal(r.body, 'down');
    assert.equal(budget.stats().exhausted, 1);
    const refused = setup(policy({ numRetries: 2 }), [{ refuse: true }, { refuse: true }, { status: 200 }], { budget });
    const r2 = refused.send('GET');
    await refused.clock.advance(10_000);
    assert.equal(r2.status, 200, 'never-sent attempts are retried without drawing on the spent budget');
    assert.equal(budget.stats().exhausted, 1);
  });
  it('holds a circuit-breaker max_retries slot per retry, gives it back when the attempt ends, and stops when none is free', async () => {
    const free = slots(1);
    const a = setup(policy({ numRetries: 2 }), [{ status: 503 }, { status: 503 }, { status: 200 }], { retrySlots: free });
    const r = a.send('GET');
    await a.clock.advance(10_000);
    assert.equal(r.status, 200);
    assert.equal(a.seen.length, 3, 'two retries, one slot each, one at a time');
    assert.equal(free.held, 0, 'every slot given back');
    const none = slots(0);
    const b = setup(policy(), [{ status: 503, body: 'busy' }, { status: 200 }], { retrySlots: none });
    const r2 = b.send('GET');
    await b.clock.advance(10_000);
    assert.equal(b.seen.length, 1);
    assert.equal(r2.body, 'busy');
    assert.equal(none.refused, 1);
  });
  it("the caller's abort during backoff ends the call at once, with no further attempt", async () => {
    const { clock, seen, send } = setup(policy({ baseIntervalMs: 1_000, maxIntervalMs: 1_000 }), [{ status: 503 }, { status: 200 }]);
    const r = send('GET');
    await clock.advance(10);
    assert.equal(seen.length, 1);
    r.abort!(new Error('user gave up'));
    await clock.advance(5_000);
    assert.equal(seen.length, 1);
    assert.equal(r.error?.message, 'user gave up');
  });
});

describe('undiciOutcome', () => {
  it('maps errors by whether a connection was assigned', () => {
    assert.deepEqual(undiciOutcome(Object.assign(new Error(), { code: 'ECONNREFUSED' }), false, false), { kind: 'error', error: 'connect-failure', neverSent: true });
    assert.deepEqual(undiciOutcome(Object.assign(new Error(), { code: 'UND_ERR_CONNECT_TIMEOUT' }), false, false), { kind: 'error', error: 'connect-failure', neverSent: true });
    assert.deepEqual(undiciOutcome(Object.assign(new Error(), { code: 'UND_ERR_INVALID_ARG' }), false, false), { kind: 'error', error: 'other', neverSent: false });
    assert.deepEqual(undiciOutcome(Object.assign(new Error(), { code: 'UND_ERR_SOCKET' }), true, false), { kind: 'error', error: 'reset', neverSent: false });
    assert.deepEqual(undiciOutcome(Object.assign(new Error(), { code: 'UND_ERR_HEADERS_TIMEOUT' }), true, false), { kind: 'error', error: 'timeout', neverSent: false });
    assert.deepEqual(undiciOutcome(new Error(), true, true), { kind: 'error', error: 'timeout', neverSent: false });
  });
});
