// Counts requests and latencies in one demo process and reports them as JSON lines on stdout for run.ts.

/** A latency recorder: totals and latency percentiles since start (the newest 100,000 samples). */
export class Stats {
  requests = 0;
  ok = 0;
  errors = 0;
  lastError = '';
  #window: number[] = [];

  constructor(readonly service: string, readonly instance: string) {}

  /** Records one request: its latency in ms and whether it succeeded. */
  record(latencyMs: number, ok: boolean, error?: string): void {
    this.requests++;
    if (ok) this.ok++;
    else {
      this.errors++;
      if (error) this.lastError = error;
    }
    if (this.#window.length >= 100_000) this.#window.shift();
    this.#window.push(latencyMs);
  }

  /** Writes one `{"type":"stats",...}` line. */
  report(): void {
    const sorted = [...this.#window].sort((a, b) => a - b);
    const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0);
    const line = {
      type: 'stats',
      service: this.service,
      instance: this.instance,
      requests: this.requests,
      ok: this.ok,
      errors: this.errors,
      p50Ms: round(pct(0.5)),
      p99Ms: round(pct(0.99)),
      lastError: this.lastError,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
