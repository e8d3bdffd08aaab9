// Integration-test helper: registers a real OpenTelemetry SDK (in-memory exporter, AsyncLocalStorage context, W3C propagators) and
// reads its spans back as plain data. Uses devDependencies only; never imported by the SDK itself.
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** A finished span as plain JSON data. */
export interface SpanRecord {
  readonly name: string;
  /** SpanKind number: 0 INTERNAL, 1 SERVER, 2 CLIENT. */
  readonly kind: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly attributes: Readonly<Record<string, unknown>>;
  /** 0 unset, 1 ok, 2 error. */
  readonly status: number;
  readonly events: readonly string[];
  /** The instrumentation scope that made it (`weft`, `@opentelemetry/instrumentation-undici`...). */
  readonly scope: string;
}

/** A registered in-memory SDK. */
export interface TestOtel {
  readonly exporter: InMemorySpanExporter;
  readonly provider: BasicTracerProvider;
  /** Finished spans so far, as plain data. */
  spans(): SpanRecord[];
  /** Unregisters the provider, propagator and context manager. */
  shutdown(): Promise<void>;
}

/** Plain data of a finished span. */
export function spanRecord(s: ReadableSpan): SpanRecord {
  return {
    name: s.name,
    kind: s.kind,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    attributes: { ...s.attributes },
    status: s.status.code,
    events: s.events.map((e) => e.name),
    scope: s.instrumentationScope.name,
  };
}

/** Registers the SDK globally (BasicTracerProvider + SimpleSpanProcessor + InMemorySpanExporter, default sampler). */
export function registerTestOtel(): TestOtel {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  return {
    exporter,
    provider,
    spans: () => exporter.getFinishedSpans().map(spanRecord),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
