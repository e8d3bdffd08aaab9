// Sends this process's cumulative traffic summary to the control plane every few seconds, off the request path
// (weft.telemetry.v1.Telemetry/Report, proto/weft/telemetry/v1/telemetry.proto).
import type * as grpc from '@grpc/grpc-js';
import { NOOP_LOGGER, type Logger } from '../core/logger.js';
import { ControlPlaneClient } from '../discovery/control-plane-client.js';
import { protos, type ProtoObject } from '../discovery/xds/protos.js';
import { weftVersion } from '../discovery/xds/ads-wire.js';
import { LATENCY_BUCKETS_MS, MAX_TRAFFIC_ROWS, type RouteTraffic, type TrafficSource } from './traffic-summary.js';

/** Default time between two reports (ms). */
export const DEFAULT_REPORT_INTERVAL_MS = 10_000;
/** Shortest report interval accepted (ms). */
export const MIN_REPORT_INTERVAL_MS = 100;

const TRACER = 'telemetry-reporter';
/** Longest close() waits for a report in flight (ms). */
const CLOSE_WAIT_MS = 1_000;

/** Options of TrafficReporter. */
export interface TrafficReporterOptions {
  /** gRPC target of the control plane: `host:port`, or controlPlaneTarget()'s list of replicas (fails over between them). */
  readonly server: string;
  /** What to report; read once per tick, never on the request path. */
  readonly source: TrafficSource;
  /** xDS node id of this process. */
  readonly nodeId: string;
  readonly service: string;
  /** Where this process serves (`ip:port`), read at every report; '' or undefined when it serves nothing. */
  readonly instance?: () => string | undefined;
  /** notAfter (ms since the epoch) of the workload certificate held now, read at every report. */
  readonly certificateExpiresAtMs?: () => number | undefined;
  /** Time between reports (ms); default 10 000, at least 100. */
  readonly intervalMs?: number;
  /** Per-report deadline (ms); default the interval, within [1000, 5000]. */
  readonly rpcTimeoutMs?: number;
  /** The credential each report presents as `authorization: Bearer` (workload assertion or bootstrap token). */
  readonly credential?: () => string | undefined;
  /** Channel credentials; default insecure (plaintext, like ADS). */
  readonly credentials?: grpc.ChannelCredentials;
  readonly logger?: Logger;
  /** Clock for `started_at_ms` and `lastSentAtMs` (default Date.now). */
  readonly nowMs?: () => number;
}

/** How reporting goes, for tests and diagnostics. */
export interface TrafficReporterStatus {
  /** Reports the control plane accepted. */
  readonly sent: number;
  /** Reports that failed (each retried, with fresh counters, at the next tick). */
  readonly failed: number;
  /** The last failure, cleared by the next success. */
  readonly lastError: string | undefined;
  readonly lastSentAtMs: number | undefined;
  readonly closed: boolean;
}

/**
 * Every `intervalMs` (the first after one interval, so start-up never waits for it) reads the source and sends a
 * report, with at most one in flight: a tick that finds the previous report still out is skipped. A failure is logged
 * (the first, then every tenth) and simply retried at the next tick: counters are cumulative, so a lost report loses
 * nothing. Never throws after construction; a throwing source is logged like a failed report. The timer is unref'd.
 */
export class TrafficReporter {
  readonly #options: TrafficReporterOptions;
  readonly #client: ControlPlaneClient;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #startedAtMs: number;
  readonly #nowMs: () => number;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #sent = 0;
  #failed = 0;
  #lastError: string | undefined;
  #lastSentAtMs: number | undefined;
  #closed = false;

  constructor(options: TrafficReporterOptions) {
    this.#options = options;
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#intervalMs = Math.max(MIN_REPORT_INTERVAL_MS, options.intervalMs ?? DEFAULT_REPORT_INTERVAL_MS);
    this.#timeoutMs = options.rpcTimeoutMs ?? Math.min(5_000, Math.max(1_000, this.#intervalMs));
    this.#nowMs = options.nowMs ?? Date.now;
    this.#startedAtMs = this.#nowMs();
    this.#client = new ControlPlaneClient(options);
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Reporting so far (a fresh frozen object). */
  status(): TrafficReporterStatus {
    return Object.freeze({ sent: this.#sent, failed: this.#failed, lastError: this.#lastError, lastSentAtMs: this.#lastSentAtMs, closed: this.#closed });
  }

  /**
   * Sends one report now unless one is in flight (then waits for that one instead). Resolves when it is answered;
   * never rejects; a no-op after close().
   */
  flush(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#tick();
    return this.#inFlight ?? Promise.resolve();
  }

  /** Stops the timer, waits up to 1 s for a report in flight, and closes the channel. Idempotent; never rejects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#inFlight !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#inFlight, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
    }
    this.#client.close();
  }

  #tick(): void {
    if (this.#closed || this.#inFlight !== undefined) return;
    let request: ProtoObject;
    try {
      request = this.#request();
    } catch (e: unknown) {
      this.#fail(`reading the traffic source failed: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const def = protos().telemetryService['Report'] as grpc.MethodDefinition<ProtoObject, ProtoObject>;
    this.#inFlight = new Promise<void>((resolve) => {
      this.#client.unary(def, request, this.#timeoutMs, (err) => {
        this.#inFlight = undefined;
        if (err) this.#fail(`${err.code} ${err.details || err.message}`);
        else {
          this.#sent++;
          this.#lastError = undefined;
          this.#lastSentAtMs = this.#nowMs();
          this.#logger.debug(`${TRACER}: report sent`, { rows: (request['traffic'] as unknown[]).length });
        }
        resolve();
      });
    });
  }

  #fail(error: string): void {
    this.#failed++;
    this.#lastError = error;
    if (this.#failed === 1 || this.#failed % 10 === 0) {
      this.#logger.warn('weft: traffic report failed; retrying at the next interval', { error, failures: this.#failed, intervalMs: this.#intervalMs });
    }
  }

  #request(): ProtoObject {
    const o = this.#options;
    const rows = o.source.traffic();
    // The source promises at most MAX_TRAFFIC_ROWS; the control plane refuses more, so never send more.
    const kept = rows.length > MAX_TRAFFIC_ROWS ? rows.slice(0, MAX_TRAFFIC_ROWS) : rows;
    return {
      node_id: o.nodeId,
      service: o.service,
      instance: o.instance?.() ?? '',
      started_at_ms: this.#startedAtMs,
      traffic: kept.map(rowToProto),
      certificate_expires_at_ms: o.certificateExpiresAtMs?.() ?? 0,
      sdk_version: `weft/${weftVersion()}`,
    };
  }
}

/** A RouteTraffic row in weft.telemetry.v1.RouteTraffic form (a histogram of the wrong length is padded or folded). */
export function rowToProto(row: RouteTraffic): ProtoObject {
  const n = LATENCY_BUCKETS_MS.length + 1;
  const latency = Array.from({ length: n }, (_, i) => row.latency[i] ?? 0);
  for (let i = n; i < row.latency.length; i++) latency[n - 1]! += row.latency[i] ?? 0;
  return {
    direction: row.direction === 'inbound' ? 'INBOUND' : 'OUTBOUND',
    protocol: row.protocol === 'grpc' ? 'GRPC' : 'HTTP',
    peer: row.peer,
    route: row.route,
    requests: row.requests,
    failures: row.failures,
    retries: row.retries,
    latency,
  };
}
