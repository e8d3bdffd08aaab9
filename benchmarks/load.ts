// The closed-loop load generator the benchmarks share: N concurrent loops calling one function for a fixed time.

/** One call of the system under test; resolves when the response is fully read. */
export type Call = () => Promise<void>;

/** What one run measured. */
export interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Client process CPU (user + system) per successful call, µs. */
  cpuUsPerReq: number;
  errors: number;
}

/** Runs `concurrency` loops of `call` for `durationMs`; failed calls are counted, not timed. */
export async function runLoad(call: Call, concurrency: number, durationMs: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          await call();
          latencies.push(performance.now() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return {
    rps: (latencies.length / elapsedMs) * 1000,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    cpuUsPerReq: (cpu.user + cpu.system) / Math.max(1, latencies.length),
    errors,
  };
}

/** The median of `xs` (the upper one for an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
