// The metrics benchmark's servers, in their own process: mesh.serve() servers with golden metrics off, on, and on with
// an OpenTelemetry SDK MeterProvider (periodic reader, in-memory exporter); reports ports and, on request, its CPU.
import type http from 'node:http';
import { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } from '@opentelemetry/sdk-metrics';
import { createMesh } from './lib.js';

const controlPlane = process.argv[2]!;
const handler = (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.setHeader('content-type', 'text/plain');
  res.end('ok');
};
const provider = new MeterProvider({
  readers: [new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 1_000 })],
});
const ports: Record<string, number> = {};
for (const [variant, metrics] of [
  ['off', { enabled: false }],
  ['on', {}],
  ['otel', { meterProvider: provider }],
] as const) {
  const mesh = await createMesh({ service: `srv-${variant}`, controlPlane, ready: { timeoutMs: 10_000 }, metrics });
  ports[variant] = (await mesh.serve(handler, { port: 0 })).port;
}
process.on('message', (m) => {
  if (m === 'cpu') {
    const c = process.cpuUsage();
    process.send?.({ cpuUs: c.user + c.system });
  }
});
process.send?.({ ports });
process.on('disconnect', () => process.exit(0));
