// Envoy-style outlier detection for one cluster: watches each endpoint's outcomes, ejects outliers, brings them back.
import { isGatewayError, type ErrorKind } from '../../core/classify.js';
import type { Disposable } from '../../core/watch.js';
import type { AttemptObserver } from '../attempt-observer.js';
import type { OutlierDetectionPolicy } from './outlier-config.js';

/** Time source and interval timer of a detector; inject a fake one in tests. Handles are opaque. */
export interface OutlierClock {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** Date.now and Node's timers (the interval is unref'd: a detector never keeps a process alive). */
export const SYSTEM_OUTLIER_CLOCK: OutlierClock = Object.freeze({
  now: () => Date.now(),
  setInterval: (fn: () => void, ms: number): unknown => {
    const t = setInterval(fn, ms);
    t.unref?.();
    return t;
  },
  clearInterval: (h: unknown) => clearInterval(h as NodeJS.Timeout),
});

/** Why an endpoint was ejected (Envoy's detector names). */
export type EjectionReason = 'consecutive-5xx' | 'consecutive-gateway-failure' | 'consecutive-local-origin-failure' | 'success-rate' | 'failure-percentage';

/** One ejected endpoint, as status and explain() show it. Plain data. */
export interface Ejection {
  readonly origin: string;
  readonly reason: EjectionReason;
  readonly ejectedAtMs: number;
  /** How long this ejection lasts: base ejection time × times ejected recently, at most max ejection time. */
  readonly durationMs: number;
  /** It returns at the first sweep (every `intervalMs`) at or after this time. */
  readonly untilMs: number;
  /** The ejection-time multiplier (grows by one per ejection, shrinks by one per healthy base ejection time). */
  readonly multiplier: number;
}

/**
 * One endpoint's record: consecutive-failure counters, this interval's successes and failures, ejection state.
 * It is the AttemptObserver the transport adapter reports the endpoint's attempts to.
 */
export class EndpointHealth implements AttemptObserver {
  /** `http://ip:port`. */
  readonly origin: string;
  readonly #detector: OutlierDetector;
  consecutive5xx = 0;
  consecutiveGateway = 0;
  consecutiveLocal = 0;
  successes = 0;
  failures = 0;
  multiplier = 0;
  ejection: Ejection | undefined = undefined;
  lastReturnedAtMs: number | undefined = undefined;

  constructor(origin: string, detector: OutlierDetector) {
    this.origin = origin;
    this.#detector = detector;
  }

  /** Response headers arrived with `status`. */
  responded(status: number): void {
    this.#detector.onResponse(this, status, false);
  }

  /** The attempt ended; only failures before a response (connect failure, reset, timeout) are counted here. */
  ended(failure: ErrorKind | undefined, _started: boolean, responded: boolean): void {
    if (failure === undefined || failure === 'other' || responded) return;
    this.#detector.onLocalFailure(this, failure);
  }
}

/**
 * The outlier detector of one cluster (Envoy Cluster.outlier_detection; arch overview "Outlier detection").
 * - Consecutive 5xx / gateway errors (502, 503, 504) / local-origin failures eject inline, when they reach their
 *   threshold (and pass the enforcing percentage). Unless `splitExternalLocalOriginErrors`, a connect failure or reset
 *   counts as a 503 and a timeout as a 504.
 * - Every `intervalMs` a sweep returns endpoints whose ejection time has passed, applies success-rate and
 *   failure-percentage ejection to this interval's counts, and resets them.
 * - At most max(1, ⌊n × maxEjectionPercent / 100⌋) endpoints are ejected at once, and never the last one (Envoy would
 *   enter panic mode and use it anyway).
 * State is per endpoint origin and survives configuration changes (update(), setEndpoints()); endpoints that leave
 * are forgotten. onChange listeners are called synchronously, possibly from inside a transport callback. Never throws.
 */
export class OutlierDetector {
  readonly cluster: string;
  #policy: OutlierDetectionPolicy;
  readonly #clock: OutlierClock;
  readonly #random: () => number;
  readonly #records = new Map<string, EndpointHealth>();
  readonly #listeners = new Set<() => void>();
  #ejected = 0;
  #timer: unknown;
  #closed = false;

  constructor(cluster: string, policy: OutlierDetectionPolicy, options: { clock?: OutlierClock; random?: () => number } = {}) {
    this.cluster = cluster;
    this.#policy = policy;
    this.#clock = options.clock ?? SYSTEM_OUTLIER_CLOCK;
    this.#random = options.random ?? Math.random;
    this.#timer = this.#clock.setInterval(() => this.sweep(), policy.intervalMs);
  }

  /** The settings in force. */
  get policy(): OutlierDetectionPolicy {
    return this.#policy;
  }

  /** Applies new settings live; counters and ejections are kept (the interval timer restarts if it changed). */
  update(policy: OutlierDetectionPolicy): void {
    const restart = policy.intervalMs !== this.#policy.intervalMs;
    this.#policy = policy;
    if (restart && !this.#closed) {
      this.#clock.clearInterval(this.#timer);
      this.#timer = this.#clock.setInterval(() => this.sweep(), policy.intervalMs);
    }
  }

  /** Makes the endpoint set `origins`: keeps the records of endpoints that stay, forgets the others. */
  setEndpoints(origins: Iterable<string>): void {
    const keep = new Set(origins);
    let changed = false;
    for (const [origin, rec] of this.#records) {
      if (keep.has(origin)) continue;
      if (rec.ejection !== undefined) {
        this.#ejected--;
        changed = true;
      }
      this.#records.delete(origin);
    }
    for (const origin of keep) if (!this.#records.has(origin)) this.#records.set(origin, new EndpointHealth(origin, this));
    if (changed) this.#notify();
  }

  /** The record (AttemptObserver) of `origin`, created if new. */
  health(origin: string): EndpointHealth {
    let rec = this.#records.get(origin);
    if (rec === undefined) this.#records.set(origin, (rec = new EndpointHealth(origin, this)));
    return rec;
  }

  /** True while `origin` is ejected. */
  isEjected(origin: string): boolean {
    return this.#records.get(origin)?.ejection !== undefined;
  }

  /** The endpoints ejected now (a copy). */
  ejections(): readonly Ejection[] {
    const out: Ejection[] = [];
    for (const rec of this.#records.values()) if (rec.ejection !== undefined) out.push(rec.ejection);
    return out;
  }

  /** Calls `fn` (synchronously) whenever an endpoint is ejected or returns. */
  onChange(fn: () => void): Disposable {
    this.#listeners.add(fn);
    return { dispose: () => void this.#listeners.delete(fn) };
  }

  /** Stops the interval timer; ejections stay as they are. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearInterval(this.#timer);
    this.#listeners.clear();
  }

  /** Counts a response from `rec` (`local`: a local-origin failure mapped to 503/504). */
  onResponse(rec: EndpointHealth, status: number, local: boolean): void {
    const p = this.#policy;
    if (status < 500) {
      rec.successes++;
      rec.consecutive5xx = 0;
      rec.consecutiveGateway = 0;
      if (!local) rec.consecutiveLocal = 0; // a response proves the connection worked
      return;
    }
    rec.failures++;
    rec.consecutive5xx++;
    if (isGatewayError(status)) rec.consecutiveGateway++;
    else rec.consecutiveGateway = 0;
    if (!local && p.splitExternalLocalOriginErrors) rec.consecutiveLocal = 0;
    if (rec.ejection !== undefined) return;
    const c5 = p.consecutive5xx;
    if (c5 !== undefined && rec.consecutive5xx >= c5.threshold && this.#eject(rec, 'consecutive-5xx', c5.enforcingPercent)) return;
    const gw = p.consecutiveGatewayFailure;
    if (gw !== undefined && rec.consecutiveGateway >= gw.threshold) this.#eject(rec, 'consecutive-gateway-failure', gw.enforcingPercent);
  }

  /** Counts a connect failure, reset or timeout of `rec`. */
  onLocalFailure(rec: EndpointHealth, kind: ErrorKind): void {
    const p = this.#policy;
    if (!p.splitExternalLocalOriginErrors) return this.onResponse(rec, kind === 'timeout' ? 504 : 503, true);
    rec.consecutiveLocal++;
    const lo = p.consecutiveLocalOriginFailure;
    if (rec.ejection === undefined && lo !== undefined && rec.consecutiveLocal >= lo.threshold) {
      this.#eject(rec, 'consecutive-local-origin-failure', lo.enforcingPercent);
    }
  }

  /** One interval's work: return endpoints whose time has passed, then success-rate and failure-percentage ejection. */
  sweep(): void {
    const now = this.#clock.now();
    const p = this.#policy;
    let changed = false;
    for (const rec of this.#records.values()) {
      const ej = rec.ejection;
      if (ej !== undefined) {
        if (now >= ej.untilMs) {
          rec.ejection = undefined;
          rec.lastReturnedAtMs = now;
          this.#ejected--;
          changed = true;
        }
      } else if (rec.multiplier > 0 && now - (rec.lastReturnedAtMs ?? 0) >= p.baseEjectionTimeMs) {
        rec.multiplier--;
        rec.lastReturnedAtMs = now;
      }
    }
    if (changed) this.#notify();
    const sr = p.successRate;
    if (sr !== undefined) {
      const eligible = [...this.#records.values()].filter((r) => r.ejection === undefined && r.successes + r.failures >= sr.requestVolume);
      if (eligible.length >= sr.minimumHosts) {
        const rates = eligible.map((r) => r.successes / (r.successes + r.failures));
        const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
        const stdev = Math.sqrt(rates.reduce((a, b) => a + (b - mean) ** 2, 0) / rates.length);
        const threshold = mean - sr.stdevFactor * stdev;
        eligible.forEach((r, i) => {
          if (rates[i]! < threshold) this.#eject(r, 'success-rate', sr.enforcingPercent);
        });
      }
    }
    const fp = p.failurePercentage;
    if (fp !== undefined) {
      const eligible = [...this.#records.values()].filter((r) => r.ejection === undefined && r.successes + r.failures >= fp.requestVolume);
      if (eligible.length >= fp.minimumHosts) {
        for (const r of eligible) {
          if ((100 * r.failures) / (r.successes + r.failures) >= fp.threshold) this.#eject(r, 'failure-percentage', fp.enforcingPercent);
        }
      }
    }
    for (const rec of this.#records.values()) rec.successes = rec.failures = 0;
  }

  /** Ejects `rec` if enforcement and the ejection cap allow; true when it did. */
  #eject(rec: EndpointHealth, reason: EjectionReason, enforcingPercent: number): boolean {
    if (this.#closed || enforcingPercent <= 0 || (enforcingPercent < 100 && this.#random() * 100 >= enforcingPercent)) return false;
    const n = this.#records.size;
    const cap = Math.min(n - 1, Math.max(1, Math.floor((n * this.#policy.maxEjectionPercent) / 100)));
    if (this.#ejected >= cap) return false;
    const p = this.#policy;
    const now = this.#clock.now();
    rec.multiplier++;
    const durationMs = Math.min(p.baseEjectionTimeMs * rec.multiplier, Math.max(p.maxEjectionTimeMs, p.baseEjectionTimeMs));
    rec.ejection = Object.freeze({ origin: rec.origin, reason, ejectedAtMs: now, durationMs, untilMs: now + durationMs, multiplier: rec.multiplier });
    rec.consecutive5xx = rec.consecutiveGateway = rec.consecutiveLocal = 0;
    this.#ejected++;
    this.#notify();
    return true;
  }

  #notify(): void {
    for (const fn of [...this.#listeners]) {
      try {
        fn();
      } catch {
        // A listener's failure must not reach the transport callback that caused the ejection.
      }
    }
  }
}
