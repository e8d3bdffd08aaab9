// mesh.explain(): what the mesh would do with one request (route, clusters, next endpoint, or why it fails), as plain data.
import { endpointOrigin } from './client/http/compile.js';
import type { MeshDispatcher } from './client/http/dispatcher.js';
import { whyNotMatched, type RequestFacts } from './client/http/route-match.js';
import { ERROR_CODES, type ErrorCode } from './core/errors.js';
import { describeFault, effectiveFaults } from './policy/fault/index.js';
import type { Discovery } from './discovery/discovery.js';

/** The parts of a fetch-style init that routing reads. */
export interface ExplainInit {
  readonly method?: string;
  readonly headers?: Record<string, string | readonly string[]> | Iterable<readonly [string, string]>;
}

/** Where a route came from, parsed from Weft's route names `<Kind>/<name>/rules/<i>/matches/<j>`. */
export interface RouteSource {
  readonly kind: string;
  readonly name: string;
  readonly rule: number;
  readonly match: number;
}

/** One route checked, in order, up to the one that matched. */
export interface RouteCheck {
  readonly name: string;
  readonly source: RouteSource | undefined;
  readonly matched: boolean;
  /** The first condition that failed, when it did not match. */
  readonly reason?: string;
}

/** An endpoint as explain() shows it. */
export interface ExplainedEndpoint {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** Set while outlier detection has taken the endpoint out of load balancing: why, and until when (epoch ms). */
  readonly ejected?: { readonly reason: string; readonly untilMs: number };
}

/** A cluster's circuit-breaker limits and counters, when it has circuit_breakers. */
export interface ExplainedBreaker {
  readonly maxRequests: number;
  readonly maxPendingRequests: number;
  readonly maxRetries: number;
  readonly maxConnections: number;
  readonly activeRequests: number;
  readonly pendingRequests: number;
  readonly activeRetries: number;
}

/** A cluster the matched route may send to. */
export interface ExplainedCluster {
  readonly name: string;
  readonly weight: number;
  /** Share of the route's traffic, 0–100. */
  readonly sharePercent: number;
  /** False while the cluster's endpoints (EDS) have not arrived. */
  readonly endpointsKnown: boolean;
  readonly endpoints: readonly ExplainedEndpoint[];
  /** The endpoint round robin picks next (reading it does not advance it). */
  readonly nextEndpoint: ExplainedEndpoint | undefined;
  /** Circuit-breaker limits and counters; absent when the cluster has none. */
  readonly circuitBreaker?: ExplainedBreaker;
}

/** What the mesh would do with one request. Plain JSON-serializable data; formatExplanation() renders it. */
export interface Explanation {
  readonly url: string;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  /** True when the mesh routes the host (as opposed to passing the call through). */
  readonly mesh: boolean;
  readonly decision: 'forward' | 'direct-response' | 'pass-through' | 'fail';
  /** One sentence saying why. */
  readonly reason: string;
  readonly listener?: string;
  readonly routeConfig?: string;
  readonly virtualHost?: string;
  /** Every route checked, in order, up to and including the match. */
  readonly routes: readonly RouteCheck[];
  readonly route?: {
    readonly name: string;
    readonly source: RouteSource | undefined;
    readonly timeoutMs: number | undefined;
    readonly clusters: readonly ExplainedCluster[];
    /** The route rule's concurrency limit, one line (`fixed 10 (HTTPRoute/x/rules/0)`); absent when it has none. */
    readonly concurrencyLimit?: string;
  };
  readonly directResponse?: { readonly status: number; readonly body: string };
  /** The matched route's injected faults (Envoy fault filter), one line each; absent when it has none. */
  readonly faults?: readonly string[];
  /** The error a call would get, when decision is 'fail'. */
  readonly error?: { readonly code: ErrorCode; readonly message: string };
  /** Configuration the control plane sent and this process refused (NACKed), per type. */
  readonly nacks: readonly { readonly typeUrl: string; readonly version: string; readonly message: string }[];
}

/** Parses `<Kind>/<name>/rules/<i>/matches/<j>`; undefined for names from other control planes. */
export function parseRouteName(name: string): RouteSource | undefined {
  const m = /^([A-Za-z]+)\/(.+)\/rules\/(\d+)\/matches\/(\d+)$/.exec(name);
  return m ? { kind: m[1]!, name: m[2]!, rule: Number(m[3]), match: Number(m[4]) } : undefined;
}

function lowerHeaders(init: ExplainInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const h = init?.headers;
  if (h === undefined) return out;
  const add = (k: string, v: string | readonly string[]): void => {
    const key = k.toLowerCase();
    const value = typeof v === 'string' ? v : v.join(',');
    out[key] = out[key] === undefined ? value : `${out[key]},${value}`;
  };
  if (Symbol.iterator in h) for (const [k, v] of h as Iterable<readonly [string, string]>) add(k, v);
  else for (const [k, v] of Object.entries(h)) add(k, v);
  return out;
}

/**
 * Explains `url` against the dispatcher's compiled state. Resolves an unknown host first (bounded). Never rejects.
 * A gRPC call is explained as `weft:///<service>/<package.Service>/<Method>` (metadata in `init.headers`): gRPC and
 * HTTP calls to a service read the same routes, a gRPC call as `POST /<package.Service>/<Method>`.
 */
export async function explainRequest(
  dispatcher: MeshDispatcher | undefined,
  discovery: Discovery | undefined,
  url: string | URL,
  init?: ExplainInit,
): Promise<Explanation> {
  const grpcCall = /^weft:\/\/\/([^/]+)(\/.*)?$/.exec(String(url));
  if (grpcCall !== null) {
    const explained = await explainRequest(dispatcher, discovery, `http://${grpcCall[1]}${grpcCall[2] ?? '/'}`, { ...init, method: 'POST' });
    const grpcView = { ...explained, url: String(url) };
    if (explained.decision !== 'pass-through' || dispatcher === undefined) return grpcView;
    const message = `'${grpcCall[1]}' is not a mesh service: a weft:/// channel to it fails with WEFT_ERR_UNKNOWN_SERVICE (${explained.reason})`;
    return { ...grpcView, mesh: true, decision: 'fail', reason: message, error: { code: ERROR_CODES.UNKNOWN_SERVICE, message } };
  }
  const method = (init?.method ?? 'GET').toUpperCase();
  const nacks = (discovery?.status().types ?? [])
    .filter((t) => t.lastNack !== undefined)
    .map((t) => ({ typeUrl: t.typeUrl, version: t.lastNack!.version, message: t.lastNack!.message }));
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    return { url: String(url), method, authority: '', path: '', mesh: false, decision: 'fail', reason: 'not a valid URL', routes: [], nacks };
  }
  const base = { url: parsed.href, method, authority: parsed.host, path: parsed.pathname + parsed.search, nacks };
  if (dispatcher === undefined) {
    return { ...base, mesh: false, decision: 'pass-through', reason: 'the mesh is disabled (enabled: false or WEFT_DISABLED=1): every call goes straight to its host', routes: [] };
  }
  const view = await dispatcher.inspect(parsed.origin);
  if (view.kind === 'pass-through') return { ...base, mesh: false, decision: 'pass-through', reason: `not a mesh host: ${view.reason}`, routes: [] };
  if (view.kind === 'pending' || view.kind === 'error' || view.target === undefined) {
    const code = view.kind === 'error' ? (view.reason === 'the mesh is closed' ? ERROR_CODES.CLOSED : ERROR_CODES.CONFIG_REJECTED) : ERROR_CODES.CONFIG_TIMEOUT;
    return { ...base, mesh: true, decision: 'fail', reason: view.reason, routes: [], error: { code, message: view.reason } };
  }
  const target = view.target;
  const where = { listener: target.routes.listener, routeConfig: target.routes.routeConfig, virtualHost: target.virtualHost?.name };
  const facts: RequestFacts = {
    method,
    path: parsed.pathname,
    query: parsed.search.slice(1),
    headers: lowerHeaders(init),
    authority: parsed.host,
    scheme: 'http',
  };
  const checks: RouteCheck[] = [];
  for (const cr of target.compiledRoutes) {
    const reason = whyNotMatched(cr.route, facts);
    checks.push(reason === undefined ? { name: cr.route.name, source: parseRouteName(cr.route.name), matched: true } : { name: cr.route.name, source: parseRouteName(cr.route.name), matched: false, reason });
    if (reason !== undefined) continue;
    const route = cr.route;
    const faultLines = effectiveFaults(target.routes, target.virtualHost, route).map(describeFault);
    const faults = faultLines.length > 0 ? { faults: faultLines } : {};
    if (route.action.kind === 'direct') {
      return { ...base, ...where, ...faults, mesh: true, decision: 'direct-response', reason: `route '${route.name}' answers locally with ${route.action.status}`, routes: checks, directResponse: { status: route.action.status, body: route.action.body } };
    }
    const total = route.action.totalWeight;
    const clusters: ExplainedCluster[] = route.action.clusters.map((wc) => {
      const backend = view.backends.get(wc.cluster);
      const next = backend?.picker.peek();
      const ejections = new Map((backend?.outlier?.ejections() ?? []).map((j) => [j.origin, { reason: j.reason, untilMs: j.untilMs }]));
      const breaker = backend?.breaker?.snapshot();
      return {
        name: wc.cluster,
        weight: wc.weight,
        sharePercent: Math.round((wc.weight / total) * 1000) / 10,
        endpointsKnown: backend?.cluster.endpointsKnown ?? false,
        endpoints: (backend?.cluster.endpoints ?? []).map((e) => {
          const ejected = ejections.get(endpointOrigin(e.address, e.port));
          return ejected ? { address: e.address, port: e.port, weight: e.weight, ejected } : { address: e.address, port: e.port, weight: e.weight };
        }),
        nextEndpoint: next ? { address: next.address, port: next.port, weight: next.weight } : undefined,
        ...(breaker ? { circuitBreaker: { ...breaker.thresholds, activeRequests: breaker.activeRequests, pendingRequests: breaker.pendingRequests, activeRetries: breaker.activeRetries } } : {}),
      };
    });
    const limit = route.concurrencyLimit;
    const explainedRoute = {
      name: route.name,
      source: parseRouteName(route.name),
      timeoutMs: route.action.timeoutMs,
      clusters,
      ...(limit !== undefined && {
        concurrencyLimit:
          limit.kind === 'fixed'
            ? `fixed ${limit.maxConcurrency} calls in flight (${limit.scope})`
            : `adaptive, at most ${limit.maxConcurrency} calls in flight, by latency against the no-load latency + ${limit.bufferPercent} % (${limit.scope})`,
      }),
    };
    const empty = clusters.filter((c) => c.endpoints.length === 0);
    if (empty.length === clusters.length) {
      const message = `cluster${empty.length > 1 ? 's' : ''} ${empty.map((c) => `'${c.name}'`).join(', ')} of route '${route.name}' ${empty.length > 1 ? 'have' : 'has'} no endpoints${empty.some((c) => !c.endpointsKnown) ? ' (assignment not received yet)' : ''}`;
      return { ...base, ...where, ...faults, mesh: true, decision: 'fail', reason: message, routes: checks, route: explainedRoute, error: { code: ERROR_CODES.NO_ENDPOINTS, message } };
    }
    const partial = empty.length > 0 ? `; ${empty.map((c) => `'${c.name}'`).join(', ')} has no endpoints, so its share of calls fails` : '';
    return { ...base, ...where, ...faults, mesh: true, decision: 'forward', reason: `route '${route.name}' matches${partial}`, routes: checks, route: explainedRoute };
  }
  const message =
    target.virtualHost === undefined
      ? `no virtual host of route config '${target.routes.routeConfig}' serves ${parsed.host}`
      : `no route of ${parsed.host} matches ${method} ${base.path} (Gateway API answers 404)`;
  return { ...base, ...where, mesh: true, decision: 'fail', reason: message, routes: checks, error: { code: ERROR_CODES.NO_ROUTE, message } };
}

/** Renders an Explanation as a few readable lines (what `weft explain` prints). */
export function formatExplanation(e: Explanation): string {
  const lines = [`${e.method} ${e.url}`];
  if (!e.mesh) {
    lines.push(`  pass-through: ${e.reason}`);
    return lines.join('\n');
  }
  if (e.listener !== undefined) lines.push(`  listener ${e.listener} → route config ${e.routeConfig} → virtual host ${e.virtualHost ?? '(none)'}`);
  for (const r of e.routes) {
    const from = r.source ? ` (${r.source.kind} ${r.source.name}, rule ${r.source.rule}, match ${r.source.match})` : '';
    lines.push(r.matched ? `  ✔ ${r.name}${from}` : `  ✘ ${r.name}${from}: ${r.reason}`);
  }
  for (const f of e.faults ?? []) lines.push(`  fault: ${f}`);
  if (e.route) {
    if (e.route.timeoutMs !== undefined) lines.push(`  timeout ${e.route.timeoutMs} ms`);
    if (e.route.concurrencyLimit !== undefined) lines.push(`  concurrency limit: ${e.route.concurrencyLimit}`);
    for (const c of e.route.clusters) {
      const eps =
        c.endpoints
          .map((x) => `${x.address}:${x.port}${x.weight !== 1 ? ` (w${x.weight})` : ''}${x.ejected ? ` (ejected: ${x.ejected.reason}, until ${new Date(x.ejected.untilMs).toISOString()})` : ''}`)
          .join(', ') || 'no endpoints';
      const next = c.nextEndpoint ? `; next → ${c.nextEndpoint.address}:${c.nextEndpoint.port}` : '';
      lines.push(`  cluster ${c.name} ${c.sharePercent}%: ${eps}${next}`);
      const cb = c.circuitBreaker;
      if (cb) lines.push(`    circuit breaker: ${cb.activeRequests}/${cb.maxRequests} requests, ${cb.pendingRequests}/${cb.maxPendingRequests} pending, ${cb.activeRetries}/${cb.maxRetries} retries`);
    }
  }
  if (e.directResponse) lines.push(`  direct response ${e.directResponse.status}`);
  lines.push(e.decision === 'fail' ? `  fails: ${e.error?.code ?? ''} ${e.reason}` : `  ${e.decision}: ${e.reason}`);
  for (const n of e.nacks) lines.push(`  NACKed ${n.typeUrl.slice(n.typeUrl.lastIndexOf('.') + 1)} version ${n.version}: ${n.message}`);
  return lines.join('\n');
}
