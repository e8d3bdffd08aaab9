// The options of createMesh(), their defaults and environment overrides, validated once at construction.
import os from 'node:os';
import { invalidArg } from '../core/errors.js';
import { NOOP_LOGGER, type Logger } from '../core/logger.js';
import { controlPlaneTarget, parseControlPlanes, shuffledControlPlanes } from '../discovery/control-plane-target.js';
import type { Discovery } from '../discovery/discovery.js';
import { XDS_PROTOCOLS, type XdsProtocol } from '../discovery/xds/ads-client.js';
import { DEFAULT_CACHE_WRITE_INTERVAL_MS, defaultCacheDir } from '../discovery/xds/disk-cache.js';
import { tokenSourceOf, type TokenSource } from '../identity/token-source.js';
import { DEFAULT_REPORT_INTERVAL_MS, MIN_REPORT_INTERVAL_MS } from '../telemetry/reporter.js';
import type { MeterProvider } from '@opentelemetry/api';

/** The `metrics` option of createMesh(). */
export interface MetricsOptions {
  /** False: no golden metrics are recorded (no hook on the request path; metricsHandler() serves nothing). Default true. */
  readonly enabled?: boolean;
  /**
   * Also expose Istio's standard metrics (istio_requests_total, istio_request_duration_milliseconds) with Istio's
   * labels on the Prometheus endpoint, so Istio's Grafana dashboards work unchanged. Default false.
   */
  readonly istio?: boolean;
  /** Prefix of every Prometheus metric name (`<namespace>_http_client_request_duration_seconds`); default none. */
  readonly namespace?: string;
  /** Cap on metric label sets (histogram series); later ones are counted in one `_overflow` series. Default 2000. */
  readonly maxSeries?: number;
  /**
   * OpenTelemetry MeterProvider to record into as well (default: the global one, if a real one is registered when
   * createMesh() runs). With none, only the built-in store runs.
   */
  readonly meterProvider?: MeterProvider;
}
import type { AccessLogOptions } from '../telemetry/access-log.js';

/** Default control plane when neither the option nor WEFT_CONTROL_PLANE is set. */
export const DEFAULT_CONTROL_PLANE = 'http://127.0.0.1:15010';
/** Default bound of mesh.ready() (ms). */
export const DEFAULT_READY_TIMEOUT_MS = 10_000;

/** Default of `xdsCache.readyWaitMs`: how long ready() waits for the control plane before resolving on the disk cache. */
export const DEFAULT_CACHE_READY_WAIT_MS = 2000;

/** The `xdsCache` option of createMesh(): where the last good xDS resources are kept for static stability. */
export interface XdsCacheOptions {
  /**
   * Directory of the cache file (`<dir>/<service>.xds-cache.json`, created 0700). Default env WEFT_CACHE_DIR, else
   * `$XDG_STATE_HOME/weft/xds`, else `~/.local/state/weft/xds`, else `<tmpdir>/weft-<uid>/xds`.
   */
  readonly dir?: string;
  /** Least time between two writes of the file (ms); default 1000. */
  readonly minWriteIntervalMs?: number;
  /** With a usable cache and no control plane, how long ready() waits for it before resolving on the cache (ms); default 2000. */
  readonly readyWaitMs?: number;
}

/** What mesh.ready() does when its bound passes with something still missing. */
export type ReadyOnTimeout = 'fail-closed' | 'fail-open';

/** Options of createMesh(). Only `service` is required. */
export interface MeshOptions {
  /** This process's mesh Service name (used for registration and as the xDS node cluster). */
  readonly service: string;
  /**
   * Control plane URL `http://host:port` (ADS, Registry, Identity and Telemetry share the port), or several replicas'
   * URLs (an array, or one comma-separated string). With several, the process takes them in a random order (so
   * processes spread over replicas), stays on the first that answers and moves to another within a reconnect when it
   * dies (docs/control-plane-failover.md). Default env WEFT_CONTROL_PLANE (comma-separated), else http://127.0.0.1:15010.
   */
  readonly controlPlane?: string | readonly string[];
  /**
   * How a list of control planes is tried: 'random' (default) shuffles it once per process, spreading processes over
   * the replicas; 'given' keeps it as listed, the first preferred and the others fallbacks (e.g. this zone's replica
   * first), as gRPC's bootstrap `xds_servers` list. Either way the process stays on a replica until it goes away.
   */
  readonly controlPlaneOrder?: 'random' | 'given';
  /** xDS node id; default `<service>~<hostname>~<pid>`. Must be unique per process. */
  readonly nodeId?: string;
  /** Services this process calls; ready() waits until each is resolved. */
  readonly dependsOn?: readonly string[];
  /** Bound and policy of ready(): default `{ timeoutMs: 10000, onTimeout: 'fail-closed' }`. */
  readonly ready?: { readonly timeoutMs?: number; readonly onTimeout?: ReadyOnTimeout };
  /**
   * False switches the mesh off: plain undici for calls, serve() without registration, ready() at once.
   * Env WEFT_DISABLED=1 (or `true`) switches it off too, whatever this says (an operator's kill switch).
   */
  readonly enabled?: boolean;
  readonly logger?: Logger;
  /** How long the first call to an unknown host waits for discovery (ms); default 5000. */
  readonly resolveTimeoutMs?: number;
  /**
   * Dotted host names that may be mesh hosts, as suffixes (`.svc.cluster.local`), or `*` for all. Hosts without a dot
   * are always looked up (Weft Service names are single labels); other dotted hosts pass through with no control-plane
   * round trip. Default env WEFT_MESH_DOMAINS (comma-separated), else none.
   */
  readonly meshDomains?: readonly string[];
  /** Endpoint connection pools: most connections per endpoint (default unlimited) and idle keep-alive (default 4000 ms). */
  readonly pool?: { readonly connections?: number; readonly keepAliveTimeoutMs?: number };
  /** How serve()d endpoints drain on close: `drainDelayMs` (default 500) then up to `drainTimeoutMs` (default 10000). */
  readonly drain?: { readonly drainDelayMs?: number; readonly drainTimeoutMs?: number };
  /**
   * Where this process runs: sent to the control plane with the xDS node and with registered endpoints, and the zone
   * zone-aware Services (`trafficDistribution: PreferClose`) prefer. Default env WEFT_REGION, WEFT_ZONE, WEFT_SUBZONE.
   */
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly subZone?: string };
  /**
   * Advanced: use this Discovery instead of connecting the built-in xDS client to `controlPlane` (tests, other
   * sources). The mesh closes it on close(). Registration still goes to `controlPlane`.
   */
  readonly discovery?: Discovery;
  /**
   * Workload identity (mTLS certificates): a bootstrap token from `weft token create --service <service>`, or a file
   * holding one (read again at every enrolment). Default env WEFT_TOKEN, else WEFT_TOKEN_FILE. With neither, the process
   * has no identity and everything else works as without it.
   */
  readonly identity?: { readonly token?: string; readonly tokenFile?: string };
  /** Golden metrics: on by default; Istio-named metrics, name prefix, series cap, OpenTelemetry MeterProvider. */
  readonly metrics?: MetricsOptions;
  /**
   * Serve the Prometheus endpoint (`/metrics`, any path) on this port (0 = any free port; read mesh.metricsAddress()),
   * on `metricsHost` (default 127.0.0.1, loopback only). Closed by mesh.close(). Default: no port (use metricsHandler()).
   */
  readonly metricsPort?: number;
  /** Interface of the metrics port; default '127.0.0.1'. Use '0.0.0.0' for a Prometheus server on another host. */
  readonly metricsHost?: string;
  /**
   * Where access-log lines go when a Telemetry resource switches them on (they are off by default): `path` (a file,
   * appended to) or `stream` (default process.stdout), and `maxBufferedBytes` past which lines are dropped and counted.
   */
  readonly accessLog?: AccessLogOptions;
  /**
   * Traffic reports to the control plane (`weft stat`, `weft top`, the dashboard): every `intervalMs` (default
   * 10 000, at least 100) a compact cumulative summary of this process's golden metrics is sent, off the request path,
   * to `controlPlane` with this process's credential. `enabled: false` sends none, and neither does a mesh given its
   * own `discovery`. (Not the `Telemetry` configuration kind, which sets trace sampling and access logs centrally.)
   */
  readonly reporting?: { readonly intervalMs?: number; readonly enabled?: boolean };
  /**
   * The xDS client: `protocol` 'auto' (default: incremental/delta xDS, State of the World against a control plane
   * without it), 'delta' or 'sotw' (docs/configuration.md "xDS protocol (SDK)").
   */
  readonly xds?: { readonly protocol?: XdsProtocol };
  /**
   * Static stability: the last good (ACKed) xDS resources are kept on disk, so a process restarted while every control
   * plane is down starts from them and serves (docs/configuration.md "Disk cache"). On by default; `false` switches it
   * off. Not used with a custom `discovery`.
   */
  readonly xdsCache?: XdsCacheOptions | false;
}

/** MeshOptions with every default applied. */
export interface ResolvedMeshOptions {
  readonly service: string;
  readonly enabled: boolean;
  /** Why the mesh is off, when it is. */
  readonly disabledBy: 'option' | 'WEFT_DISABLED' | undefined;
  /** The control plane(s) as configured, comma-separated. */
  readonly controlPlane: string;
  /** Every replica's `host:port`, in the order this process tries them (shuffled once, at start-up). */
  readonly controlPlanes: readonly string[];
  /** The gRPC target of every control-plane channel: `host:port` for one replica, else controlPlaneTarget()'s list. */
  readonly controlPlaneAddress: string;
  readonly nodeId: string;
  readonly dependsOn: readonly string[];
  readonly readyTimeoutMs: number;
  readonly readyOnTimeout: ReadyOnTimeout;
  readonly logger: Logger;
  readonly resolveTimeoutMs: number | undefined;
  readonly meshDomains: readonly string[];
  readonly pool: { readonly connections?: number; readonly keepAliveTimeoutMs?: number };
  readonly drain: { readonly drainDelayMs?: number; readonly drainTimeoutMs?: number };
  readonly locality: { readonly region?: string; readonly zone?: string; readonly subZone?: string };
  readonly discovery: Discovery | undefined;
  /** Where the bootstrap token comes from; undefined = no workload identity. */
  readonly identity: TokenSource | undefined;
  readonly metrics: MetricsOptions & { readonly enabled: boolean };
  readonly metricsPort: number | undefined;
  readonly metricsHost: string;
  /** The access-log sink (createMesh's `accessLog`, default {} = stdout). */
  readonly accessLog: AccessLogOptions;
  /** Traffic reports: undefined = none sent. */
  readonly reporting: { readonly intervalMs: number } | undefined;
  /** The ADS method the xDS client speaks. */
  readonly xdsProtocol: XdsProtocol;
  /** The disk cache: undefined = off. */
  readonly xdsCache: { readonly dir: string; readonly minWriteIntervalMs: number; readonly readyWaitMs: number } | undefined;
}

const SERVICE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function nonNegative(name: string, v: number | undefined): void {
  if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) invalidArg(`createMesh: ${name} must be a number ≥ 0, got ${String(v)}`);
}

/** The locality in env WEFT_REGION / WEFT_ZONE / WEFT_SUBZONE (e.g. set from the node's topology labels). */
function localityFromEnv(env: Readonly<Record<string, string | undefined>>): { region?: string; zone?: string; subZone?: string } {
  return {
    ...(env['WEFT_REGION'] ? { region: env['WEFT_REGION'] } : {}),
    ...(env['WEFT_ZONE'] ? { zone: env['WEFT_ZONE'] } : {}),
    ...(env['WEFT_SUBZONE'] ? { subZone: env['WEFT_SUBZONE'] } : {}),
  };
}

/** Validates `options` and applies defaults and env (`env` defaults to process.env). Throws WEFT_ERR_INVALID_ARG. */
export function resolveMeshOptions(options: MeshOptions, env: NodeJS.ProcessEnv = process.env): ResolvedMeshOptions {
  if (typeof options !== 'object' || options === null) invalidArg('createMesh: options must be an object with at least { service }');
  const { service } = options;
  if (typeof service !== 'string' || !SERVICE_NAME.test(service)) {
    invalidArg(`createMesh: service must be a DNS-style name (lower-case letters, digits, '-', '.'), got ${JSON.stringify(service)}`);
  }
  const fromOption = options.controlPlane !== undefined;
  const configured = options.controlPlane ?? env['WEFT_CONTROL_PLANE'] ?? DEFAULT_CONTROL_PLANE;
  const order = options.controlPlaneOrder ?? 'random';
  if (order !== 'random' && order !== 'given') invalidArg(`createMesh: controlPlaneOrder must be 'random' or 'given', got ${JSON.stringify(order)}`);
  const listed = parseControlPlanes(configured, fromOption ? 'createMesh: controlPlane' : 'createMesh: env WEFT_CONTROL_PLANE');
  const controlPlanes = order === 'given' ? listed : shuffledControlPlanes(listed);
  const controlPlane = typeof configured === 'string' ? configured : configured.join(',');
  const controlPlaneAddress = controlPlaneTarget(controlPlanes);
  if (options.dependsOn !== undefined && (!Array.isArray(options.dependsOn) || options.dependsOn.some((d) => typeof d !== 'string' || d === ''))) {
    invalidArg('createMesh: dependsOn must be an array of service names (or host:port)');
  }
  nonNegative('ready.timeoutMs', options.ready?.timeoutMs);
  nonNegative('resolveTimeoutMs', options.resolveTimeoutMs);
  const meshDomains = options.meshDomains ?? (env['WEFT_MESH_DOMAINS'] ?? '').split(',').map((d) => d.trim()).filter((d) => d !== '');
  if (!Array.isArray(meshDomains) || meshDomains.some((d) => typeof d !== 'string' || d === '' || (d !== '*' && !d.startsWith('.')))) {
    invalidArg(`createMesh: meshDomains must be name suffixes starting with '.' (e.g. '.svc.cluster.local') or '*', got ${JSON.stringify(meshDomains)}`);
  }
  nonNegative('pool.keepAliveTimeoutMs', options.pool?.keepAliveTimeoutMs);
  nonNegative('drain.drainDelayMs', options.drain?.drainDelayMs);
  nonNegative('drain.drainTimeoutMs', options.drain?.drainTimeoutMs);
  const connections = options.pool?.connections;
  if (connections !== undefined && !(Number.isInteger(connections) && connections >= 1)) invalidArg(`createMesh: pool.connections must be an integer ≥ 1, got ${connections}`);
  const onTimeout = options.ready?.onTimeout ?? 'fail-closed';
  if (onTimeout !== 'fail-closed' && onTimeout !== 'fail-open') invalidArg(`createMesh: ready.onTimeout must be 'fail-closed' or 'fail-open', got '${String(onTimeout)}'`);
  if (options.nodeId !== undefined && (typeof options.nodeId !== 'string' || options.nodeId === '')) invalidArg('createMesh: nodeId must be a non-empty string');
  const id = options.identity;
  if (id !== undefined && (typeof id !== 'object' || id === null)) invalidArg('createMesh: identity must be an object like { token } or { tokenFile }');
  if (id?.token !== undefined && (typeof id.token !== 'string' || id.token.trim() === '')) invalidArg('createMesh: identity.token must be a non-empty string (a bootstrap token from `weft token create`)');
  if (id?.tokenFile !== undefined && (typeof id.tokenFile !== 'string' || id.tokenFile === '')) invalidArg('createMesh: identity.tokenFile must be a file path');
  if (id?.token !== undefined && id.tokenFile !== undefined) invalidArg('createMesh: give identity.token or identity.tokenFile, not both');
  const m = options.metrics;
  if (m !== undefined && (typeof m !== 'object' || m === null)) invalidArg('createMesh: metrics must be an object like { istio: true }');
  if (m?.namespace !== undefined && (typeof m.namespace !== 'string' || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(m.namespace))) invalidArg(`createMesh: metrics.namespace must be a Prometheus name prefix ([a-zA-Z_][a-zA-Z0-9_]*), got ${JSON.stringify(m.namespace)}`);
  if (m?.maxSeries !== undefined && !(Number.isInteger(m.maxSeries) && m.maxSeries >= 1)) invalidArg(`createMesh: metrics.maxSeries must be an integer ≥ 1, got ${String(m.maxSeries)}`);
  const metricsPort = options.metricsPort;
  if (metricsPort !== undefined && !(Number.isInteger(metricsPort) && metricsPort >= 0 && metricsPort <= 65_535)) invalidArg(`createMesh: metricsPort must be an integer in [0, 65535], got ${String(metricsPort)}`);
  const log = options.accessLog;
  if (log !== undefined && (typeof log !== 'object' || log === null)) invalidArg('createMesh: accessLog must be an object like { path } or { stream }');
  if (log?.path !== undefined && (typeof log.path !== 'string' || log.path === '')) invalidArg('createMesh: accessLog.path must be a file path');
  if (log?.stream !== undefined && typeof (log.stream as { write?: unknown }).write !== 'function') invalidArg('createMesh: accessLog.stream must be a Writable');
  nonNegative('accessLog.maxBufferedBytes', log?.maxBufferedBytes);
  const r = options.reporting;
  if (r !== undefined && (typeof r !== 'object' || r === null)) invalidArg('createMesh: reporting must be an object like { intervalMs: 10000 }');
  const reportIntervalMs = r?.intervalMs ?? DEFAULT_REPORT_INTERVAL_MS;
  if (!(typeof reportIntervalMs === 'number' && Number.isFinite(reportIntervalMs) && reportIntervalMs >= MIN_REPORT_INTERVAL_MS)) {
    invalidArg(`createMesh: reporting.intervalMs must be a number ≥ ${MIN_REPORT_INTERVAL_MS}, got ${String(reportIntervalMs)}`);
  }
  const xds = options.xds;
  if (xds !== undefined && (typeof xds !== 'object' || xds === null)) invalidArg("createMesh: xds must be an object like { protocol: 'auto' }");
  if (xds?.protocol !== undefined && !XDS_PROTOCOLS.includes(xds.protocol)) invalidArg(`createMesh: xds.protocol must be 'auto', 'delta' or 'sotw', got ${JSON.stringify(xds.protocol)}`);
  const c = options.xdsCache;
  if (c !== undefined && c !== false && (typeof c !== 'object' || c === null)) invalidArg('createMesh: xdsCache must be false or an object like { dir }');
  if (c && c.dir !== undefined && (typeof c.dir !== 'string' || c.dir === '')) invalidArg('createMesh: xdsCache.dir must be a directory path');
  nonNegative('xdsCache.minWriteIntervalMs', c ? c.minWriteIntervalMs : undefined);
  nonNegative('xdsCache.readyWaitMs', c ? c.readyWaitMs : undefined);
  const envOff = /^(1|true|yes)$/i.test(env['WEFT_DISABLED'] ?? '');
  const disabledBy = envOff ? 'WEFT_DISABLED' : options.enabled === false ? 'option' : undefined;
  return Object.freeze({
    service,
    enabled: disabledBy === undefined,
    disabledBy,
    controlPlane,
    controlPlanes: Object.freeze(controlPlanes),
    controlPlaneAddress,
    nodeId: options.nodeId ?? `${service}~${os.hostname()}~${process.pid}`,
    dependsOn: Object.freeze([...(options.dependsOn ?? [])]),
    readyTimeoutMs: options.ready?.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    readyOnTimeout: onTimeout,
    logger: options.logger ?? NOOP_LOGGER,
    resolveTimeoutMs: options.resolveTimeoutMs,
    meshDomains: Object.freeze([...meshDomains]),
    pool: { ...options.pool },
    drain: { ...options.drain },
    locality: options.locality !== undefined ? { ...options.locality } : localityFromEnv(env),
    discovery: options.discovery,
    identity: tokenSourceOf(options.identity, env),
    metrics: { ...m, enabled: m?.enabled !== false },
    metricsPort,
    metricsHost: options.metricsHost ?? '127.0.0.1',
    accessLog: { ...options.accessLog },
    reporting: r?.enabled === false ? undefined : { intervalMs: reportIntervalMs },
    xdsProtocol: xds?.protocol ?? 'auto',
    xdsCache:
      c === false || options.discovery !== undefined
        ? undefined
        : {
            dir: c?.dir ?? defaultCacheDir(env),
            minWriteIntervalMs: c?.minWriteIntervalMs ?? DEFAULT_CACHE_WRITE_INTERVAL_MS,
            readyWaitMs: c?.readyWaitMs ?? DEFAULT_CACHE_READY_WAIT_MS,
          },
  });
}
