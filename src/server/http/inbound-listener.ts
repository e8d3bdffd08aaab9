// The HTTP side of the inbound pipeline: wraps a node:http request listener so authn → authz → rate limit run before
// it, answering refusals itself (401 / 403 / 429 with x-mesh-error). A server with no enforcing policy pays one check.
import type http from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { normalizePath, type Decision, type InboundRequest } from '../inbound/pipeline.js';
import { httpRefusal, type Refusal } from '../inbound/refusal.js';
import { isMeshTls, peerIdentityOfSocket, setJwtClaims } from '../inbound/identity.js';
import type { InboundRuntime } from '../inbound/runtime.js';
import { noteRefusal } from '../../telemetry/refusals.js';

/**
 * Runs the inbound pipeline on `req`, then `pass()` if it is allowed (after removing the token headers of providers
 * that do not forward them, and with a normalized path if the target had dot segments) or `refuse(refusal)` if not.
 * Nothing runs when the caller went away while its token was being verified.
 */
function inspect(req: http.IncomingMessage, runtime: InboundRuntime, refuse: (r: Refusal) => void, pass: () => void): void {
  const target = normalizePath(req.url ?? '/');
  const inbound = requestOf(req, target.path, target.changed ? `${target.path}${target.query}` : (req.url ?? '/'));
  const proceed = (d: Decision): void => {
    if (!d.ok) return refuse(d.refusal);
    if (req.destroyed) return;
    for (const name of d.strip) delete req.headers[name];
    if (d.claims !== undefined) setJwtClaims(req, d.claims);
    // What was authorized is what the handler routes on (Envoy forwards the normalized path the same way).
    if (target.changed) req.url = `${target.path}${target.query}`;
    pass();
  };
  const decision = runtime.check(inbound);
  if (decision instanceof Promise) void decision.then(proceed);
  else proceed(decision);
}

/**
 * Wraps `listener`: while the runtime's pipeline passes everything, a request goes straight to `listener`; otherwise
 * the request is inspected first and `listener` runs only if it is allowed. A refused request is answered here and
 * never reaches `listener`.
 */
export function withInbound(listener: http.RequestListener, runtime: InboundRuntime): http.RequestListener {
  return function inboundListener(this: unknown, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (runtime.current?.passThrough === true) return void listener.call(this, req, res);
    inspect(req, runtime, (r) => refuse(res, req, r, runtime.service), () => listener.call(this, req, res));
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
    // Only mTLS the mesh terminated counts: an https.Server's own TLS is plaintext to the mesh (STRICT refuses it).
    peerVerified: isMeshTls(socket) && socket.authorized,
    tls: isMeshTls(socket),
    localPort: socket.localPort ?? 0,
    jwt: undefined,
  };
}

function refuse(res: http.ServerResponse, req: http.IncomingMessage, refusal: Refusal, service: string): void {
  noteRefusal(req, refusal);
  req.resume(); // discard an unread body so the connection can be reused
  if (res.headersSent || res.destroyed) return;
  const answer = httpRefusal(refusal, service);
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

/** The server events that hand a request to application code: each goes through the inbound pipeline first. */
const GUARDED_EVENTS: ReadonlySet<string> = new Set(['request', 'checkContinue', 'checkExpectation', 'upgrade', 'connect']);

/**
 * Makes every request `server` hands to application code pass the inbound pipeline first, whichever listener takes it
 * and whenever it was added: 'request' (and 'checkContinue' / 'checkExpectation', which Node emits instead of it for
 * `Expect:` requests when someone listens) and 'upgrade' / 'connect' (WebSocket upgrades, CONNECT tunnels: what `ws`
 * or socket.io attach, with no response object to answer on). Done at the server's emit, so listeners added after
 * serve() are covered too; a refused request reaches no listener: it is answered on its response, or written on its
 * socket, which is then closed.
 */
export function enforceInbound(server: http.Server, runtime: InboundRuntime): void {
  const emit = server.emit as (this: http.Server, event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = function guardedEmit(this: http.Server, event: string | symbol, ...args: unknown[]): boolean {
    if (typeof event !== 'string' || !GUARDED_EVENTS.has(event) || runtime.current?.passThrough === true) return emit.call(this, event, ...args);
    const req = args[0] as http.IncomingMessage;
    const answer =
      event === 'upgrade' || event === 'connect'
        ? (r: Refusal) => refuseOnSocket(args[1] as Duplex, r, runtime.service)
        : (r: Refusal) => refuse(args[1] as http.ServerResponse, req, r, runtime.service);
    inspect(req, runtime, answer, () => void emit.call(this, event, ...args));
    return true;
  } as typeof server.emit;
}

/** Answers a refused upgrade or CONNECT on its raw socket (there is no response object), then closes it. */
function refuseOnSocket(socket: Duplex, refusal: Refusal, service: string): void {
  if (socket.destroyed) return;
  const answer = httpRefusal(refusal, service);
  const head = [`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}`, 'connection: close', `content-length: ${Buffer.byteLength(answer.body)}`];
  for (const [k, v] of Object.entries(answer.headers)) head.push(`${k}: ${v}`);
  socket.end(`${head.join('\r\n')}\r\n\r\n${answer.body}`);
}
