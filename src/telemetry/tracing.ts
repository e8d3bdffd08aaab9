// The one tracing mechanism the HTTP and gRPC adapters share: whether a TracerProvider is registered (checked rarely,
// so calls pay nothing when none is), the central sampling decision, span start helpers and W3C propagation.
import diagnosticsChannel from 'node:diagnostics_channel';
import {
  context,
  isSpanContextValid,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { TelemetryPolicy } from '../discovery/telemetry-policy.js';

/** Instrumentation scope name of every Weft span. */
export const TRACER_NAME = 'weft';
/** Calls between two checks of the global TracerProvider and of other instrumentations (a check costs ~1 µs). */
export const PROBE_EVERY_CALLS = 1024;

/** What a call learns from one probe: is tracing on, and which OpenTelemetry instrumentations are active. */
export interface TracingProbe {
  /** A TracerProvider other than the no-op one is registered globally. */
  readonly on: boolean;
  /** @opentelemetry/instrumentation-undici (or anything on its diagnostics channels) makes per-attempt spans and injects. */
  readonly undiciInstrumented: boolean;
}

const OFF: TracingProbe = Object.freeze({ on: false, undiciInstrumented: false });

/**
 * The tracing switch: `probe()` answers from a cached value, refreshed every PROBE_EVERY_CALLS calls and on refresh()
 * (the mesh calls it on every config change). A provider registered after the mesh was created is seen within that
 * many calls. Never throws.
 */
export class Tracing {
  readonly tracer: Tracer;
  #left = 0;
  #probe: TracingProbe = OFF;
  readonly #undiciCreate = diagnosticsChannel.channel('undici:request:create');
  readonly #undiciHeaders = diagnosticsChannel.channel('undici:request:headers');

  constructor() {
    this.tracer = trace.getTracer(TRACER_NAME);
  }

  /** The cached probe (one decrement per call). */
  probe(): TracingProbe {
    if (--this.#left < 0) this.refresh();
    return this.#probe;
  }

  /** Checks the global TracerProvider and the undici diagnostics channels now. */
  refresh(): void {
    this.#left = PROBE_EVERY_CALLS;
    const provider = trace.getTracerProvider();
    const on = !(provider instanceof ProxyTracerProvider) || provider.getDelegateTracer(TRACER_NAME) !== undefined;
    if (!on) {
      this.#probe = OFF;
      return;
    }
    const undiciInstrumented = this.#undiciCreate.hasSubscribers && this.#undiciHeaders.hasSubscribers;
    if (this.#probe.on !== on || this.#probe.undiciInstrumented !== undiciInstrumented) this.#probe = Object.freeze({ on, undiciInstrumented });
  }
}

/** True when instrumentation-grpc has wrapped grpc-js's client (it makes one CLIENT span per call and injects). */
export function grpcInstrumented(grpc: { readonly Client: { readonly prototype: object } }): boolean {
  const fn = (grpc.Client.prototype as { makeUnaryRequest?: { __wrapped?: boolean } }).makeUnaryRequest;
  return fn?.__wrapped === true;
}

function randomHex(chars: number): string {
  let out = '';
  while (out.length < chars) out += Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
  return out.slice(0, chars);
}

/**
 * The parent context of a span Weft starts under `ctx`, with the central sampling decision applied: with a valid
 * parent, the parent decides (parent-based); without one and with `samplingPercent` set, a share of calls get an
 * unsampled remote parent (so the SDK's default ParentBased sampler records nothing here or downstream); without a
 * percentage, the application's own sampler decides.
 */
export function sampledParent(ctx: Context, policy: TelemetryPolicy | undefined): Context {
  const pct = policy?.samplingPercent;
  if (pct === undefined || pct >= 100) return ctx;
  const parent = trace.getSpanContext(ctx);
  if (parent !== undefined && isSpanContextValid(parent)) return ctx;
  if (pct > 0 && Math.random() * 100 < pct) return ctx;
  return trace.setSpanContext(ctx, { traceId: randomHex(32), spanId: randomHex(16), traceFlags: TraceFlags.NONE, isRemote: true });
}

/** True when `ctx` carries an unsampled parent: Weft then starts no span and passes the parent on as it is. */
export function unsampled(ctx: Context): boolean {
  const parent = trace.getSpanContext(ctx);
  return parent !== undefined && isSpanContextValid(parent) && (parent.traceFlags & TraceFlags.SAMPLED) === 0;
}

/** A started span and the context that holds it (the parent of what happens inside). */
export interface Started {
  readonly span: Span;
  readonly ctx: Context;
}

/**
 * Starts span `name` of `kind` under `parent` (after sampledParent). Under an unsampled parent no span is made: the
 * result's span is the parent's non-recording one, so propagation passes the unsampled decision on.
 */
export function startSpan(tracing: Tracing, name: string, kind: SpanKind, attributes: Attributes, parent: Context): Started {
  if (unsampled(parent)) return { span: trace.getSpan(parent)!, ctx: parent };
  const span = tracing.tracer.startSpan(name, { kind, attributes }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/** The context of an incoming request: the global propagator's extract from `carrier` (headers or metadata map). */
export function extractContext(carrier: Record<string, unknown>): Context {
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/** The propagation headers (traceparent, tracestate, baggage...) of `ctx`, by the globally registered propagator. */
export function injectHeaders(ctx: Context): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** Runs `fn` with `ctx` active (for instrumentations below that parent their spans on the active context). */
export function withContext<A extends unknown[], R>(ctx: Context, fn: (...args: A) => R, ...args: A): R {
  return context.with(ctx, fn, undefined, ...args);
}

/** The trace id of a span, or undefined for an invalid one (for access logs). */
export function traceIdOf(span: Span | undefined): string | undefined {
  const sc = span?.spanContext();
  return sc !== undefined && isSpanContextValid(sc) ? sc.traceId : undefined;
}

/** Span kinds, re-exported so adapters need one import. */
export { SpanKind };
