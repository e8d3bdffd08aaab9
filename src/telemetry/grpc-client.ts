// Tracing and access logs of the gRPC client: a logical-call span per call (made where grpc-js asks the mesh's
// ConfigSelector, in the caller's context), a CLIENT span per attempt (made where the mesh's picker picks an endpoint,
// with W3C context set in that attempt's metadata), and one access-log line per call (at the call's trailers).
import { SpanStatusCode, context, propagation, type Context, type Span } from '@opentelemetry/api';
import type { experimental, Metadata, StatusObject } from '@grpc/grpc-js';
import type { TelemetryPolicy } from '../discovery/telemetry-policy.js';
import { shouldLog } from './access-log.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_RPC_GRPC_STATUS_CODE,
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SERVICE,
  ATTR_RPC_SYSTEM,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  GRPC_STATUS_NAMES,
  WEFT,
} from './attrs.js';
import { rpcNames } from './grpc-server.js';
import type { MeshTelemetry } from './mesh-telemetry.js';
import { sampledParent, SpanKind, startSpan, traceIdOf } from './tracing.js';

type CallConfig = ReturnType<experimental.ConfigSelector['invoke']>;
type PickResult = experimental.PickResult;

/** Sets propagation fields in grpc-js Metadata (replacing: one value per key). */
const setter = { set: (m: Metadata, k: string, v: string) => m.set(k, v) };

/** Calls traced or logged, by their (per-call) pickInformation object, which grpc-js hands every attempt's pick. */
const calls = new WeakMap<object, GrpcCall>();

/** The traced call a pick belongs to (by its `extraPickInfo`), if any. */
export function grpcCallOf(pickInfo: object): GrpcCall | undefined {
  return calls.get(pickInfo);
}

function hostPort(authority: string): { host: string; port: number } {
  const i = authority.lastIndexOf(':');
  const port = i > 0 ? Number(authority.slice(i + 1)) : NaN;
  return Number.isInteger(port) ? { host: authority.slice(0, i), port } : { host: authority, port: 80 };
}

/** One traced or logged gRPC call: its span (unless instrumentation-grpc made the call span), attempts and outcome. */
export class GrpcCall implements experimental.Filter {
  readonly span: Span | undefined;
  readonly ctx: Context;
  readonly #t: MeshTelemetry;
  readonly #tracing: boolean;
  readonly #authority: string;
  readonly #method: string;
  readonly #names: { readonly full: string; readonly service: string };
  readonly #policy: TelemetryPolicy;
  readonly #route: string;
  readonly #startMs = performance.now();
  readonly #startEpochMs = Date.now();
  attempts = 0;
  #cluster: string | undefined;
  #endpoint: string | undefined;
  #lastOutcome: string | undefined;
  #retryReasons: string[] | undefined;
  #ended = false;

  constructor(t: MeshTelemetry, authority: string, method: string, route: string, policy: TelemetryPolicy, tracing: boolean, instrumented: boolean) {
    this.#t = t;
    this.#tracing = tracing;
    this.#authority = authority;
    this.#method = method;
    this.#names = rpcNames(method);
    this.#policy = policy;
    this.#route = route;
    const parent = tracing ? sampledParent(context.active(), policy) : context.active();
    if (tracing && !instrumented) {
      const { host, port } = hostPort(authority);
      const s = startSpan(t.tracing, this.#names.full, SpanKind.INTERNAL, { [WEFT.span]: 'call', ...this.#rpcAttributes(), [ATTR_SERVER_ADDRESS]: host, [ATTR_SERVER_PORT]: port, [WEFT.route]: route }, parent);
      this.span = s.span;
      this.ctx = s.ctx;
    } else this.ctx = parent;
  }

  #rpcAttributes(): Record<string, string> {
    return { [ATTR_RPC_SYSTEM_NAME]: 'grpc', [ATTR_RPC_SYSTEM]: 'grpc', [ATTR_RPC_METHOD]: this.#names.full, [ATTR_RPC_SERVICE]: this.#names.service };
  }

  /**
   * A picked attempt to `endpoint` (`ip:port`) of `cluster`: starts its CLIENT span, sets its context in the attempt's
   * metadata (replacing any traceparent, so one is sent), and returns `result` with an onCallEnded that ends it.
   */
  attempt(result: PickResult, metadata: Metadata, cluster: string, endpoint: string): PickResult {
    const n = ++this.attempts;
    this.#cluster = cluster;
    this.#endpoint = endpoint;
    const reason = n > 1 ? (this.#lastOutcome ?? 'unknown') : undefined;
    if (reason !== undefined) (this.#retryReasons ??= []).push(reason);
    let span: Span | undefined;
    if (this.#tracing) {
      const { host, port } = hostPort(this.#authority);
      const colon = endpoint.lastIndexOf(':');
      const s = startSpan(
        this.#t.tracing,
        this.#names.full,
        SpanKind.CLIENT,
        {
          [WEFT.span]: 'attempt',
          ...this.#rpcAttributes(),
          [ATTR_SERVER_ADDRESS]: host,
          [ATTR_SERVER_PORT]: port,
          [ATTR_NETWORK_PEER_ADDRESS]: endpoint.slice(0, colon).replace(/^\[|\]$/g, ''),
          [ATTR_NETWORK_PEER_PORT]: Number(endpoint.slice(colon + 1)),
          [WEFT.route]: this.#route,
          [WEFT.cluster]: cluster,
          [WEFT.endpoint]: endpoint,
          [WEFT.attempt]: n,
          ...(reason !== undefined && { [WEFT.retryReason]: reason }),
        },
        this.ctx,
      );
      span = s.span;
      propagation.inject(s.ctx, metadata, setter);
    }
    const inner = result.onCallEnded;
    return {
      ...result,
      onCallEnded: (code, details, md) => {
        this.#lastOutcome = GRPC_STATUS_NAMES[code] ?? String(code);
        if (span !== undefined) {
          span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, code);
          span.setAttribute(ATTR_RPC_STATUS_CODE, this.#lastOutcome);
          if (code !== 0) {
            span.setAttribute(ATTR_ERROR_TYPE, this.#lastOutcome);
            span.setStatus({ code: SpanStatusCode.ERROR, message: details });
          }
          span.end();
        }
        inner?.(code, details, md);
      },
    } as PickResult;
  }

  // experimental.Filter: only the trailers matter (they end the call, whatever ended it: answer, refusal, deadline).
  async sendMetadata(metadata: Promise<Metadata>): Promise<Metadata> {
    return metadata;
  }
  receiveMetadata(metadata: Metadata): Metadata {
    return metadata;
  }
  async sendMessage<T>(message: Promise<T>): Promise<T> {
    return message;
  }
  async receiveMessage(message: Promise<Buffer>): Promise<Buffer> {
    return message;
  }
  receiveTrailers(status: StatusObject): StatusObject {
    if (this.#ended) return status;
    this.#ended = true;
    const name = GRPC_STATUS_NAMES[status.code] ?? String(status.code);
    const span = this.span;
    if (span !== undefined) {
      span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, status.code);
      span.setAttribute(ATTR_RPC_STATUS_CODE, name);
      span.setAttribute(WEFT.attempts, this.attempts);
      if (this.#cluster !== undefined) span.setAttribute(WEFT.cluster, this.#cluster);
      if (this.#endpoint !== undefined) span.setAttribute(WEFT.endpoint, this.#endpoint);
      const meshError = status.metadata?.get('x-mesh-error')[0];
      if (typeof meshError === 'string') span.setAttribute(WEFT.errorCode, meshError);
      if (status.code !== 0) {
        span.setAttribute(ATTR_ERROR_TYPE, name);
        span.setStatus({ code: SpanStatusCode.ERROR, message: status.details });
      }
      span.end();
    }
    const durationMs = performance.now() - this.#startMs;
    if (shouldLog(this.#policy, 200, durationMs)) {
      const trace = traceIdOf(span);
      this.#t.log.write({
        time: new Date(this.#startEpochMs).toISOString(),
        direction: 'outbound',
        protocol: 'grpc',
        method: 'POST',
        authority: this.#authority,
        path: this.#method,
        route: this.#route,
        ...(this.#cluster !== undefined && { cluster: this.#cluster }),
        ...(this.#endpoint !== undefined && { endpoint: this.#endpoint }),
        status: 200,
        grpc_status: status.code,
        duration_ms: Math.round(durationMs * 1000) / 1000,
        attempts: this.attempts,
        ...(this.#retryReasons !== undefined && { retry_reasons: this.#retryReasons }),
        ...(status.code !== 0 && { error: name }),
        ...(trace !== undefined && { trace_id: trace }),
      });
    }
    return status;
  }
}

/**
 * The `trace` hook of the gRPC ConfigSelector (client/grpc/route-plan.ts): while a TracerProvider is registered or the
 * target's Telemetry logs, gives the call its own pickInformation (so its attempts find it) and a dynamic filter that
 * ends it; otherwise returns `config` unchanged (one cached check, no allocation).
 */
export function traceGrpcCall(t: MeshTelemetry, authority: string, method: string, config: CallConfig, policy: TelemetryPolicy, route: string, instrumented: () => boolean): CallConfig {
  const probe = t.tracing.probe();
  if (!probe.on && policy.accessLog === undefined) return config;
  const call = new GrpcCall(t, authority, method, route, policy, probe.on, probe.on && instrumented());
  const pickInformation = { ...config.pickInformation };
  calls.set(pickInformation, call);
  return { ...config, pickInformation, dynamicFilterFactories: [...config.dynamicFilterFactories, { createFilter: () => call }] };
}
