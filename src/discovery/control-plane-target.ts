// The control-plane replicas a process may use: the `controlPlane` option validated into addresses, and the one grpc-js
// target every control-plane channel (ADS, Registry, Identity, Telemetry) is made with, so all of them fail over alike.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { experimental } from '@grpc/grpc-js';
import { invalidArg } from '../core/errors.js';

/**
 * The grpc-js scheme of a list of replicas: `weft-control-plane:///host1:port1,host2:port2`. Its resolver gives the
 * channel every address in list order (names looked up with the system resolver), so grpc-js's default pick_first
 * policy keeps one connection and, when that replica dies, connects to the next one at once.
 */
export const CONTROL_PLANE_SCHEME = 'weft-control-plane';
/** Port of an address given without one. */
export const DEFAULT_CONTROL_PLANE_PORT = 15010;
/** Shortest time between two DNS look-ups of the same list, however often grpc-js asks for re-resolution (ms). */
const MIN_LOOKUP_INTERVAL_MS = 5_000;

/**
 * Validates `value` (one `http://host:port` URL, a comma-separated list of them, or an array) into `host:port`
 * addresses (an IPv6 literal bracketed), in the order given, duplicates removed. Throws WEFT_ERR_INVALID_ARG naming
 * the bad entry, its position and `where` the value came from.
 */
export function parseControlPlanes(value: string | readonly string[], where: string): string[] {
  const entries = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : Array.isArray(value) ? [...value] : undefined;
  if (entries === undefined) return invalidArg(`${where} must be a URL like http://127.0.0.1:15010 or a list of them, got ${JSON.stringify(value)}`);
  if (entries.length === 0) invalidArg(`${where} must name at least one control plane (http://host:port)`);
  const addresses: string[] = [];
  entries.forEach((entry, i) => {
    const at = entries.length === 1 ? where : `${where}[${i}]`;
    if (typeof entry !== 'string') return invalidArg(`${at} must be a string like http://127.0.0.1:15010, got ${JSON.stringify(entry)}`);
    if (entry === '') return invalidArg(`${at} is empty: give http://host:port (plaintext gRPC)`);
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      return invalidArg(`${at} must be a URL like http://127.0.0.1:15010, got '${entry}'`);
    }
    if (url.protocol !== 'http:' || url.hostname === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '') {
      return invalidArg(`${at} must be http://host:port (plaintext gRPC, no path or credentials), got '${entry}'`);
    }
    const address = `${url.hostname}:${url.port === '' ? DEFAULT_CONTROL_PLANE_PORT : url.port}`;
    if (!addresses.includes(address)) addresses.push(address);
  });
  return addresses;
}

/** `list` in a random order (Fisher–Yates over `random`, which returns [0, 1)), so processes spread over replicas. */
export function shuffledControlPlanes(list: readonly string[], random: () => number = Math.random): string[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * The grpc-js target for `addresses` (from parseControlPlanes): the address itself when there is one (grpc-js's own
 * DNS resolver, unchanged behaviour), else a `weft-control-plane:` target over all of them in this order (registering
 * that scheme with grpc-js on first use). Channels made from it connect to the first address that answers and move to
 * another when their replica goes away; see docs/control-plane-failover.md.
 */
export function controlPlaneTarget(addresses: readonly string[]): string {
  if (addresses.length === 0) invalidArg('controlPlaneTarget: no control-plane address');
  if (addresses.length === 1) return addresses[0]!;
  registerControlPlaneResolver();
  return `${CONTROL_PLANE_SCHEME}:///${addresses.join(',')}`;
}

/** `host:port` → { host, port }, the host without IPv6 brackets; undefined if malformed. */
function splitAddress(address: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (m === null || !(port > 0 && port < 65_536)) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

let registered = false;

/** Registers the `weft-control-plane:` scheme with grpc-js, once per process (global to grpc-js, hence lazily). */
function registerControlPlaneResolver(): void {
  if (registered) return;
  registered = true;
  const x = grpc.experimental;

  class ControlPlaneResolver implements experimental.Resolver {
    readonly #entries: readonly string[];
    readonly #listener: experimental.ResolverListener;
    /** The last list given to the channel (`host:port` joined); undefined until the first, and again after destroy(). */
    #delivered: string | undefined;
    #lookingUp = false;
    #lastLookupMs = 0;

    constructor(target: experimental.GrpcUri, listener: experimental.ResolverListener) {
      this.#entries = target.path.replace(/^\/+/, '').split(',').filter((e) => e !== '');
      this.#listener = listener;
    }

    /**
     * Resolves the list (asynchronously, never from inside this call: answering synchronously makes grpc-js loop) and
     * gives it to the channel the first time and whenever a host name's addresses changed. A re-resolution request
     * (a subchannel failed) looks names up again at most every 5 s; a list of IP literals never changes.
     */
    updateResolution(): void {
      if (this.#lookingUp) return;
      if (this.#delivered !== undefined && Date.now() - this.#lastLookupMs < MIN_LOOKUP_INTERVAL_MS) return;
      this.#lookingUp = true;
      this.#lastLookupMs = Date.now();
      void this.#resolve().finally(() => (this.#lookingUp = false));
    }

    async #resolve(): Promise<void> {
      const addresses: { host: string; port: number }[] = [];
      const failures: string[] = [];
      for (const entry of this.#entries) {
        const hp = splitAddress(entry);
        if (hp === undefined) {
          failures.push(`'${entry}' is not host:port`);
          continue;
        }
        if (isIP(hp.host) !== 0) {
          addresses.push(hp);
          continue;
        }
        try {
          for (const a of await lookup(hp.host, { all: true })) addresses.push({ host: a.address, port: hp.port });
        } catch (e: unknown) {
          // One replica's name failing to resolve must not cost the others: skip it, and say so if none is left.
          failures.push(`${hp.host}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      await Promise.resolve(); // answer on a later tick even for a list of literals
      try {
        if (addresses.length === 0) {
          const details = `no control-plane address could be resolved (${failures.join('; ')})`;
          this.#listener(x.statusOrFromError({ code: grpc.status.UNAVAILABLE, details, metadata: new grpc.Metadata() }), {}, null, details);
          return;
        }
        const key = addresses.map((a) => `${a.host}:${a.port}`).join(',');
        if (key === this.#delivered) return;
        this.#delivered = key;
        this.#listener(x.statusOrFromValue(addresses.map((a) => ({ addresses: [a] }))), {}, null, '');
      } catch {
        // grpc-js's listener threw (its channel is shutting down): nothing to tell it any more.
      }
    }

    destroy(): void {
      // grpc-js reuses a resolver after an idle period: the next updateResolution() must deliver again.
      this.#delivered = undefined;
      this.#lastLookupMs = 0;
    }

    static getDefaultAuthority(target: experimental.GrpcUri): string {
      return target.path.replace(/^\/+/, '').split(',')[0] ?? '';
    }
  }

  x.registerResolver(CONTROL_PLANE_SCHEME, ControlPlaneResolver);
}
