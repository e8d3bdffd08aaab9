// Starts a whole control plane: config store + registry -> translate -> snapshot cache -> ADS, plus the CA (enrolment,
// trust bundle over SDS), xDS caller authentication and the admin API behind the operator token.
import { hostname } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { ERROR_CODES, MeshError, invalidArg } from '../../src/core/errors.js';
import { NOOP_LOGGER, type Logger } from '../../src/core/logger.js';
import type { ConfigStore, MeshConfig, XdsResources } from './model.js';
import { openDirStore } from './config/dir-store.js';
import { openEtcdStore } from './config/etcd-store.js';
import { isEtcdStore, openEtcd, resolveEtcdConnection, type EtcdConnectionOptions } from './etcd/etcd-client.js';
import { ReplicaPresence } from './etcd/replica-presence.js';
import { translate, translateEndpoints } from './translate/translate.js';
import { Registry, type LeaseService } from './registry/registry.js';
import { EtcdLeases } from './registry/etcd-leases.js';
import { addRegistryService } from './registry/registry-service.js';
import { loadRegistryState, REGISTRY_STATE_FILE, saveRegistryState } from './registry/registry-state.js';
import { AdsServer } from './server/ads-server.js';
import { SnapshotCache } from './server/snapshot-cache.js';
import { startAdminServer } from './admin/admin-api.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { serviceNamed } from './config/mesh-config.js';
import { DEFAULT_NAMESPACE } from '../../src/identity/spiffe.js';
import { openSecurity, type SecurityOptions } from './auth/security.js';
import type { BootstrapTokens } from './auth/bootstrap-tokens.js';
import type { CertificateAuthority } from './ca/authority.js';
import { addIdentityService } from './ca/identity-service.js';
import { trustBundleSecrets } from './ca/trust-bundle.js';
import { TrafficAggregator, type TrafficAggregatorOptions } from './telemetry/traffic-aggregator.js';
import { addTelemetryService } from './telemetry/telemetry-service.js';
import { PushDebouncer, type PushBatch } from './server/push-debounce.js';
import { PushMetrics } from './telemetry/push-metrics.js';

/** Default port of the xDS (ADS + registry) gRPC server. */
export const DEFAULT_XDS_PORT = 15010;
/** Default port of the admin API. */
export const DEFAULT_ADMIN_PORT = 15000;
/** How long close() lets in-flight gRPC calls finish before cutting them (ms). */
export const SHUTDOWN_GRACE_MS = 500;
/**
 * Default maximum age of a connection to the xDS gRPC server (ms; grpc-js adds ±10 % jitter), as Istio's
 * MAX_CONNECTION_AGE: long-lived ADS streams move to another replica (or rebalance behind a load balancer) at least
 * this often. The SDK treats the GOAWAY as a routine reconnect.
 */
export const DEFAULT_MAX_CONNECTION_AGE_MS = 30 * 60_000;
/** Default time calls may still finish on a connection past its maximum age before it is closed (ms). */
export const DEFAULT_MAX_CONNECTION_AGE_GRACE_MS = 10_000;

/** Options of startControlPlane. */
export interface ControlPlaneOptions {
  /** Directory of YAML configuration (created if missing). Watched: hand edits apply live. Needed unless `store` is given. */
  readonly configDir?: string;
  /**
   * Where configuration lives: undefined = `configDir`; a directory path = that YAML directory; or
   * `etcd://host:2379[,host:2379...][/prefix]` = etcd (control-plane/src/etcd/), shared by every replica pointed at it;
   * `etcds://` speaks TLS. An object gives the URL with TLS files and credentials (EtcdConnectionOptions). A malformed
   * URL, bad file or plaintext to a remote host throws WEFT_ERR_INVALID_ARG; an etcd that does not answer within
   * `etcdConnectTimeoutMs` fails start-up with WEFT_ERR_STORE_UNAVAILABLE, one that refuses the credentials with
   * "etcd at h:p refused: ..." (see openEtcd).
   */
  readonly store?: string | EtcdConnectionOptions;
  /** How long start-up waits for etcd to answer (ms, default 5000). */
  readonly etcdConnectTimeoutMs?: number;
  /** Interface both servers listen on (default 127.0.0.1). */
  readonly host?: string;
  /** xDS + registry gRPC port (default 15010; 0 = any free port). */
  readonly xdsPort?: number;
  /** Admin API port (default 15000; 0 = any free port). */
  readonly adminPort?: number;
  /** Lease TTL for registrations that do not ask for one (ms, default 10 000, clamped to [1 s, 5 min]). */
  readonly leaseTtlMs?: number;
  /**
   * Where the registry's leases are saved so a restart keeps routing to live endpoints (default `<configDir>/.weft`;
   * `false` to keep them in memory only). An unwritable directory is logged and the control plane runs without it.
   * With an etcd store the leases live in etcd and this holds only the security state (default: none, in memory).
   */
  readonly stateDir?: string | false;
  readonly logger?: Logger;
  /** CA, enrolment, xDS auth and admin token options (docs/configuration.md "Control plane security"). */
  readonly security?: Omit<SecurityOptions, 'stateDir' | 'logger' | 'etcd'>;
  /** Retention, staleness and bounds of the traffic reports behind `weft stat` and the dashboard. */
  readonly telemetry?: Omit<TrafficAggregatorOptions, 'nowMs'>;
  /**
   * Quiet period (ms) after the latest config edit or CA change before the snapshot is rebuilt and pushed, for edits
   * that follow a rebuild within it (an edit after a quiet spell is rebuilt at once). Default 100, Istio's
   * PILOT_DEBOUNCE_AFTER; 0 = the next timer turn. Endpoint changes never wait for it. `--debounce`. See DEFAULT_DEBOUNCE_MS.
   */
  readonly debounceMs?: number;
  /** Longest a config edit waits for its rebuild under constant churn (ms, default 1 000; see DEFAULT_DEBOUNCE_MAX_MS). `--debounce-max`. */
  readonly debounceMaxMs?: number;
  /** Maximum age of an xDS server connection (ms, default 30 min, ±10 % jitter; 0 = unlimited). `--max-connection-age`. */
  readonly maxConnectionAgeMs?: number;
  /** Grace after the maximum age before the connection is closed (ms, default 10 000). `--max-connection-age-grace`. */
  readonly maxConnectionAgeGraceMs?: number;
}

/** A running control plane. */
export interface ControlPlane {
  /** `host:port` of the gRPC server (ADS and registry), as a grpc-js target or bootstrap `server_uri`. */
  readonly xdsAddress: string;
  /** `http://host:port` of the gRPC server, as the SDK's `controlPlane` option takes it. */
  readonly xdsUrl: string;
  /** `http://host:port` of the admin API. */
  readonly adminUrl: string;
  readonly store: ConfigStore;
  /** This replica's endpoint table (with etcd, a mirror of the leases etcd holds): what translation routes to. */
  readonly registry: Registry;
  /** Where registrations go: `registry` itself, or etcd leases valid on every replica (the gRPC Registry service). */
  readonly leases: LeaseService;
  /** The ADS server: connected clients and what they were sent. */
  readonly ads: AdsServer;
  /** The traffic every process reports (weft.telemetry.v1), as rates and percentiles. */
  readonly traffic: TrafficAggregator;
  /** Convergence time, pushes, NACKs and rebuild time (served as Prometheus text on the admin port's /metrics). */
  readonly pushMetrics: PushMetrics;
  /**
   * The config generation the served xDS snapshot was translated from: behind `store.current().generation` while an
   * edit waits in the push debounce, equal once it is pushed (what a caller waits for after an apply).
   */
  readonly snapshotGeneration: number;
  /** The certificate authority (trust bundle, issuance, root rotation). */
  readonly ca: CertificateAuthority;
  /** Bootstrap tokens (what `weft token create` calls). */
  readonly tokens: BootstrapTokens;
  /** The operator token the admin API requires (`Authorization: Bearer`). */
  readonly adminToken: string;
  /** The file holding it (`--admin-token-file`), or undefined when it lives in memory only. */
  readonly adminTokenFile: string | undefined;
  /** Ends every ADS stream, stops both servers, the registry and the store. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens the config store, starts the registry, the ADS + registry gRPC server and the admin API, and keeps the
 * xDS snapshot equal to translate(config, endpoints): config edits and CA changes are debounced (`debounceMs` quiet,
 * at most `debounceMaxMs` from the first) and translated once per burst; endpoint changes are rebuilt on the next
 * timer turn (their ClusterLoadAssignments only). Rejects with WEFT_ERR_INVALID_ARG for a
 * negative or non-finite delay option (before opening anything); or, after closing whatever it had opened, with
 * WEFT_ERR_INVALID_CONFIG when the config directory is invalid (every error in the message) or WEFT_ERR_LISTEN when a
 * port cannot be bound.
 */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const logger = options.logger ?? NOOP_LOGGER;
  const host = options.host ?? '127.0.0.1';
  const maxAgeMs = options.maxConnectionAgeMs ?? DEFAULT_MAX_CONNECTION_AGE_MS;
  const maxAgeGraceMs = options.maxConnectionAgeGraceMs ?? DEFAULT_MAX_CONNECTION_AGE_GRACE_MS;
  for (const [name, v] of [['maxConnectionAgeMs', maxAgeMs], ['maxConnectionAgeGraceMs', maxAgeGraceMs]] as const) {
    if (!Number.isInteger(v) || v < 0) invalidArg(`startControlPlane: ${name} must be an integer number of ms ≥ 0, got ${v}`);
  }
  let rebuild: (batch: PushBatch) => void = () => {};
  // Built first: it validates debounceMs / debounceMaxMs before anything is opened.
  const debouncer = new PushDebouncer((batch) => rebuild(batch), {
    ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
    ...(options.debounceMaxMs === undefined ? {} : { debounceMaxMs: options.debounceMaxMs }),
  });
  const undo: (() => unknown)[] = [];
  const rollback = async () => {
    for (const fn of undo.reverse()) {
      try {
        await fn();
      } catch (e: unknown) {
        logger.warn('control plane: cleanup step failed', { error: String(e) });
      }
    }
  };
  try {
    const backing = await openBacking(options, logger);
    undo.push(() => backing.close());
    const { store } = backing;
    const registry = new Registry({ ...(options.leaseTtlMs === undefined ? {} : { defaultTtlMs: options.leaseTtlMs }), logger });
    undo.push(() => registry.close());
    // With etcd, leases live there (valid on every replica, expired by etcd); otherwise in this process.
    let leases: LeaseService = registry;
    if (backing.etcd !== undefined) {
      const etcdLeases = await EtcdLeases.open({ ...backing.etcd, registry, logger });
      undo.push(() => etcdLeases.close());
      leases = etcdLeases;
    }
    const stateDir = options.stateDir ?? (backing.configDir === undefined ? false : path.join(backing.configDir, '.weft'));
    const security = await openSecurity({ ...options.security, stateDir, logger, ...(backing.etcd === undefined ? {} : { etcd: backing.etcd }) });
    undo.push(() => security.close());
    if (stateDir !== false && backing.etcd === undefined) {
      const file = path.join(stateDir, REGISTRY_STATE_FILE);
      for (const error of registry.restore(await loadRegistryState(file, logger))) {
        logger.warn('registry state: skipped a saved lease', { file, error: error.message });
      }
      const writer = saveRegistryState(registry, file, logger);
      undo.push(async () => {
        await writer.flush();
        writer.dispose();
      });
    }
    const cache = new SnapshotCache({ logger });
    let adsServer: AdsServer | undefined;
    const pushMetrics = new PushMetrics({ clients: () => adsServer?.clients().length ?? 0 });

    // The config the snapshot was last translated from, and what it gave: an endpoint-only rebuild reuses both.
    let translated: { readonly config: MeshConfig; readonly resources: XdsResources } | undefined;
    rebuild = ({ firstChangeAtMs, debounced }) => {
      const startedMs = performance.now();
      try {
        // An endpoint change alone rebuilds only the ClusterLoadAssignments (every other resource is the same object,
        // which the cache keeps without encoding), and against the config last translated, not store.current(): an
        // edit burst still in its quiet period is not published half-applied. Publishing it would be safe (each store
        // change is a whole validated config) but would push routes and clusters to every client at each endpoint
        // change of a rollout that overlaps the burst, which is what the debounce is for; the burst lands whole when it
        // is due, with the endpoints of that moment.
        if (debounced || translated === undefined) {
          const config = store.current();
          translated = { config, resources: { ...translate(config, registry.endpoints()), [TYPE_URL.secret]: trustBundleSecrets(security.ca.trustBundlePem()) } };
        } else {
          translated = { ...translated, resources: { ...translated.resources, [TYPE_URL.clusterLoadAssignment]: translateEndpoints(translated.config, registry.endpoints()) } };
        }
        const result = cache.set(translated.resources, firstChangeAtMs);
        if (result.changedTypes.length > 0) logger.debug('control plane: snapshot updated', { generation: translated.config.generation, changedTypes: result.changedTypes, waitedMs: Date.now() - firstChangeAtMs });
      } catch (e: unknown) {
        // translate is pure and total; if it ever throws, keep serving the last snapshot.
        logger.error('control plane: translate failed; still serving the previous snapshot', { error: e instanceof Error ? e.stack : String(e) });
      }
      pushMetrics.rebuilt(performance.now() - startedMs);
    };
    rebuild({ firstChangeAtMs: Date.now(), debounced: true, urgent: false });
    // Config edits and CA rotations are debounced; endpoint changes (register, deregister, drain, lease expiry) are
    // urgent: a process that registers is called at once, and callers must stop picking a draining endpoint well
    // inside the SDK's drain delay (500 ms), which a config burst's 1 s bound would overrun.
    const subscriptions = [
      store.onChange(() => debouncer.changed()),
      security.ca.onChange(() => debouncer.changed()),
      registry.onChange(() => debouncer.changed({ urgent: true })),
    ];
    undo.push(() => {
      debouncer.close();
      for (const s of subscriptions) s.dispose();
    });

    const auth = security.authenticator;
    const ads = new AdsServer({
      cache,
      logger,
      observer: pushMetrics,
      authorize: async (metadata, peer) => {
        const r = await auth.authenticate(metadata, peer, 'ADS');
        return r.ok ? { ok: true, identity: r.caller.authenticated ? r.caller.spiffeId : '' } : { ok: false, message: r.error };
      },
    });
    adsServer = ads;
    const server = new grpc.Server({
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 20_000,
      // A GOAWAY at the maximum age moves long-lived ADS streams to a fresh connection (another replica behind a load
      // balancer); grpc-js jitters it ±10 % so a fleet does not reconnect at once.
      ...(maxAgeMs > 0 ? { 'grpc.max_connection_age_ms': maxAgeMs, 'grpc.max_connection_age_grace_ms': maxAgeGraceMs } : {}),
    });
    ads.addTo(server);
    const namespaceOf = (service: string) => {
      const svc = serviceNamed(store.current(), service);
      return svc === undefined ? undefined : (svc.metadata.namespace ?? DEFAULT_NAMESPACE);
    };
    const callerAuth = { authenticate: auth.authenticate.bind(auth), namespaceOf };
    addRegistryService(server, leases, logger, callerAuth);
    const traffic = new TrafficAggregator(options.telemetry);
    addTelemetryService(server, traffic, logger, callerAuth);
    addIdentityService(server, security.signDeps);
    // Undo runs in reverse: ADS streams never end by themselves, so end them first, then the server can stop at once.
    undo.push(() => shutdown(server));
    undo.push(() => ads.close());
    const xdsPort = await bind(server, host, options.xdsPort ?? DEFAULT_XDS_PORT);

    const hostPart = host.includes(':') ? `[${host}]` : host;
    const xdsAddress = `${hostPart}:${xdsPort}`;
    let presence: ReplicaPresence | undefined;
    let admin;
    try {
      admin = await startAdminServer({
        store,
        registry,
        ads,
        traffic,
        push: pushMetrics,
        logger,
        host,
        port: options.adminPort ?? DEFAULT_ADMIN_PORT,
        adminToken: security.adminToken,
        identity: { ca: security.ca, tokens: security.tokens },
        ...(backing.etcd === undefined ? {} : { replicas: () => presence?.list() ?? Promise.resolve([]) }),
        snapshotGeneration: () => translated?.config.generation ?? 0,
      });
    } catch (e: unknown) {
      throw listenError('admin API', host, options.adminPort ?? DEFAULT_ADMIN_PORT, e);
    }
    const adminServer = admin;
    undo.push(() => adminServer.close());

    if (backing.etcd !== undefined) {
      const announced = new ReplicaPresence(backing.etcd.client, backing.etcd.prefix, { id: `${hostname()}:${xdsPort}`, xdsAddress, adminUrl: admin.url, startedAt: new Date().toISOString() }, logger);
      presence = announced;
      undo.push(() => announced.close());
    }
    logger.info('control plane started', {
      xdsAddress,
      adminUrl: admin.url,
      store: backing.describe,
      generation: store.current().generation,
      trustDomain: security.ca.trustDomain,
      xdsAuth: auth.mode,
    });
    let closing: Promise<void> | undefined;
    return {
      xdsAddress,
      xdsUrl: `http://${xdsAddress}`,
      adminUrl: admin.url,
      store,
      registry,
      leases,
      ads,
      traffic,
      pushMetrics,
      get snapshotGeneration() {
        return translated?.config.generation ?? 0;
      },
      ca: security.ca,
      tokens: security.tokens,
      adminToken: security.adminToken,
      adminTokenFile: security.adminTokenFile,
      close() {
        closing ??= rollback().then(() => logger.info('control plane stopped'));
        return closing;
      },
    };
  } catch (e: unknown) {
    await rollback();
    throw e;
  }
}

/** The opened config store and, for etcd, the client every etcd-backed part shares. */
interface Backing {
  readonly store: ConfigStore;
  /** The YAML directory, for the dir store. */
  readonly configDir: string | undefined;
  /** The etcd client and key prefix, for the etcd store. */
  readonly etcd: { readonly client: Etcd3; readonly prefix: string } | undefined;
  /** What the start-up log line names: the directory or the etcd URL. */
  readonly describe: string;
  /** Closes the store, then the etcd client. */
  close(): Promise<void>;
}

/** Opens the store `options.store`/`configDir` names: a YAML directory, or etcd (connect bounded in time). */
async function openBacking(options: ControlPlaneOptions, logger: Logger): Promise<Backing> {
  const etcdOptions = typeof options.store === 'object' ? options.store : undefined;
  const where = etcdOptions?.url ?? options.store ?? options.configDir;
  if (typeof where !== 'string' || where === '') invalidArg('startControlPlane: give configDir (a YAML directory) or store (a directory or etcd://host:port)');
  if (!isEtcdStore(where)) {
    if (etcdOptions !== undefined) invalidArg(`startControlPlane: store.url '${where}' is not an etcd:// or etcds:// URL`);
    const store = await openDirStore({ dir: where, watch: true, logger });
    return { store, configDir: where, etcd: undefined, describe: where, close: () => store.close() };
  }
  const connection = await resolveEtcdConnection(etcdOptions ?? { url: where }, logger);
  const url = connection.url;
  const client = await openEtcd(connection, options.etcdConnectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.etcdConnectTimeoutMs });
  try {
    const store = await openEtcdStore({ client, prefix: url.prefix, logger });
    return {
      store,
      configDir: options.configDir,
      etcd: { client, prefix: url.prefix },
      describe: where,
      async close() {
        await store.close();
        client.close();
      },
    };
  } catch (e: unknown) {
    client.close();
    throw e;
  }
}

function bind(server: grpc.Server, host: string, port: number): Promise<number> {
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return new Promise((resolve, reject) => {
    server.bindAsync(`${hostPart}:${port}`, grpc.ServerCredentials.createInsecure(), (err, boundPort) => {
      if (err) reject(listenError('xDS gRPC server', host, port, err));
      else resolve(boundPort);
    });
  });
}

function listenError(what: string, host: string, port: number, cause: unknown): MeshError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const message = cause instanceof Error ? cause.message : String(cause);
  // grpc-js reports a busy port only in the message ("... [listen EADDRINUSE: address already in use ...]").
  const detail = code === 'EADDRINUSE' || /EADDRINUSE/.test(message) ? 'the port is in use (is another control plane running?)' : message;
  return new MeshError(ERROR_CODES.LISTEN, `cannot start the ${what} on ${host}:${port}: ${detail}`, { cause, nonRetryable: true, details: { host, port } });
}

/** Graceful shutdown that turns forceful after SHUTDOWN_GRACE_MS. */
function shutdown(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, SHUTDOWN_GRACE_MS);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
