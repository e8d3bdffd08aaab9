// Server-side deadline enforcement for mesh.serve(): reads x-weft-timeout-ms, answers 504 when it has already passed,
// and runs the handler with the deadline as its request's Deadline and as the async context outgoing calls inherit.
import type http from 'node:http';
import { parseTimeoutHeader, runWithDeadline, setRequestDeadline, startDeadline, TIMEOUT_HEADER } from '../../policy/deadline/deadline.js';

/** Header naming why the mesh answered a request itself. */
export const MESH_ERROR_HEADER = 'x-mesh-error';

/**
 * Wraps a request listener: a request without a (valid) x-weft-timeout-ms header goes straight to `listener` (one
 * property read); one whose deadline is 0 is answered 504 with `x-mesh-error: deadline-exceeded` without calling
 * it; otherwise the listener runs inside the deadline's async context, with deadlineOf(req) set and a timer (cleared
 * when the response closes) that aborts the deadline's signal when time is up.
 */
export function withDeadline(listener: http.RequestListener): http.RequestListener {
  return function deadlineListener(this: unknown, req: http.IncomingMessage, res: http.ServerResponse): void {
    const raw = req.headers[TIMEOUT_HEADER];
    if (raw === undefined) return void listener.call(this, req, res);
    const timeoutMs = parseTimeoutHeader(raw);
    if (timeoutMs === undefined) return void listener.call(this, req, res);
    if (timeoutMs <= 0) {
      res.writeHead(504, { [MESH_ERROR_HEADER]: 'deadline-exceeded', 'content-type': 'text/plain' });
      res.end("the caller's deadline had passed before the request arrived\n");
      req.resume();
      return;
    }
    const deadline = startDeadline(timeoutMs);
    setRequestDeadline(req, deadline);
    res.once('close', deadline.dispose);
    runWithDeadline(deadline, () => listener.call(this, req, res));
  };
}

/** Replaces every 'request' listener `server` has now with its withDeadline() wrapper (for servers passed to serve). */
export function enforceDeadlines(server: http.Server): void {
  const listeners = server.listeners('request') as http.RequestListener[];
  server.removeAllListeners('request');
  for (const l of listeners) server.on('request', withDeadline(l));
}
