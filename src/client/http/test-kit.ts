// Test helpers for the HTTP client: a fake Discovery backed by a WatchCell, MeshState builders and a loopback echo server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WatchCell, type Disposable } from '../../core/watch.js';
import type { Discovery, DiscoveryStatus, NackEvent } from '../../discovery/discovery.js';
import type {
  ClusterState,
  HeaderMatcher,
  MeshState,
  PathMatcher,
  Route,
  TargetState,
} from '../../discovery/mesh-state.js';

/** A Discovery whose state the test sets; resolve() answers from the state, waiting for a decisive answer. */
export class FakeDiscovery implements Discovery {
  /** The state cell; tests call `publish()` (or `cell.set`) to change it. */
  readonly cell: WatchCell<MeshState>;
  readonly state: WatchCell<MeshState>;
  /** Every target passed to resolve(), in order. */
  readonly resolved: string[] = [];
  connected = true;
  closed = false;
  #generation = 0;

  constructor(targets: Record<string, TargetState> = {}, clusters: ClusterState[] = []) {
    this.cell = new WatchCell<MeshState>(makeState(0, targets, clusters));
    this.state = this.cell;
  }

  /** Publishes a new state with a higher generation. */
  publish(targets: Record<string, TargetState>, clusters: ClusterState[]): MeshState {
    const state = makeState(++this.#generation, targets, clusters);
    this.cell.set(state);
    return state;
  }

  resolve(target: string, timeoutMs: number): Promise<TargetState> {
    this.resolved.push(target);
    const decisive = (): TargetState | undefined => {
      const ts = this.cell.get().targets.get(target);
      return ts !== undefined && ts.status !== 'pending' ? ts : undefined;
    };
    const now = decisive();
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        sub.dispose();
        resolve({ status: 'pending' });
      }, timeoutMs);
      const sub = this.cell.onChange(() => {
        const ts = decisive();
        if (ts === undefined) return;
        clearTimeout(timer);
        sub.dispose();
        resolve(ts);
      });
    });
  }

  status(): DiscoveryStatus {
    return Object.freeze({ connected: this.connected, nodeId: 'test-node', server: 'fake', types: [] });
  }

  onNack(_fn: (event: NackEvent) => void): Disposable {
    return { dispose() {} };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function makeState(generation: number, targets: Record<string, TargetState>, clusters: ClusterState[]): MeshState {
  return Object.freeze({
    generation,
    targets: new Map(Object.entries(targets)),
    clusters: new Map(clusters.map((c) => [c.name, c])),
  });
}

/** A resolved target whose single virtual host (`*`) has `routes`. */
export function resolvedTarget(listener: string, routes: Route[]): TargetState {
  return {
    status: 'resolved',
    routes: { listener, routeConfig: listener, virtualHosts: [{ name: listener, domains: ['*'], routes }] },
  };
}

/** Options of route(). */
export interface RouteSpec {
  readonly path?: PathMatcher;
  readonly headers?: HeaderMatcher[];
  readonly clusters: readonly (string | { cluster: string; weight: number })[];
  readonly timeoutMs?: number;
}

/** A forward route named `name`. */
export function route(name: string, spec: RouteSpec): Route {
  const clusters = spec.clusters.map((c) => (typeof c === 'string' ? { cluster: c, weight: 1 } : c));
  return {
    name,
    path: spec.path ?? { kind: 'prefix', value: '/', ignoreCase: false },
    headers: spec.headers ?? [],
    queryParams: [],
    action: {
      kind: 'forward',
      clusters,
      totalWeight: clusters.reduce((a, c) => a + c.weight, 0),
      timeoutMs: spec.timeoutMs,
    },
  };
}

/** A cluster with endpoints on 127.0.0.1 at `ports` (weight 1, or as given). */
export function cluster(name: string, ports: readonly (number | { port: number; weight: number })[], endpointsKnown = true): ClusterState {
  return {
    name,
    edsServiceName: name,
    lbPolicy: 'round-robin',
    connectTimeoutMs: 5_000,
    endpointsKnown,
    endpoints: ports.map((p) => ({
      address: '127.0.0.1',
      port: typeof p === 'number' ? p : p.port,
      weight: typeof p === 'number' ? 1 : p.weight,
      locality: { region: '', zone: '', subZone: '' },
      health: 'HEALTHY' as const,
    })),
  };
}

/** A loopback HTTP server that answers JSON `{ id, method, url, host }`; `x-test-delay-ms` delays the answer. */
export interface EchoServer {
  readonly id: string;
  readonly port: number;
  readonly server: http.Server;
  /** Requests seen so far. */
  readonly seen: { method: string; url: string; host: string | undefined }[];
  close(): Promise<void>;
}

/** Starts an EchoServer on 127.0.0.1, port 0. */
export async function startEcho(id: string): Promise<EchoServer> {
  const seen: EchoServer['seen'] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host });
    const delayMs = Number(req.headers['x-test-delay-ms'] ?? 0);
    const answer = (): void => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id, method: req.method, url: req.url, host: req.headers.host }));
    };
    req.resume();
    req.on('end', () => (delayMs > 0 ? setTimeout(answer, delayMs) : answer()));
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    id,
    port,
    server,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
