// Micro-benchmark: the CPU the logical tier (retry layer, deadline and attempt headers, timers) adds to one call,
// in-process, with a transport that answers at once (no sockets), so the machine's noise stays out of the figure.
// The same call through a logical tier with no retry policy (the safe default), with a retry policy and timeouts (what
// benchmarks/retry-overhead.ts measures end to end), and straight to the transport (the baseline).
// Usage: node --import tsx benchmarks/retry-layer.ts [--calls 300000] [--rounds 7]
import { parseArgs } from 'node:util';
import type { Dispatcher } from 'undici';
import { logicalStack, type DispatchFn } from '../dist/src/experimental.js';
import { RetryBudget } from '../dist/src/policy/retry/retry-budget.js';
import type { RetryPolicy } from '../dist/src/discovery/mesh-state.js';

const { values: args } = parseArgs({ options: { calls: { type: 'string', default: '300000' }, rounds: { type: 'string', default: '7' } } });
const calls = Number(args.calls);
const rounds = Number(args.rounds);

const OK_HEADERS = [Buffer.from('content-length'), Buffer.from('2')];
const BODY = Buffer.from('ok');

/** A transport that answers every call 200 at once, as a keep-alive connection would (legacy handler callbacks). */
const transport: DispatchFn = (_opts, handler) => {
  const h = handler as unknown as {
    onConnect(abort: () => void): void;
    onHeaders(s: number, h: Buffer[], r: () => void, t: string): boolean;
    onData(b: Buffer): boolean;
    onComplete(t: null): void;
  };
  h.onConnect(() => {});
  h.onHeaders(200, OK_HEADERS, () => {}, 'OK');
  h.onData(BODY);
  h.onComplete(null);
  return true;
};

/** The caller's handler: counts completions. */
let done = 0;
const handler = {
  onConnect() {},
  onHeaders() {
    return true;
  },
  onData() {
    return true;
  },
  onComplete() {
    done++;
  },
  onError(err: Error) {
    throw err;
  },
} as unknown as Dispatcher.DispatchHandler;

const policy: RetryPolicy = {
  conditions: ['connect-failure', 'refused-stream', 'reset', 'retriable-status-codes'],
  retriableStatusCodes: [502, 503, 504],
  numRetries: 2,
  perTryTimeoutMs: 500,
  baseIntervalMs: 25,
  maxIntervalMs: 250,
  retryNonIdempotent: false,
};
const target = { authority: 'bench', route: 'HTTPRoute/bench/rules/0/matches/0', cluster: 'bench:80' };
const cases: { name: string; dispatch: DispatchFn }[] = [
  { name: 'transport only (baseline)', dispatch: transport },
  { name: 'logical tier, no retry policy (safe default)', dispatch: logicalStack({ ...target, timeoutMs: undefined, retryBudget: new RetryBudget() }).compose(transport) },
  {
    name: 'logical tier, retry policy + timeouts',
    dispatch: logicalStack({ ...target, timeoutMs: 2_000, retry: policy, retryBudget: new RetryBudget() }).compose(transport),
  },
];

const opts = (): Dispatcher.DispatchOptions => ({ origin: 'http://bench', method: 'GET', path: '/', headers: { host: 'bench', 'x-request-id': 'r' } });

function run(dispatch: DispatchFn): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) dispatch(opts(), handler);
  return Number(process.hrtime.bigint() - start) / calls;
}

for (const c of cases) run(c.dispatch); // warm-up: JIT
const ns = new Map(cases.map((c) => [c.name, [] as number[]]));
for (let r = 0; r < rounds; r++) for (const c of cases) ns.get(c.name)!.push(run(c.dispatch));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(ns.get(cases[0]!.name)!);
console.log(`\nLogical tier CPU per call, in-process (${calls} calls × ${rounds} rounds, medians), Node ${process.version}\n`);
console.log('| case | ns/call | added to the transport |');
console.log('|---|---|---|');
for (const c of cases) {
  const m = median(ns.get(c.name)!);
  console.log(`| ${c.name} | ${m.toFixed(0)} | ${c.dispatch === transport ? '' : `+${(m - base).toFixed(0)} ns`} |`);
}
if (done < calls) throw new Error('calls did not complete');
