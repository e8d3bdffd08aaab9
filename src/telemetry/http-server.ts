// Tracing and access logs of meshed HTTP servers: a SERVER span per request (context extracted from its headers,
// handler run inside it), saying why the inbound policy refused it when it did, and one access-log line per request.
import type http from 'node:http';
import { SpanStatusCode } from '@opentelemetry/api';
import type { TelemetryPolicy } from '../discovery/telemetry-policy.js';
import { peerIdentityOfSocket } from '../server/inbound/identity.js';
import { shouldLog } from './access-log.js';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  WEFT,
} from './attrs.js';
import type { MeshTelemetry } from './mesh-telemetry.js';
import { refusalOf } from './refusals.js';
import { extractContext, sampledParent, SpanKind, startSpan, traceIdOf, withContext } from './tracing.js';

/** The inbound telemetry in force for a server (its inbound Listener's HCM `tracing` / `access_log`). */
export type PolicySource = () => TelemetryPolicy | undefined;

/**
 * Makes every 'request' `server` emits run inside a SERVER span (when a TracerProvider is registered) and end in an
 * access-log line (when the inbound Telemetry logs). Patched at the server's emit, outermost, so a request the inbound
 * policy refuses is traced and logged with its reason. Requests pass with one cached check when neither is on.
 */
export function traceHttpServer(server: http.Server, t: MeshTelemetry, policyOf: PolicySource): void {
  const emit = server.emit as (this: http.Server, event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = function tracedEmit(this: http.Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'request') return emit.call(this, event, ...args);
    const policy = policyOf();
    const probe = t.tracing.probe();
    const logs = policy?.accessLog !== undefined;
    if (!probe.on && !logs) return emit.call(this, event, ...args);
    const req = args[0] as http.IncomingMessage;
    const res = args[1] as http.ServerResponse;
    const startMs = performance.now();
    const startEpochMs = Date.now();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const authority = req.headers.host ?? '';
    const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
    let span: ReturnType<typeof startSpan> | undefined;
    if (probe.on) {
      const colon = authority.lastIndexOf(':');
      span = startSpan(
        t.tracing,
        method,
        SpanKind.SERVER,
        {
          [ATTR_HTTP_REQUEST_METHOD]: method,
          [ATTR_URL_PATH]: path,
          [ATTR_URL_SCHEME]: tls ? 'https' : 'http',
          [ATTR_SERVER_ADDRESS]: colon > 0 ? authority.slice(0, colon) : authority,
          ...(req.socket.localPort !== undefined && { [ATTR_SERVER_PORT]: req.socket.localPort }),
          ...(req.socket.remoteAddress !== undefined && { [ATTR_CLIENT_ADDRESS]: req.socket.remoteAddress }),
        },
        sampledParent(extractContext(req.headers), policy),
      );
    }
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      const status = res.headersSent ? res.statusCode : 0;
      const refusal = refusalOf(req);
      const peer = peerIdentityOfSocket(req.socket);
      const s = span?.span;
      if (s !== undefined) {
        if (status > 0) s.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
        if (peer !== undefined) s.setAttribute(WEFT.peer, peer);
        if (refusal !== undefined) {
          s.setAttribute(WEFT.deniedReason, refusal.reason);
          s.setAttribute(WEFT.deniedDetail, refusal.detail);
          if (refusal.policy !== undefined || refusal.limit !== undefined) s.setAttribute(WEFT.deniedPolicy, refusal.policy ?? refusal.limit!);
          s.setAttribute(WEFT.errorCode, refusal.code);
        }
        if (status >= 500 || status === 0) {
          s.setAttribute(ATTR_ERROR_TYPE, status === 0 ? 'aborted' : String(status));
          s.setStatus({ code: SpanStatusCode.ERROR });
        }
        s.end();
      }
      const durationMs = performance.now() - startMs;
      if (logs && shouldLog(policy, status, durationMs)) {
        const trace = traceIdOf(s);
        t.log.write({
          time: new Date(startEpochMs).toISOString(),
          direction: 'inbound',
          protocol: 'http',
          method,
          authority,
          path,
          status,
          duration_ms: Math.round(durationMs * 1000) / 1000,
          ...(refusal !== undefined && { flags: [`denied:${refusal.reason}`], error: refusal.code }),
          ...(trace !== undefined && { trace_id: trace }),
          ...(peer !== undefined && { peer }),
        });
      }
    };
    res.once('finish', finish);
    res.once('close', finish);
    return span !== undefined ? withContext(span.ctx, () => emit.call(this, event, ...args)) : emit.call(this, event, ...args);
  } as typeof server.emit;
}
