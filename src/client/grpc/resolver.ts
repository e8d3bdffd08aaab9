// The `weft:` name resolver for grpc-js (`new Client('weft:///payments', ...)`): it asks the mesh's discovery for the
// target, and on every change that concerns it hands grpc-js the compiled plan (ConfigSelector) and the clusters'
// policies for the `weft_mesh` LB policy. grpc-js asks for re-resolution whenever a connection drops; that is only a
// hint here (xDS pushes changes), so it never makes the resolver answer again unless something changed.
import type { MeshTelemetry } from '../../telemetry/mesh-telemetry.js';
import type { experimental, ChannelOptions } from '@grpc/grpc-js';
import { ERROR_CODES, MeshError } from '../../core/errors.js';
import { grpcStatusOf } from './status-map.js';
import type { Logger } from '../../core/logger.js';
import type { Disposable } from '../../core/watch.js';
import type { Discovery } from '../../discovery/discovery.js';
import type { ClusterState, MeshState, TargetState } from '../../discovery/mesh-state.js';
import type { ClusterPolicies, ClusterPolicyRegistry } from '../cluster-policies.js';
import type { GrpcJs } from './grpc-js.js';
import type { MeshTls } from '../../identity/mesh-tls.js';
import { ATTRIBUTE, LB_POLICY_NAME, registerMeshLoadBalancer } from './lb-policy.js';
import { compileGrpcTarget, type GrpcTargetPlan } from './route-plan.js';
import type { MeshMetrics } from '../../telemetry/mesh-metrics.js';

/** The URI scheme Weft registers with grpc-js: `weft:///<service>[:<port>]`. */
export const WEFT_SCHEME = 'weft';

/** Channel option naming the mesh a channel belongs to (set by mesh.grpc.channelOptions()). */
export const MESH_OPTION = 'weft.mesh';

/** What the resolver hands grpc-js for a target: its plan and policies, or why there is none. */
export type TargetResolution =
  | { readonly kind: 'ok'; readonly plan: GrpcTargetPlan; readonly policies: ReadonlyMap<string, ClusterPolicies>; readonly tls?: MeshTls | undefined }
  | { readonly kind: 'error'; readonly error: MeshError };

/** What a mesh gives its gRPC channels. */
export interface GrpcRuntimeOptions {
  readonly discovery: Discovery;
  readonly policies: ClusterPolicyRegistry;
  /** How long a channel's first resolution waits for discovery (ms). */
  readonly resolveTimeoutMs: number;
  readonly grpc: GrpcJs;
  readonly logger: Logger;
  /** Random source for weighted splits (tests inject a seeded one). */
  readonly random?: () => number;
  /** The workload identity's TLS side: channels then connect with mTLS where a cluster says so. None: plaintext only. */
  readonly tls?: MeshTls | undefined;
  /** Golden metrics of outbound calls; undefined = none. */
  readonly metrics?: MeshMetrics | undefined;
  /** Tracing and access logs of calls (src/telemetry/grpc-client.ts); none = not traced. */
  readonly telemetry?: MeshTelemetry;
}

const runtimes = new Map<number, GrpcRuntime>();
let nextId = 1;

/**
 * One mesh's gRPC side: the source of TargetResolutions for its channels. Registered in a process-wide table under
 * `id`, which mesh.grpc.channelOptions() puts in the channel options so the resolver finds its mesh.
 */
export class GrpcRuntime {
  /** The value of the `weft.mesh` channel option for this mesh. */
  readonly id = nextId++;
  readonly #options: GrpcRuntimeOptions;
  #closed = false;

  constructor(options: GrpcRuntimeOptions) {
    this.#options = options;
    registerMeshLoadBalancer(options.grpc);
    registerWeftResolver(options.grpc);
    runtimes.set(this.id, this);
  }

  /**
   * Calls `fn` (never synchronously) with the target's resolution once discovery answers, and again whenever its
   * routes or any cluster they name change. A target discovery cannot resolve in time gets an UNAVAILABLE error, and
   * a later answer still arrives.
   */
  watch(authority: string, fn: (r: TargetResolution) => void): Disposable {
    const { discovery, resolveTimeoutMs } = this.#options;
    let disposed = false;
    let lastTarget: TargetState | undefined;
    let lastClusters: readonly (ClusterState | undefined)[] = [];
    let plan: GrpcTargetPlan | undefined;
    // Never throws into discovery's watch or the resolve() promise: a bug compiling one target fails that target's
    // calls with WEFT_ERR_INTERNAL (and is logged) instead of leaving the channel waiting or the process crashing.
    const evaluate = (state: MeshState): boolean => {
      try {
        return evaluateUnsafe(state);
      } catch (e: unknown) {
        this.#options.logger.error('weft: compiling a gRPC target failed', { authority, error: String(e) });
        lastTarget = undefined;
        fn({ kind: 'error', error: new MeshError(ERROR_CODES.INTERNAL, `weft: compiling the routes of ${authority} failed: ${String(e)}`, { cause: e }) });
        return true;
      }
    };
    const evaluateUnsafe = (state: MeshState): boolean => {
      if (disposed || this.#closed) return true;
      const ts = state.targets.get(authority);
      if (ts === undefined || ts.status === 'pending') return false;
      if (ts.status !== 'resolved') {
        if (ts === lastTarget) return true;
        lastTarget = ts;
        fn({
          kind: 'error',
          error:
            ts.status === 'absent'
              ? new MeshError(ERROR_CODES.UNKNOWN_SERVICE, `'${authority}' is not a mesh service: the control plane has no listener '${authority}'`, {
                  rejected: true,
                  details: { authority },
                })
              : new MeshError(ERROR_CODES.CONFIG_REJECTED, `configuration for ${authority} was refused (NACKed) and there is no last good value: ${ts.message}`, {
                  rejected: true,
                  details: { authority, reason: ts.message },
                }),
        });
        return true;
      }
      if (ts !== lastTarget || plan === undefined) plan = compileGrpcTarget(authority, ts.routes, this.#options.grpc, this.#options.random, (p) => this.#options.policies.concurrencyLimiter(p), this.#options.metrics, this.#options.telemetry);
      const clusters = [...plan.clusters].map((c) => state.clusters.get(c));
      if (ts === lastTarget && clusters.length === lastClusters.length && clusters.every((c, i) => c === lastClusters[i])) return true;
      lastTarget = ts;
      lastClusters = clusters;
      fn({ kind: 'ok', plan, policies: this.#options.policies.forState(state), tls: this.#options.tls });
      return true;
    };
    const subscription = discovery.state.onChange(evaluate);
    void discovery.resolve(authority, resolveTimeoutMs).then(() => {
      if (evaluate(discovery.state.get()) || disposed || this.#closed) return;
      fn({
        kind: 'error',
        error: new MeshError(ERROR_CODES.CONFIG_TIMEOUT, `discovery did not resolve ${authority} within ${resolveTimeoutMs} ms; is the control plane reachable?`, {
          retryable: true,
          details: { authority, timeoutMs: resolveTimeoutMs },
        }),
      });
    });
    return {
      dispose: () => {
        disposed = true;
        subscription.dispose();
      },
    };
  }

  /** Unregisters the runtime: channels of this mesh that resolve again fail with UNAVAILABLE. Idempotent. */
  close(): void {
    this.#closed = true;
    runtimes.delete(this.id);
  }
}

function runtimeFor(options: ChannelOptions): GrpcRuntime | MeshError {
  const id = options[MESH_OPTION];
  if (typeof id === 'number') {
    return runtimes.get(id) ?? new MeshError(ERROR_CODES.CLOSED, `the mesh of this channel (${MESH_OPTION}=${id}) is closed; create the client from a live mesh`, { rejected: true });
  }
  if (runtimes.size === 1) return runtimes.values().next().value!;
  return new MeshError(
    ERROR_CODES.INVALID_ARG,
    runtimes.size === 0
      ? `no mesh in this process serves 'weft:' targets: create one with createMesh() and pass mesh.grpc.channelOptions()`
      : `${runtimes.size} meshes in this process: pass mesh.grpc.channelOptions() so the channel knows which one`,
    { nonRetryable: true },
  );
}

let resolverRegistered = false;

/** Registers the `weft:` scheme with grpc-js once per process. */
export function registerWeftResolver(grpc: GrpcJs): void {
  if (resolverRegistered) return;
  resolverRegistered = true;
  const x = grpc.experimental;

  class WeftResolver implements experimental.Resolver {
    readonly #authority: string;
    readonly #listener: experimental.ResolverListener;
    readonly #options: ChannelOptions;
    #subscription: Disposable | undefined;

    constructor(target: experimental.GrpcUri, listener: experimental.ResolverListener, options: ChannelOptions) {
      this.#authority = target.path.replace(/^\/+/, '');
      this.#listener = listener;
      this.#options = options;
    }

    updateResolution(): void {
      if (this.#subscription !== undefined) return; // a hint only: changes are pushed
      const runtime = runtimeFor(this.#options);
      if (runtime instanceof MeshError) {
        setImmediate(() => this.#report({ kind: 'error', error: runtime }));
        return;
      }
      if (this.#authority === '') {
        const error = new MeshError(ERROR_CODES.INVALID_ARG, `the target has no service name (use weft:///<service>)`, { nonRetryable: true });
        setImmediate(() => this.#report({ kind: 'error', error }));
        return;
      }
      this.#subscription = runtime.watch(this.#authority, (r) => this.#report(r));
    }

    #report(r: TargetResolution): void {
      try {
        this.#deliver(r);
      } catch {
        // grpc-js's listener threw (its channel is shutting down): nothing to tell it any more.
      }
    }

    #deliver(r: TargetResolution): void {
      if (r.kind === 'error') {
        const status = grpcStatusOf(r.error);
        this.#listener(x.statusOrFromError(status), {}, null, status.details);
        return;
      }
      this.#listener(
        x.statusOrFromValue([]),
        { [x.CHANNEL_ARGS_CONFIG_SELECTOR_KEY]: r.plan.configSelector, [ATTRIBUTE.plan]: r.plan, [ATTRIBUTE.policies]: r.policies, [ATTRIBUTE.tls]: r.tls },
        x.statusOrFromValue({ loadBalancingConfig: [{ [LB_POLICY_NAME]: {} }], methodConfig: [] }),
        `weft: listener '${r.plan.routes.listener}'`,
      );
    }

    destroy(): void {
      this.#subscription?.dispose();
      this.#subscription = undefined;
    }

    static getDefaultAuthority(target: experimental.GrpcUri): string {
      return target.path.replace(/^\/+/, '');
    }
  }

  x.registerResolver(WEFT_SCHEME, WeftResolver);
}
