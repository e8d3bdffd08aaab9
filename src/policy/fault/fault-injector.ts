// Fault injection decisions (Envoy HTTP fault filter, gRFC A33), shared by the HTTP and gRPC clients: which fault
// config applies to a route, and, per request, whether to delay and/or abort it. No transport code here.
import type { FaultPolicy, HeaderMatcher, Route, TargetRoutes, VirtualHost } from '../../discovery/mesh-state.js';
import { compileStringMatcher } from '../../discovery/string-matcher.js';

/** Reads one request header (lower-case name) from a transport's header value; undefined when absent. */
export type HeaderGetter<H> = (headers: H, lowerName: string) => string | undefined;

/** A gauge of faulted requests in progress; A33's max_active_faults is counted per process. */
export interface ActiveFaults {
  count: number;
}

/** The process-wide gauge every injector uses unless given another (tests pass their own). */
export const PROCESS_ACTIVE_FAULTS: ActiveFaults = { count: 0 };

/** How an aborted request is answered: HTTP status for HTTP calls, gRPC status for gRPC calls (both always set). */
export interface FaultAbort {
  readonly httpStatus: number;
  readonly grpcStatus: number;
}

/** What to do to one request: wait `delayMs` (0 = no delay), then abort with `abort` or forward it. */
export interface FaultDecision {
  readonly delayMs: number;
  readonly abort: FaultAbort | undefined;
  /** True when the delay holds a slot of the active-faults gauge; release it with FaultInjector.release(). */
  readonly holdsSlot: boolean;
}

/** Options of FaultInjector. */
export interface FaultInjectorOptions {
  /** Random source in [0, 1); default Math.random (seed one in tests). */
  readonly random?: () => number;
  /** Active-faults gauge; default PROCESS_ACTIVE_FAULTS. */
  readonly active?: ActiveFaults;
}

/**
 * The fault configs that apply to `route` of `virtualHost`, one per fault filter of the target's HCM, in order: the
 * route's `typed_per_filter_config` entry for the filter's name, else the virtual host's, else the filter's own
 * config (an override replaces the whole config, as in Envoy and gRFC A39). Configs that inject nothing are left
 * out, so an empty result means the route needs no fault layer at all.
 */
export function effectiveFaults(routes: TargetRoutes, virtualHost: VirtualHost | undefined, route: Route): readonly FaultPolicy[] {
  const filters = routes.faultFilters;
  if (filters === undefined || filters.length === 0) return [];
  const out: FaultPolicy[] = [];
  for (const f of filters) {
    const policy = route.faultOverrides?.get(f.name) ?? virtualHost?.faultOverrides?.get(f.name) ?? f.policy;
    if (policy.delay !== undefined || policy.abort !== undefined) out.push(policy);
  }
  return out;
}

/** One line saying what `policy` does, e.g. `abort 503 for 50% of calls; delay 200 ms for 10% (only with x-chaos)`. */
export function describeFault(policy: FaultPolicy): string {
  const pct = (perMillion: number): string => `${perMillion / 10_000}%`;
  const parts: string[] = [];
  const { delay, abort } = policy;
  if (delay !== undefined) {
    parts.push(delay.kind === 'fixed' ? `delay ${delay.delayMs} ms for ${pct(delay.perMillion)} of calls` : `delay from x-envoy-fault-delay-request (up to ${pct(delay.perMillion)} of calls)`);
  }
  if (abort !== undefined) {
    const what = abort.kind === 'http' ? `abort ${abort.httpStatus}` : abort.kind === 'grpc' ? `abort grpc-status ${abort.grpcStatus}` : 'abort from x-envoy-fault-abort-* headers';
    parts.push(`${what} for ${pct(abort.perMillion)} of calls`);
  }
  const gate = policy.headers.length > 0 ? ` (only calls with ${policy.headers.map((h) => h.name).join(', ')})` : '';
  const max = policy.maxActiveFaults !== undefined ? ` (at most ${policy.maxActiveFaults} at once)` : '';
  return `${parts.join('; ')}${gate}${max}`;
}

/** gRPC status for an HTTP status (gRPC's http-grpc-status-mapping, as A33 requires for http_status aborts). */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

const HTTP_FOR_GRPC = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

/** HTTP status for a gRPC status (Envoy's Grpc::Utility::grpcToHttpStatus); 500 for unknown codes. */
export function httpStatusForGrpc(code: number): number {
  return HTTP_FOR_GRPC[code] ?? 500;
}

const DELAY_HEADER = 'x-envoy-fault-delay-request';
const DELAY_PERCENT_HEADER = 'x-envoy-fault-delay-request-percentage';
const ABORT_HTTP_HEADER = 'x-envoy-fault-abort-request';
const ABORT_GRPC_HEADER = 'x-envoy-fault-abort-grpc-request';
const ABORT_PERCENT_HEADER = 'x-envoy-fault-abort-request-percentage';

function headerInt(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /\d+/.exec(value);
  return m === null ? undefined : Number(m[0]);
}

/** Compiles HTTPFault.headers (Envoy semantics: an absent header fails all but an inverted `present`). */
function headerPredicate<H>(matchers: readonly HeaderMatcher[], get: HeaderGetter<H>): ((headers: H) => boolean) | undefined {
  if (matchers.length === 0) return undefined;
  const checks = matchers.map((h): ((headers: H) => boolean) => {
    const { name, invert } = h;
    if (h.match.kind === 'present') return (headers) => (get(headers, name) !== undefined) !== invert;
    const test = compileStringMatcher(h.match);
    return (headers) => {
      const v = get(headers, name);
      return v !== undefined && test(v) !== invert;
    };
  });
  return (headers) => {
    for (const c of checks) if (!c(headers)) return false;
    return true;
  };
}

/**
 * Decides faults for requests of one route under one FaultPolicy. Delay and abort are drawn with separate random
 * numbers (A33); each is skipped while the active-faults gauge is at `maxActiveFaults`. decide() allocates nothing
 * for a request that gets no fault. Reentrant; never throws for well-formed headers.
 */
export class FaultInjector<H> {
  readonly policy: FaultPolicy;
  readonly #get: HeaderGetter<H>;
  readonly #random: () => number;
  readonly #active: ActiveFaults;
  readonly #max: number;
  readonly #matches: ((headers: H) => boolean) | undefined;

  constructor(policy: FaultPolicy, get: HeaderGetter<H>, options: FaultInjectorOptions = {}) {
    this.policy = policy;
    this.#get = get;
    this.#random = options.random ?? Math.random;
    this.#active = options.active ?? PROCESS_ACTIVE_FAULTS;
    this.#max = policy.maxActiveFaults ?? Infinity;
    this.#matches = headerPredicate(policy.headers, get);
  }

  /** Faulted requests in progress on this injector's gauge. */
  get active(): number {
    return this.#active.count;
  }

  /** The fault for one request, or undefined (no fault: forward it untouched). A delay takes a gauge slot. */
  decide(headers: H): FaultDecision | undefined {
    if (this.#matches !== undefined && !this.#matches(headers)) return undefined;
    const { delay, abort } = this.policy;
    let delayMs = 0;
    let holdsSlot = false;
    if (delay !== undefined && this.#active.count < this.#max) {
      let ms: number | undefined = 0;
      let share = delay.perMillion;
      if (delay.kind === 'fixed') ms = delay.delayMs;
      else {
        ms = headerInt(this.#get(headers, DELAY_HEADER));
        const p = headerInt(this.#get(headers, DELAY_PERCENT_HEADER));
        if (p !== undefined) share = Math.min(share, p * delay.unitPerMillion);
      }
      if (ms !== undefined && ms > 0 && this.#roll(share)) {
        delayMs = ms;
        holdsSlot = true;
        this.#active.count++;
      }
    }
    let chosen: FaultAbort | undefined;
    // The abort is checked as if the delay had ended (A33 checks it after the delay): this call's own slot is free.
    if (abort !== undefined && this.#active.count - (holdsSlot ? 1 : 0) < this.#max) {
      let share = abort.perMillion;
      let http: number | undefined;
      let grpc: number | undefined;
      if (abort.kind === 'http') http = abort.httpStatus;
      else if (abort.kind === 'grpc') grpc = abort.grpcStatus;
      else {
        grpc = headerInt(this.#get(headers, ABORT_GRPC_HEADER));
        if (grpc === undefined) http = headerInt(this.#get(headers, ABORT_HTTP_HEADER));
        if (http !== undefined && !(http >= 200 && http < 600)) http = undefined;
        const p = headerInt(this.#get(headers, ABORT_PERCENT_HEADER));
        if (p !== undefined) share = Math.min(share, p * abort.unitPerMillion);
      }
      if ((http !== undefined || grpc !== undefined) && this.#roll(share)) {
        chosen =
          grpc !== undefined
            ? { httpStatus: httpStatusForGrpc(grpc), grpcStatus: grpc }
            : { httpStatus: http!, grpcStatus: grpcStatusForHttp(http!) };
      }
    }
    if (delayMs === 0 && chosen === undefined) return undefined;
    return { delayMs, abort: chosen, holdsSlot };
  }

  /** Frees the gauge slot a delayed decision took (call once, when its delay ends or the call is cancelled). */
  release(): void {
    if (this.#active.count > 0) this.#active.count--;
  }

  #roll(perMillion: number): boolean {
    if (perMillion >= 1_000_000) return true;
    if (perMillion <= 0) return false;
    return this.#random() * 1_000_000 < perMillion;
  }
}
