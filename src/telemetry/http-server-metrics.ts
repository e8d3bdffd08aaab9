// Golden metrics of the HTTP server: every request a served http.Server emits is recorded (method, status, time to
// the end of the response) into the series of its caller, including the ones the inbound policy refused.
import type http from 'node:http';
import { peerIdentityOfSocket } from '../server/inbound/identity.js';
import { methodIndex, type RouteSeries } from './metrics-registry.js';
import type { MeshMetrics } from './mesh-metrics.js';

const STATE: unique symbol = Symbol('weft.metrics.request');
const SERIES: unique symbol = Symbol('weft.metrics.series');

interface Tracked {
  [STATE]?: { readonly series: RouteSeries; readonly method: number; readonly startMs: number };
}

/** Shared 'close' listener (no closure per request): records the response, or `cancelled` if it never finished. */
function onClose(this: http.ServerResponse & Tracked): void {
  const st = this[STATE];
  if (st === undefined) return;
  this[STATE] = undefined;
  const latency = performance.now() - st.startMs;
  if (this.writableFinished) st.series.record(st.method, this.statusCode, undefined, latency);
  else st.series.record(st.method, -1, 'cancelled', latency);
}

/**
 * Records every request `server` emits ('request' events) into `metrics`. Patches `server.emit` once, outermost (call
 * it after the inbound policy's own patch, so refused requests are seen too). The caller's series is cached per
 * connection. Never throws into the server.
 */
export function observeHttpServer(server: http.Server, metrics: MeshMetrics): void {
  const emit = server.emit as (this: http.Server, ...args: unknown[]) => boolean;
  // No rest parameter: every event the server emits passes here, and `arguments` forwarded by apply costs no array.
  server.emit = function metricsEmit(this: http.Server, event: string | symbol, a?: unknown, b?: unknown): boolean {
    if (event === 'request') {
      const req = a as http.IncomingMessage;
      const res = b as http.ServerResponse & Tracked;
      const socket = req.socket as typeof req.socket & { [SERIES]?: RouteSeries };
      const series = socket[SERIES] ?? (socket[SERIES] = metrics.inboundSeries('http', peerIdentityOfSocket(socket)));
      res[STATE] = { series, method: methodIndex(req.method ?? 'GET'), startMs: performance.now() };
      res.on('close', onClose); // a response closes once; `on` avoids once()'s wrapper per request
    }
    // eslint-disable-next-line prefer-rest-params
    return Reflect.apply(emit, this, arguments);
  } as typeof server.emit;
}
