// Feeds the golden metrics to OpenTelemetry instruments (through @opentelemetry/api only; never an SDK), when a real
// MeterProvider is in use: with none, the built-in store runs alone and no OTel call is made per request.
import { createNoopMeter, metrics as otelMetrics, type Histogram, type Counter, type MeterProvider } from '@opentelemetry/api';
import { cellAttributes, GOLDEN_INSTRUMENTS, LATENCY_BUCKETS_S, type MeshMetrics } from './mesh-metrics.js';

/** The instrumentation scope name of Weft's instruments. */
export const METER_NAME = 'weft';

/** True when `provider` is the API's no-op one (nothing registered): its instruments are the no-op singletons. */
export function isNoopMeterProvider(provider: MeterProvider): boolean {
  const probe = provider.getMeter(METER_NAME).createHistogram('weft.probe');
  return Object.getPrototypeOf(probe) === Object.getPrototypeOf(createNoopMeter().createHistogram('weft.probe'));
}

/**
 * Connects `metrics` to `provider` (default: the global one, read now) when it is a real one: creates the golden
 * histograms (semantic-convention names, units, explicit bucket advice) and the retry counter, and records every call
 * into them with attributes built once per label set. Returns false, and changes nothing, for a no-op provider.
 * Register a global MeterProvider before createMesh() (or pass it as `metrics.meterProvider`).
 */
export function attachOpenTelemetry(metrics: MeshMetrics, provider: MeterProvider = otelMetrics.getMeterProvider()): boolean {
  if (isNoopMeterProvider(provider)) return false;
  const meter = provider.getMeter(METER_NAME);
  // Every golden histogram is in seconds (GOLDEN_INSTRUMENTS), over the same bounds.
  const histograms = new Map<string, Histogram>();
  for (const [kind, inst] of Object.entries(GOLDEN_INSTRUMENTS)) {
    histograms.set(kind, meter.createHistogram(inst.name, { unit: inst.unit, description: inst.help, advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_S] } }));
  }
  const byKind = {
    'outbound.http': histograms.get('outbound.http')!,
    'inbound.http': histograms.get('inbound.http')!,
    'outbound.grpc': histograms.get('outbound.grpc')!,
    'inbound.grpc': histograms.get('inbound.grpc')!,
  };
  const retries: Counter = meter.createCounter('weft.retries', { description: 'Retry attempts sent, by reason.' });
  const service = metrics.registry.service;
  metrics.registry.onRecord = (cell, latencyMs) => {
    const s = cell.series;
    byKind[`${s.direction}.${s.protocol}`].record(latencyMs / 1000, (cell.otelAttributes ??= cellAttributes(cell, service)));
  };
  metrics.registry.onRetry = (series, reason) => {
    retries.add(1, { 'weft.source.service': service, 'weft.destination.service': series.peer, 'weft.route': series.route, 'weft.retry.reason': reason });
  };
  return true;
}
