// The control plane's admin API: HTTP/1.1 + JSON for `weft apply/get/delete/status/config-dump`, `weft token`, `weft cert`,
// `weft ca` and `weft stat/top` (see docs/cli.md), and the dashboard page. Every /v1 endpoint requires the operator
// token (`Authorization: Bearer`); the dashboard page is static and asks for it in the browser; `/metrics` (Prometheus)
// holds only aggregate numbers and is open, as Istio's monitoring port is, so scrapers never hold the operator token.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import type { ConfigChange, ConfigError, ConfigStore, RegisteredEndpoint } from '../model.js';
import { describeKnownKinds, resolveKind } from '../config/kinds.js';
import { findResource, services } from '../config/mesh-config.js';
import { previewApply } from '../config/plan.js';
import type { ClientStatus } from '../server/ads-stream.js';
import type { ConfigDumpResult } from '../server/ads-server.js';
import { checkBearer } from '../auth/admin-token.js';
import { identityRoute, type AdminIdentityDeps } from './identity-routes.js';
import { statsRoute } from './stats-routes.js';
import type { TrafficAggregator } from '../telemetry/traffic-aggregator.js';
import { serveDashboard } from '../dashboard/dashboard.js';
import { prometheusHandler } from '../../../src/telemetry/prometheus.js';
import type { ConvergenceStatus } from '../telemetry/push-metrics.js';
import type { ReplicaInfo } from '../etcd/replica-presence.js';

/** Largest request body accepted (bytes); larger ones get 413. */
export const MAX_ADMIN_BODY_BYTES = 4 * 1024 * 1024;

/** What the admin API reads and changes. */
export interface AdminApiDeps {
  readonly store: ConfigStore;
  readonly registry: { endpoints(): readonly RegisteredEndpoint[] };
  readonly ads: { clients(): readonly ClientStatus[]; configDump(nodeIdOrPrefix: string): ConfigDumpResult };
  readonly logger?: Logger;
  /** Clock for `expiresInMs` (default Date.now). */
  readonly nowMs?: () => number;
  /** The operator token every request must carry as `Authorization: Bearer <token>` (compared in constant time). */
  readonly adminToken: string;
  /** CA and bootstrap tokens for /v1/tokens, /v1/certificates and /v1/ca (absent: those answer 501). */
  readonly identity?: AdminIdentityDeps;
  /** Reported traffic for /v1/stats and /v1/stats/series (absent: those answer 501). */
  readonly traffic?: TrafficAggregator;
  /** The push pipeline's metrics: `/metrics` (Prometheus text) and the convergence in /v1/status (absent: neither). */
  readonly push?: { status(): ConvergenceStatus; render(): string };
  /** The live control-plane replicas sharing this one's etcd store (absent with a directory store). */
  readonly replicas?: () => Promise<readonly ReplicaInfo[]>;
  /** The config generation the served xDS snapshot was translated from (absent: /v1/status omits `pushedGeneration`). */
  readonly snapshotGeneration?: () => number;
}

/** Options of startAdminServer. */
export interface AdminServerOptions extends AdminApiDeps {
  /** Interface to listen on (default 127.0.0.1). Plain HTTP: off loopback, the operator token crosses the network in clear. */
  readonly host?: string;
  /** Port (default 15000; 0 = any free port). */
  readonly port?: number;
}

/** A listening admin API. */
export interface AdminServer {
  /** `http://host:port`. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
}

/** An endpoint as `GET /v1/endpoints` lists it. */
export type EndpointView = RegisteredEndpoint & {
  /** False when the endpoint is registered but not routed: its Service, or the port it names, is not configured. */
  readonly routed: boolean;
  /** Why it is not routed (absent when routed). */
  readonly notRoutedReason?: string;
  readonly expiresInMs: number;
};

/** The body of `GET /v1/status`. */
export interface StatusView {
  readonly generation: number;
  /**
   * The generation the served xDS snapshot was translated from: behind `generation` while an edit waits in the push
   * debounce (at most --debounce-max), equal once it is pushed. What a script waits for after `weft apply`.
   */
  readonly pushedGeneration?: number;
  /** Errors of the last refused reload of the config directory (the running config is the last good one). */
  readonly configErrors: readonly ConfigError[];
  readonly clients: readonly ClientStatus[];
  /** Number of registered endpoints. */
  readonly endpoints: number;
  /** Registered endpoints that are not routed (Service or port not configured), each with its reason. */
  readonly unroutedEndpoints: readonly EndpointView[];
  /** Time from a change to clients' ACKs (p50/p99 of the latest ones); absent when the push metrics are not wired. */
  readonly convergence?: ConvergenceStatus;
  /** With an etcd store: the live replicas (this one included), or why etcd could not be asked. */
  readonly replicas?: { readonly live: readonly ReplicaInfo[]; readonly error?: string };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

type Reply = { readonly status: number; readonly body: unknown };

const HOW = 'give the operator token with --token, WEFT_ADMIN_TOKEN or WEFT_ADMIN_TOKEN_FILE (the control plane keeps it in <state-dir>/admin-token)';
const UNAUTHORIZED = {
  missing: `the admin API requires the operator token: ${HOW}`,
  malformed: `the Authorization header must be 'Bearer <operator token>': ${HOW}`,
  wrong: `the operator token is wrong: ${HOW}`,
} as const;

/** Returns the admin API as a node:http request listener. Never throws; every failure is a JSON `{error}` reply. */
export function adminRequestListener(deps: AdminApiDeps): http.RequestListener {
  const logger = deps.logger ?? NOOP_LOGGER;
  const push = deps.push;
  const metrics = push === undefined ? undefined : prometheusHandler(() => push.render());
  return (req, res) => {
    // The dashboard page itself holds no data and is served without the token; every call it makes needs it.
    if (serveDashboard(req, res)) return;
    // Counts, durations and type names only: no node ids, names or config. The operator token grants edits to mesh
    // policy; it does not belong in every scraper's configuration.
    if (metrics !== undefined && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) return metrics(req, res);
    const refused = checkBearer(req.headers.authorization, deps.adminToken);
    if (refused !== undefined) {
      logger.warn(`admin: request refused: operator token ${refused}`, {
        peer: req.socket.remoteAddress,
        method: req.method,
        url: req.url,
      });
      const text = `${JSON.stringify({ error: UNAUTHORIZED[refused] }, null, 2)}\n`;
      req.resume();
      res.writeHead(401, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        'www-authenticate': 'Bearer realm="weft-admin"',
        connection: 'close',
      });
      res.end(text);
      return;
    }
    handle(deps, req)
      .catch((e: unknown): Reply => {
        if (e instanceof HttpError) return { status: e.status, body: { error: e.message, ...e.extra } };
        logger.error('admin: request failed', { method: req.method, url: req.url, error: String(e) });
        return { status: 500, body: { error: `internal error: ${e instanceof Error ? e.message : String(e)}` } };
      })
      .then(({ status, body }) => {
        const text = `${JSON.stringify(body, null, 2)}\n`;
        const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) };
        if (status === 413) headers['connection'] = 'close';
        res.writeHead(status, headers);
        res.end(text);
        if (status >= 500) logger.warn('admin: answered an error', { status, url: req.url });
      });
  };
}

/** Starts the admin API on `host:port`. Rejects (e.g. EADDRINUSE) if it cannot listen. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const host = options.host ?? '127.0.0.1';
  const server = http.createServer({ requestTimeout: 30_000, keepAliveTimeout: 5_000 }, adminRequestListener(options));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 15000, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function handle(deps: AdminApiDeps, req: http.IncomingMessage): Promise<Reply> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const parts = url.pathname.split('/').filter((p) => p !== '').map(decodeSegment);
  const method = req.method ?? 'GET';
  if (parts[0] !== 'v1') throw new HttpError(404, `no such endpoint: ${url.pathname} (the admin API lives under /v1)`);
  const route = parts.slice(1);
  const allow = (...methods: string[]) => {
    if (!methods.includes(method)) throw new HttpError(405, `${method} not allowed on ${url.pathname}; use ${methods.join(' or ')}`);
  };
  const stats = statsRoute(deps.traffic, method, route, url.searchParams);
  if (stats !== undefined) return stats;
  const identity = await identityRoute(deps.identity, method, route, async () => parseJson(await readBody(req)), deps.logger ?? NOOP_LOGGER);
  if (identity !== undefined) return identity;
  switch (route[0]) {
    case 'apply': {
      if (route.length !== 1) break;
      allow('POST');
      const text = await readBody(req);
      const source = url.searchParams.get('source') || '<apply>';
      const dryRun = ['true', '1', ''].includes(url.searchParams.get('dryRun') ?? 'false');
      const change = dryRun ? previewApply(deps.store.current(), text, source) : await deps.store.apply(text, source);
      return changeReply(change, dryRun);
    }
    case 'resources': {
      if (route.length === 1) {
        allow('GET');
        const kinds = parseKinds(url.searchParams.get('kind'));
        const config = deps.store.current();
        const resources = kinds ? config.resources.filter((r) => kinds.has(r.kind)) : config.resources;
        return { status: 200, body: { generation: config.generation, resources } };
      }
      if (route.length !== 3) break;
      allow('GET', 'DELETE');
      const kind = resolveKindOr400(route[1]!);
      const name = route[2]!;
      const existing = findResource(deps.store.current(), kind, name);
      if (!existing) throw new HttpError(404, `${kind}/${name} not found`);
      if (method === 'GET') return { status: 200, body: existing };
      return changeReply(await deps.store.delete(kind, name), false);
    }
    case 'endpoints': {
      if (route.length !== 1) break;
      allow('GET');
      return { status: 200, body: { endpoints: endpointViews(deps) } };
    }
    case 'status': {
      if (route.length !== 1) break;
      allow('GET');
      const endpoints = endpointViews(deps);
      const status: StatusView = {
        generation: deps.store.current().generation,
        ...(deps.snapshotGeneration === undefined ? {} : { pushedGeneration: deps.snapshotGeneration() }),
        configErrors: deps.store.lastErrors(),
        clients: deps.ads.clients(),
        endpoints: endpoints.length,
        unroutedEndpoints: endpoints.filter((e) => !e.routed),
        ...(deps.push === undefined ? {} : { convergence: deps.push.status() }),
        ...(deps.replicas === undefined ? {} : { replicas: await deps.replicas().then((live) => ({ live }), (e: unknown) => ({ live: [], error: `etcd is unavailable: ${String(e)}` })) }),
      };
      return { status: 200, body: status };
    }
    case 'config-dump': {
      if (route.length !== 2) break;
      allow('GET');
      const result = deps.ads.configDump(route[1]!);
      if (result.ok) return { status: 200, body: result.dump };
      if (result.reason === 'ambiguous') {
        throw new HttpError(409, `node id prefix '${route[1]}' matches ${result.candidates.length} connected nodes; give more of the id`, { candidates: result.candidates });
      }
      throw new HttpError(404, `no connected node with id or id prefix '${route[1]}'`);
    }
  }
  throw new HttpError(404, `no such endpoint: ${method} ${url.pathname}`);
}

function changeReply(change: ConfigChange, dryRun: boolean): Reply {
  // An unreachable store is not the edit's fault: 503 with the code and the reason, so `weft apply` says to retry.
  if (!change.ok && change.code !== undefined) {
    return { status: 503, body: { error: change.errors.map((e) => e.message).join('; '), code: change.code, errors: change.errors } };
  }
  if (!change.ok) return { status: 400, body: { errors: change.errors } };
  return { status: 200, body: { changed: change.changed, generation: change.config.generation, ...(dryRun ? { dryRun: true } : {}) } };
}

function endpointViews(deps: AdminApiDeps): EndpointView[] {
  const nowMs = (deps.nowMs ?? Date.now)();
  const ports = new Map(services(deps.store.current()).map((s) => [s.metadata.name, new Set(s.spec.ports.map((p) => p.name))]));
  return deps.registry.endpoints().map((e) => {
    const declared = ports.get(e.service);
    const notRoutedReason = !declared
      ? `Service '${e.service}' is not configured`
      : e.portName !== '' && !declared.has(e.portName)
        ? `Service '${e.service}' has no port named '${e.portName}'`
        : undefined;
    const expiresInMs = Math.max(0, e.expiresAtMs - nowMs);
    return notRoutedReason === undefined ? { ...e, routed: true, expiresInMs } : { ...e, routed: false, notRoutedReason, expiresInMs };
  });
}

function parseKinds(param: string | null): ReadonlySet<string> | undefined {
  if (param === null || param.trim() === '') return undefined;
  return new Set(param.split(',').map((k) => resolveKindOr400(k)));
}

function resolveKindOr400(alias: string): string {
  const kind = resolveKind(alias);
  if (!kind) throw new HttpError(400, `'${alias}' is not a kind Weft knows; Weft knows ${describeKnownKinds()}`);
  return kind;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `bad percent-encoding in path segment '${segment}'`);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e: unknown) {
    throw new HttpError(400, `the body is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Reads the body as UTF-8; HttpError 413 past MAX_ADMIN_BODY_BYTES (the rest is drained, the connection closed). */
function readBody(req: http.IncomingMessage): Promise<string> {
  const tooLarge = () => new HttpError(413, `request body larger than ${MAX_ADMIN_BODY_BYTES} bytes; split the configuration into several applies`);
  if (Number(req.headers['content-length'] ?? 0) > MAX_ADMIN_BODY_BYTES) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      bytes += chunk.length;
      if (bytes > MAX_ADMIN_BODY_BYTES) {
        over = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => over || resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
