// The server-side Listener of gRFC A36: what an xDS-enabled gRPC server (grpc-js-xds `XdsServer`) bound to IP:port
// gets for the name `grpc/server?xds.resource.listening_address=<IP:port>` (docs/xds-mapping.md "Server Listener"):
// the inbound Listener of its service (inbound-listener.ts) at its bound address.
import { isIP } from 'node:net';
import type { XdsResource } from '../model.js';
import { buildInboundHcm, buildInboundListener, INBOUND_NAME, PLAINTEXT_CHAINS, type ListeningAddress } from './inbound-listener.js';
import { DEFAULT_TRUST_DOMAIN } from '../../../src/identity/spiffe.js';

export type { ListeningAddress } from './inbound-listener.js';

/**
 * What a server Listener name starts with: the bootstrap's `server_listener_resource_name_template`
 * `grpc/server?xds.resource.listening_address=%s` (gRFC A36) with `%s` still to fill. The rest is the bound `IP:port`.
 */
export const SERVER_LISTENER_NAME_PREFIX = 'grpc/server?xds.resource.listening_address=';

/** Name of the one filter chain, its route config and virtual host (clients never see it; it shows in dumps). */
export const SERVER_INBOUND_NAME = INBOUND_NAME;

/** Outcome of reading a name: not a server Listener name at all, its address, or why the address is unusable. */
export type ServerListenerName =
  | { readonly kind: 'not-server' }
  | { readonly kind: 'server'; readonly address: ListeningAddress }
  | { readonly kind: 'malformed'; readonly error: string };

/** A server Listener for a name, or why there is none; undefined when the name is not a server Listener name. */
export type ServerListenerResult = { readonly ok: true; readonly resource: XdsResource } | { readonly ok: false; readonly error: string };

const PORT = /^[0-9]{1,5}$/;

/**
 * Reads `name`: `not-server` unless it starts with SERVER_LISTENER_NAME_PREFIX; otherwise the rest must be
 * `IPv4:port`, `[IPv6]:port` or plain `IPv6:port` (split at the last colon; grpc-js-xds always brackets), with a
 * port 1..65535, else `malformed` with a message naming the name and what is wrong. Never throws.
 */
export function parseServerListenerName(name: string): ServerListenerName {
  if (!name.startsWith(SERVER_LISTENER_NAME_PREFIX)) return { kind: 'not-server' };
  const text = name.slice(SERVER_LISTENER_NAME_PREFIX.length);
  const fail = (why: string): ServerListenerName => ({
    kind: 'malformed',
    error: `server listener name '${name}': ${why} (want IP:port after '${SERVER_LISTENER_NAME_PREFIX}', e.g. 127.0.0.1:50051 or [::1]:50051)`,
  });
  let ip: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return fail(`'${text}' has '[' without ']'`);
    if (text[close + 1] !== ':') return fail(`'${text}' has no ':port' after ']'`);
    ip = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return fail(`'${text}' has no port`);
    ip = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (isIP(ip) === 0) return fail(`'${ip}' is not an IP address`);
  const port = PORT.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return fail(`port '${portText}' is not 1..65535`);
  return { kind: 'server', address: { ip, port } };
}

/**
 * The server Listener `name` for a server bound to `address` (gRFC A36) when no policy applies: the inbound Listener
 * with no policy filters (inbound-listener.ts buildInboundListener), as grpc-js-xds accepts and serves it
 * (listener-resource-type.js validateResource, server.js BoundPortEntry / FilterChainEntry):
 * - `address.socket_address` = `address` exactly (the server compares it with the address it bound; a mismatch
 *   keeps it from serving);
 * - one filter chain, no `filter_chain_match` (matches every connection), holding exactly one network filter: an
 *   HttpConnectionManager (any other count or type is a NACK) with an inline `route_config` (no RDS round trip)
 *   whose one virtual host `*` has one route `prefix: /` with `non_forwarding_action` (any other action makes the
 *   server fail those calls with UNAVAILABLE), and the router as the last (only) HTTP filter;
 * - no `listener_filters`, no `use_original_dst` (each a NACK), no HCM `common_http_protocol_options`.
 * With policy, the snapshot cache serves the service's inbound Listener at the address instead. Pure; a fresh object.
 */
export function buildServerListener(name: string, address: ListeningAddress): XdsResource {
  const hcm = buildInboundHcm({ authorization: [], authentication: [], rateLimit: undefined }, { trustDomain: DEFAULT_TRUST_DOMAIN, issuers: [] });
  return buildInboundListener(name, hcm, PLAINTEXT_CHAINS, address);
}

/**
 * The server Listener `name` stands for: undefined when `name` is not a server Listener name, `{ ok: false, error }`
 * when its address is not IP:port (see parseServerListenerName), else the Listener of buildServerListener.
 * It depends on the name only. Never throws.
 */
export function serverListenerFor(name: string): ServerListenerResult | undefined {
  const parsed = parseServerListenerName(name);
  switch (parsed.kind) {
    case 'not-server':
      return undefined;
    case 'malformed':
      return { ok: false, error: parsed.error };
    case 'server':
      return { ok: true, resource: buildServerListener(name, parsed.address) };
  }
}
