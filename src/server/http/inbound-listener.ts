// The HTTP side of the inbound pipeline: wraps a node:http request listener so authn → authz → rate limit run before
// it, answering refusals itself (401 / 403 / 429 with x-mesh-error). A server with no enforcing policy pays one check.
import type http from 'node:http';
import { TLSSocket } from 'node:tls';
import { normalizePath, type Decision, type InboundRequest } from '../inbound/pipeline.js';
import { httpRefusal, type Refusal } from '../inbound/refusal.js';
import { peerIdentityOfSocket, setJwtClaims } from '../inbound/identity.js';
import type { InboundRuntime } from '../inbound/runtime.js';

/**
 * Wraps `listener`: while the runtime's pipeline passes everything, a request goes straight to `listener`; otherwise
 * the request is checked first and `listener` runs only if it is allowed (after removing the token headers of
 * providers that do not forward them, and with a normalized path if the target had dot segments). A refused
 * request is answered here and never reaches `listener`; a failure of the pipeline itself is answered 500.
 */
export function withInbound(listener: http.RequestListener, runtime: InboundRuntime): http.RequestListener {
  return function inboundListener(this: unknown, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (runtime.current?.passThrough === true) return void listener.call(this, req, res);
    const target = normalizePath(req.url ?? '/');
    const inbound = requestOf(req, target.path, target.changed ? `${target.path}${target.query}` : (req.url ?? '/'));
    const proceed = (d: Decision): void => {
      if (!d.ok) return refuse(res, req, d.refusal, runtime.service);
      if (req.destroyed) return; // the caller went away while its token was being verified
      for (const name of d.strip) delete req.headers[name];
      if (d.claims !== undefined) setJwtClaims(req, d.claims);
      // What was authorized is what the handler routes on (Envoy forwards the normalized path the same way).
      if (target.changed) req.url = `${target.path}${target.query}`;
      listener.call(this, req, res);
    };
    const decision = runtime.check(inbound);
    if (decision instanceof Promise) void decision.then(proceed);
    else proceed(decision);
  };
}

/** The InboundRequest of a node:http request (`path` normalized; `rawPath` the normalized target with its query). */
function requestOf(req: http.IncomingMessage, path: string, rawPath: string): InboundRequest {
  const socket = req.socket;
  const principal = peerIdentityOfSocket(socket);
  const headers = req.headers;
  return {
    method: req.method ?? 'GET',
    path,
    rawPath,
    authority: headers.host ?? '',
    header(name: string): string | undefined {
      const v = headers[name];
      return Array.isArray(v) ? v.join(',') : v;
    },
    principal,
    peerVerified: socket instanceof TLSSocket && socket.authorized,
    tls: socket instanceof TLSSocket,
    localPort: socket.localPort ?? 0,
    jwt: undefined,
  };
}

function refuse(res: http.ServerResponse, req: http.IncomingMessage, refusal: Refusal, service: string): void {
  req.resume(); // discard an unread body so the connection can be reused
  if (res.headersSent || res.destroyed) return;
  const answer = httpRefusal(refusal, service);
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

/**
 * Replaces the 'request' listeners `server` has now with one that runs the inbound pipeline once per request and then
 * calls each of them in order (so a server with several listeners is checked once, and refused once).
 */
export function enforceInbound(server: http.Server, runtime: InboundRuntime): void {
  const listeners = server.listeners('request') as http.RequestListener[];
  if (listeners.length === 0) return;
  server.removeAllListeners('request');
  const all: http.RequestListener = function (this: unknown, req, res) {
    for (const l of listeners) l.call(this, req, res);
  };
  server.on('request', withInbound(listeners.length === 1 ? listeners[0]! : all, runtime));
}
