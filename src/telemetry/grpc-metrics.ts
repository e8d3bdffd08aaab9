// Golden metrics of gRPC: a grpc-js dynamic filter that records each outbound logical call into its route's series
// (added by the ConfigSelector, cached per route config and method), and a server interceptor for inbound calls.
import type * as grpcTypes from '@grpc/grpc-js';
import type { experimental, StatusObject } from '@grpc/grpc-js';
import type { GrpcJs } from '../client/grpc/grpc-js.js';
import { meshPeerOfCall } from '../server/inbound/identity.js';
import { methodIndex, type RouteSeries } from './metrics-registry.js';
import type { MeshMetrics } from './mesh-metrics.js';

type Filter = experimental.Filter;
type FilterFactory<T extends Filter> = experimental.FilterFactory<T>;
type CallConfig = ReturnType<experimental.ConfigSelector['invoke']>;

const POST = methodIndex('POST');
const CANCELLED = 1;

/** One outbound call: its start, and its status recorded once when trailers arrive (whatever ended the call). */
class ClientMetricsFilter implements Filter {
  readonly #series: RouteSeries;
  readonly #startMs = performance.now();

  constructor(series: RouteSeries) {
    this.#series = series;
  }
  async sendMetadata(metadata: Promise<grpcTypes.Metadata>): Promise<grpcTypes.Metadata> {
    return metadata;
  }
  receiveMetadata(metadata: grpcTypes.Metadata): grpcTypes.Metadata {
    return metadata;
  }
  sendMessage<T>(message: Promise<T>): Promise<T> {
    return message;
  }
  receiveMessage(message: Promise<Buffer>): Promise<Buffer> {
    return message;
  }
  receiveTrailers(status: StatusObject): StatusObject {
    this.#series.record(POST, status.code, undefined, performance.now() - this.#startMs);
    return status;
  }
}

/**
 * Adds the metrics filter to the ConfigSelector's answers: `withMetrics(config, method)` returns `config` with a filter
 * recording into the series of (authority, the config's route, method). A shared (frozen) config is extended once per
 * method and cached; a per-call one (retry or hash policies) is copied. Called per call; never throws.
 */
export function grpcClientMetrics(metrics: MeshMetrics, authority: string, routeRetry: (route: string) => Parameters<MeshMetrics['outboundSeries']>[3]): (config: CallConfig, method: string, route: string) => CallConfig {
  const cache = new WeakMap<CallConfig, Map<string, CallConfig>>();
  const factories = new Map<string, FilterFactory<Filter>>();
  const factoryFor = (route: string, method: string): FilterFactory<Filter> => {
    const key = `${route}\0${method}`;
    let f = factories.get(key);
    if (f === undefined) {
      const series = metrics.outboundSeries('grpc', authority, route, routeRetry(route), method);
      factories.set(key, (f = { createFilter: () => new ClientMetricsFilter(series) }));
    }
    return f;
  };
  const extend = (config: CallConfig, method: string, route: string): CallConfig => ({
    ...config,
    // Outermost: it sees the status whatever filter (fault, concurrency limit) or picker ended the call.
    dynamicFilterFactories: [factoryFor(route, method), ...config.dynamicFilterFactories],
  });
  return (config, method, route) => {
    if (!Object.isFrozen(config)) return extend(config, method, route);
    let byMethod = cache.get(config);
    if (byMethod === undefined) cache.set(config, (byMethod = new Map()));
    let out = byMethod.get(method);
    if (out === undefined) byMethod.set(method, (out = Object.freeze(extend(config, method, route))));
    return out;
  };
}

/**
 * The server interceptor of inbound gRPC metrics. It must come first in the server's list (grpc-js wraps the base
 * call with the first), so it sees every status: the handler's, and the inbound policy's refusals. A call its client
 * cancelled counts as CANCELLED. Series are cached per (caller identity, method).
 */
export function grpcServerMetricsInterceptor(grpc: GrpcJs, metrics: MeshMetrics): grpcTypes.ServerInterceptor {
  const byPeer = new Map<string, Map<string, RouteSeries>>();
  const seriesOf = (principal: string | undefined, path: string): RouteSeries => {
    const key = principal ?? '';
    let byPath = byPeer.get(key);
    if (byPath === undefined) byPeer.set(key, (byPath = new Map()));
    let s = byPath.get(path);
    if (s === undefined) byPath.set(path, (s = metrics.inboundSeries('grpc', principal, path)));
    return s;
  };
  return (method, call) => {
    const start = performance.now();
    const series = seriesOf(meshPeerOfCall(call).principal, method.path);
    let done = false;
    const record = (code: number): void => {
      if (done) return;
      done = true;
      series.record(POST, code, undefined, performance.now() - start);
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: () => record(CANCELLED) }),
      sendStatus: (status, nextStatus) => {
        record(status.code);
        nextStatus(status);
      },
    });
  };
}
