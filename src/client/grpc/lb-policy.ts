// The grpc-js load-balancing policy `weft_mesh`: one per channel, fed by the `weft:` resolver with the target's plan and
// the mesh's ClusterPolicies. It keeps one grpc-js pick_first leaf (a subchannel with reconnect backoff) per endpoint
// of every cluster the target's routes name, and picks per call in the cluster the ConfigSelector chose, with the
// cluster's own balancer (src/client/balance/), circuit breaker, retry budget and outlier detector — the same objects
// the HTTP client uses for that cluster.
import { grpcCallOf } from '../../telemetry/grpc-client.js';
import type { experimental } from '@grpc/grpc-js';
import { GRPC_STATUS } from '../../core/classify.js';
import { ERROR_CODES, MeshError } from '../../core/errors.js';
import { grpcStatusOf } from './status-map.js';
import type { Disposable } from '../../core/watch.js';
import type { Endpoint as MeshEndpoint } from '../../discovery/mesh-state.js';
import type { EndpointHealth } from '../../policy/outlier/index.js';
import type { ClusterBreaker } from '../../policy/circuit-breaker/index.js';
import { httpStatusForGrpc } from '../../policy/fault/index.js';
import { buildPicker, loadOf, pickAvoiding, tracksLoad, type EndpointLoad, type Picker as MeshPicker } from '../balance/picker.js';
import { mostPreferred } from '../balance/priority.js';
import { endpointKey, type ClusterPolicies } from '../cluster-policies.js';
import { endpointTls, endpointTlsKey } from '../endpoint-tls.js';
import type { MeshTls } from '../../identity/mesh-tls.js';
import { MTLS_SUBCHANNEL_ARG, subchannelTls, type SubchannelTls } from './mesh-credentials.js';
import type { GrpcJs } from './grpc-js.js';
import { PICK, type GrpcTargetPlan } from './route-plan.js';

type LoadBalancer = experimental.LoadBalancer;
type ChannelControlHelper = experimental.ChannelControlHelper;
type Picker = experimental.Picker;
type PickArgs = experimental.PickArgs;
type PickResult = experimental.PickResult;
type LeafLoadBalancer = experimental.LeafLoadBalancer;
type ChannelOptions = import('@grpc/grpc-js').ChannelOptions;

/** The policy's name in a service config (`{loadBalancingConfig: [{weft_mesh: {}}]}`). */
export const LB_POLICY_NAME = 'weft_mesh';

/**
 * Resolver attribute keys (grpc-js merges attributes into the LB policy's channel options). They start with grpc-js's
 * SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX so that they never become subchannel arguments (which key the global subchannel
 * pool: a changing plan would otherwise make new connections on every update).
 */
export const ATTRIBUTE = Object.freeze({
  plan: 'grpc.internal.no_subchannel.weft.plan',
  policies: 'grpc.internal.no_subchannel.weft.policies',
  /** The mesh's MeshTls (absent: the process has no workload identity). */
  tls: 'grpc.internal.no_subchannel.weft.tls',
});

/** The header grpc-js sets on retry attempts (gRFC A6): the picker counts such picks against the retry budget. */
const PREVIOUS_ATTEMPTS = 'grpc-previous-rpc-attempts';

/** One endpoint of a cluster as the picker sees it. */
interface Item {
  readonly origin: string;
  readonly weight: number;
  readonly priority: number;
  readonly zone: string;
  readonly leaf: Picker;
  readonly load: EndpointLoad | undefined;
  readonly health: EndpointHealth | undefined;
}

/** A cluster's picking state for one picker generation. */
interface ClusterView {
  readonly name: string;
  readonly policies: ClusterPolicies;
  readonly picker: MeshPicker<Item>;
  /** True when some endpoint is connecting (or idle): an empty picker then queues instead of failing. */
  readonly connecting: boolean;
  readonly decayMs: number;
  /**
   * Why no endpoint can be used when that is about identity: the cluster is STRICT and this process has no workload
   * identity (`fatal`: nothing will change until the configuration does), or mTLS connections failed on a missing
   * certificate or a server presenting the wrong SPIFFE ID.
   */
  readonly identityError: { readonly error: MeshError; readonly fatal: boolean } | undefined;
}

let registered = false;

/** Registers `weft_mesh` with grpc-js once per process. */
export function registerMeshLoadBalancer(grpc: GrpcJs): void {
  if (registered) return;
  registered = true;
  const { experimental: x, connectivityState: State, Metadata: MetadataClass } = grpc;
  const { PickResultType } = x;

  class Config implements experimental.TypedLoadBalancingConfig {
    getLoadBalancerName(): string {
      return LB_POLICY_NAME;
    }
    toJsonObject(): object {
      return { [LB_POLICY_NAME]: {} };
    }
    static createFromJson(): Config {
      return new Config();
    }
  }

  const status = (code: number, details: string) => ({ code, details, metadata: new MetadataClass() });
  /** Fails the call at once (not retried by grpc-js: nothing was sent, and another attempt would be refused alike). */
  const drop = (error: MeshError): PickResult => {
    const { code, details } = grpcStatusOf(error);
    return { pickResultType: PickResultType.DROP, subchannel: null, status: status(code, details), onCallStarted: null, onCallEnded: null };
  };
  const queue: PickResult = { pickResultType: PickResultType.QUEUE, subchannel: null, status: null, onCallStarted: null, onCallEnded: null };
  /** Fails the call unless it waits for ready (then it queues until an endpoint is). */
  const unavailable = (error: MeshError): PickResult => {
    const { code, details } = grpcStatusOf(error);
    return { pickResultType: PickResultType.TRANSIENT_FAILURE, subchannel: null, status: status(code, details), onCallStarted: null, onCallEnded: null };
  };
  const noEndpoints = (authority: string, route: string, cluster: string, message: string, known: boolean): MeshError =>
    new MeshError(ERROR_CODES.NO_ENDPOINTS, `cluster '${cluster}' (route '${route}' of ${authority}) ${message}`, {
      rejected: true,
      details: { authority, route, cluster, endpointsKnown: known, status: 503 },
    });

  /** Picks per call: the cluster from pickInformation, then the cluster's balancer, breaker, budget and outlier hooks. */
  class MeshCallPicker implements Picker {
    readonly #clusters: ReadonlyMap<string, ClusterView>;
    readonly #authority: string;
    readonly #lastError: string | undefined;
    readonly #onRetry: ((route: string) => void) | undefined;

    constructor(clusters: ReadonlyMap<string, ClusterView>, authority: string, lastError: string | undefined, onRetry?: (route: string) => void) {
      this.#onRetry = onRetry;
      this.#clusters = clusters;
      this.#authority = authority;
      this.#lastError = lastError;
    }

    pick(args: PickArgs): PickResult {
      const info = args.extraPickInfo;
      const failCode = info[PICK.failCode];
      if (failCode !== undefined) {
        return { pickResultType: PickResultType.DROP, subchannel: null, status: status(Number(failCode), info[PICK.failDetails] ?? ''), onCallStarted: null, onCallEnded: null };
      }
      const name = info[PICK.cluster] ?? '';
      const view = this.#clusters.get(name);
      const route = info[PICK.route] ?? '';
      const authority = this.#authority;
      if (view === undefined) return unavailable(noEndpoints(authority, route, name, 'is not known yet', false));
      if (view.picker.size === 0) {
        if (view.connecting) return queue;
        const identity = view.identityError;
        if (identity !== undefined) return identity.fatal ? drop(identity.error) : unavailable(identity.error);
        const cluster = view.policies.cluster;
        const known = cluster.endpointsKnown;
        return unavailable(
          noEndpoints(
            authority,
            route,
            name,
            cluster.endpoints.length === 0
              ? known
                ? 'has no endpoints: no instance is registered or healthy'
                : 'has no endpoints yet: its assignment (EDS) has not arrived'
              : `has no reachable endpoint${this.#lastError ? `: ${this.#lastError}` : ''}`,
            known,
          ),
        );
      }
      // The endpoint first: a pick grpc-js will make again (the leaf is not ready) must not count against the
      // budget or the breaker twice, and a leaf pick takes nothing, so a refusal below has nothing to give back.
      const hash = info[PICK.hash];
      const tried = info[PICK.tried];
      const item =
        hash !== undefined
          ? view.picker.pick(Number(hash))
          : tried
            ? pickAvoiding(view.picker, (e) => `,${tried},`.includes(`,${e.origin},`))
            : view.picker.pick();
      const result = item.leaf.pick(args);
      if (result.pickResultType !== PickResultType.COMPLETE) return result;
      if (tried !== undefined) info[PICK.tried] = tried === '' ? item.origin : `${tried},${item.origin}`;
      const { retryBudget, breaker } = view.policies;
      const isRetry = args.metadata.get(PREVIOUS_ATTEMPTS).length > 0;
      let retrySlot = false;
      if (isRetry) {
        // As the HTTP retry layer does: the breaker's max_retries slot first, then the budget (a refused slot
        // spends no budget).
        if (breaker !== undefined) {
          if (!breaker.tryAcquireRetry()) return drop(breaker.overflowError('max_retries', authority, route));
          retrySlot = true;
        }
        if (!retryBudget.tryRetry()) {
          if (retrySlot) breaker!.releaseRetry();
          return drop(
            new MeshError(
              ERROR_CODES.OVERLOADED,
              `cluster '${name}' (route '${route}' of ${authority}): the retry budget is spent, so the failed call is not retried (retries may add ${retryBudget.percent} % of recent calls plus ${retryBudget.minRetriesPerSecond}/s)`,
              { rejected: true, details: { authority, route, cluster: name, reason: 'retry_budget', status: 503 } },
            ),
          );
        }
      } else {
        retryBudget.onRequest();
      }
      if (breaker !== undefined) {
        const refused = breaker.admit();
        if (refused !== undefined) {
          if (retrySlot) breaker.releaseRetry();
          return drop(breaker.overflowError(refused, authority, route));
        }
      }
      if (isRetry) this.#onRetry?.(route); // an attempt that is sent: counted for golden metrics
      // Nothing observes calls of a cluster without a breaker, outlier detection or a load-reading balancer: the
      // leaf's result goes back as it is (no allocation per call).
      const picked = breaker === undefined && item.load === undefined && item.health === undefined ? result : new TrackedCall(result.subchannel, view, item, retrySlot, breaker).result();
      // `trace-attempt`: a traced or logged call (src/telemetry/grpc-client.ts) gets an attempt span and its context in
      // this attempt's metadata; a WeakMap miss otherwise.
      const traced = grpcCallOf(info);
      return traced === undefined ? picked : traced.attempt(picked, args.metadata, name, item.origin.slice(7));
    }
  }

  /**
   * One picked call of a cluster with policies that observe it: its breaker admission, in-flight count and latency,
   * and its status for outlier detection. grpc-js calls onCallEnded only for a call it started, and a call can end
   * before it starts (cancelled while waiting for call credentials, or re-picked because the subchannel left READY):
   * the breaker admission taken at pick time is then given back on the next turn of the event loop (one sweep for
   * all such calls of that turn).
   */
  class TrackedCall {
    readonly #subchannel: PickResult['subchannel'];
    readonly #view: ClusterView;
    readonly #item: Item;
    readonly #retrySlot: boolean;
    readonly #breaker: ClusterBreaker | undefined;
    #started = false;
    #released = false;
    #startMs = 0;

    constructor(subchannel: PickResult['subchannel'], view: ClusterView, item: Item, retrySlot: boolean, breaker: ClusterBreaker | undefined) {
      this.#subchannel = subchannel;
      this.#view = view;
      this.#item = item;
      this.#retrySlot = retrySlot;
      this.#breaker = breaker;
      if (breaker !== undefined) {
        unstarted.push(this);
        if (unstarted.length === 1) setImmediate(sweepUnstarted);
      }
    }

    /** The pick result, in the one shape grpc-js sees from this picker. */
    result(): PickResult {
      return {
        pickResultType: PickResultType.COMPLETE,
        subchannel: this.#subchannel,
        status: null,
        onCallStarted: this.#onStarted,
        onCallEnded: this.#onEnded,
      };
    }

    /** Gives back an admission whose call never started (called by the sweep). */
    expire(): void {
      if (!this.#started) this.#release();
    }

    #release(): void {
      if (this.#released) return;
      this.#released = true;
      const breaker = this.#breaker;
      if (breaker !== undefined) {
        breaker.ended(undefined, this.#started);
        if (this.#retrySlot) breaker.releaseRetry();
      }
    }

    readonly #onStarted = (): void => {
      this.#started = true;
      const breaker = this.#breaker;
      if (this.#released) {
        // Started after its admission was given back: count it again, without refusing (it is already on the wire).
        this.#released = false;
        if (breaker !== undefined && breaker.admit() !== undefined) this.#released = true;
      }
      breaker?.started();
      const load = this.#item.load;
      if (load !== undefined) {
        load.inflight++;
        this.#startMs = performance.now();
      }
    };

    readonly #onEnded = (code: number): void => {
      this.#release();
      const load = this.#item.load;
      if (load !== undefined && this.#startMs > 0) {
        load.inflight--;
        const now = performance.now();
        const latency = now - this.#startMs;
        load.observe(code === GRPC_STATUS.OK ? latency : Math.max(latency, load.ewmaMs), now, this.#view.decayMs);
      }
      // A call the caller cancelled says nothing about the endpoint.
      const health = this.#item.health;
      if (health !== undefined && code !== GRPC_STATUS.CANCELLED) health.responded(code === GRPC_STATUS.OK ? 200 : httpStatusForGrpc(code));
    };
  }

  const unstarted: TrackedCall[] = [];
  function sweepUnstarted(): void {
    const due = unstarted.splice(0);
    for (const call of due) call.expire();
  }

  interface LeafEntry {
    readonly key: string;
    readonly endpoint: MeshEndpoint;
    readonly leaf: LeafLoadBalancer;
  }

  /**
   * How the leaf of endpoint `e` of `cluster` connects: its key (the address, plus the peer IDs for mTLS, so a change of
   * mode makes a new leaf) and its mTLS settings; `missing` when the cluster takes mTLS only and there is no identity.
   */
  const leafOf = (cluster: ClusterPolicies['cluster'], e: MeshEndpoint, meshTls: MeshTls | undefined): { readonly key: string; readonly tls: SubchannelTls | undefined } | 'missing' => {
    const tls = endpointTls(cluster, e, meshTls !== undefined);
    if (tls === 'missing') return 'missing';
    const key = endpointKey(e.address, e.port);
    if (tls === 'plaintext') return { key, tls: undefined };
    return { key: `${key}|mtls|${endpointTlsKey(tls)}`, tls: subchannelTls(meshTls!, tls) };
  };
  const identityRequired = (cluster: string, authority: string): MeshError =>
    new MeshError(
      ERROR_CODES.IDENTITY,
      `cluster '${cluster}' (of ${authority}) takes mTLS only (its Service is STRICT) and this process has no workload identity: give it a bootstrap token (WEFT_TOKEN)`,
      { rejected: true, details: { cluster, authority, status: 503 } },
    );
  const identityFailed = (cluster: string, authority: string, cause: MeshError): MeshError =>
    new MeshError(ERROR_CODES.IDENTITY, `cluster '${cluster}' (of ${authority}): no mTLS connection could be made: ${cause.message}`, {
      rejected: true,
      cause,
      details: { cluster, authority, status: 503 },
    });

  class MeshLoadBalancer implements LoadBalancer {
    readonly #helper: ChannelControlHelper;
    readonly #childHelper: ChannelControlHelper;
    #leaves = new Map<string, LeafEntry>();
    #plan: GrpcTargetPlan | undefined;
    #meshTls: MeshTls | undefined;
    #policies: ReadonlyMap<string, ClusterPolicies> = new Map();
    #pickers = new Map<string, MeshPicker<Item>>();
    #subscriptions: Disposable[] = [];
    #paused = false;
    #lastError: string | undefined;
    #wasReady = false;

    constructor(helper: ChannelControlHelper) {
      this.#helper = helper;
      this.#childHelper = x.createChildChannelControlHelper(helper, {
        updateState: (_state, _picker, errorMessage) => {
          if (errorMessage) this.#lastError = errorMessage;
          this.#refresh();
        },
      });
    }

    updateAddressList(
      endpoints: experimental.StatusOr<experimental.Endpoint[]>,
      _config: experimental.TypedLoadBalancingConfig,
      options: ChannelOptions,
      resolutionNote: string,
    ): boolean {
      const plan = options[ATTRIBUTE.plan] as GrpcTargetPlan | undefined;
      const policies = options[ATTRIBUTE.policies] as ReadonlyMap<string, ClusterPolicies> | undefined;
      if (!endpoints.ok || plan === undefined || policies === undefined) {
        if (this.#plan === undefined) {
          const details = endpoints.ok ? 'weft: the resolver sent no mesh plan' : endpoints.error.details;
          this.#helper.updateState(State.TRANSIENT_FAILURE, new x.UnavailablePicker({ details }), details);
        }
        return true;
      }
      this.#plan = plan;
      this.#policies = policies;
      const meshTls = (this.#meshTls = options[ATTRIBUTE.tls] as MeshTls | undefined);
      const wanted = new Map<string, { readonly endpoint: MeshEndpoint; readonly tls: SubchannelTls | undefined }>();
      for (const name of plan.clusters) {
        const cluster = policies.get(name)?.cluster;
        for (const e of cluster?.endpoints ?? []) {
          const how = leafOf(cluster!, e, meshTls);
          if (how !== 'missing') wanted.set(how.key, { endpoint: e, tls: how.tls });
        }
      }
      this.#paused = true;
      const next = new Map<string, LeafEntry>();
      for (const [key, { endpoint, tls }] of wanted) {
        const old = this.#leaves.get(key);
        if (old !== undefined) {
          next.set(key, old.endpoint === endpoint ? old : { ...old, endpoint });
          continue;
        }
        // mTLS rides to the mesh's channel credentials as a subchannel argument (mesh-credentials.ts).
        const leafOptions = tls === undefined ? options : { ...options, [MTLS_SUBCHANNEL_ARG]: tls };
        const leaf = new x.LeafLoadBalancer({ addresses: [{ host: endpoint.address, port: endpoint.port }] }, this.#childHelper, leafOptions, resolutionNote);
        next.set(key, { key, endpoint, leaf });
        leaf.startConnecting();
      }
      for (const [key, old] of this.#leaves) if (!next.has(key)) old.leaf.destroy();
      this.#leaves = next;
      for (const s of this.#subscriptions) s.dispose();
      this.#subscriptions = [];
      for (const name of plan.clusters) {
        const outlier = policies.get(name)?.outlier;
        if (outlier !== undefined) this.#subscriptions.push(outlier.onChange(() => this.#refresh()));
      }
      this.#paused = false;
      this.#refresh();
      return true;
    }

    /** Rebuilds every cluster's picker from the leaves' states and publishes the channel state. */
    #refresh(): void {
      const plan = this.#plan;
      if (this.#paused || plan === undefined) return;
      const views = new Map<string, ClusterView>();
      let ready = false;
      let connecting = false;
      const pickers = new Map<string, MeshPicker<Item>>();
      for (const name of plan.clusters) {
        const policies = this.#policies.get(name);
        if (policies === undefined) continue;
        const { cluster, outlier, loads } = policies;
        const track = tracksLoad(cluster.lb);
        const now = performance.now();
        const items: Item[] = [];
        let clusterConnecting = false;
        let missing = false;
        let identityError: MeshError | undefined;
        for (const e of cluster.endpoints) {
          const how = leafOf(cluster, e, this.#meshTls);
          if (how === 'missing') {
            missing = true;
            continue;
          }
          const key = endpointKey(e.address, e.port);
          const entry = this.#leaves.get(how.key);
          if (entry === undefined) continue;
          identityError ??= how.tls?.lastIdentityError;
          const state = entry.leaf.getConnectivityState();
          if (state === State.IDLE) entry.leaf.exitIdle();
          if (state === State.CONNECTING || state === State.IDLE) clusterConnecting = true;
          if (state !== State.READY || outlier?.isEjected(key) === true) continue;
          items.push({
            origin: key,
            weight: e.weight,
            priority: e.priority ?? 0,
            zone: e.locality.zone,
            leaf: entry.leaf.getPicker(),
            load: track ? loadOf(loads, key, now) : undefined,
            health: outlier?.health(key),
          });
        }
        const picker = buildPicker(cluster.lb, mostPreferred(items, policies.preferZone), this.#pickers.get(name), loads);
        pickers.set(name, picker);
        ready ||= picker.size > 0;
        connecting ||= clusterConnecting;
        const identity =
          picker.size > 0
            ? undefined
            : missing
              ? { error: identityRequired(name, plan.authority), fatal: true }
              : identityError !== undefined
                ? { error: identityFailed(name, plan.authority, identityError), fatal: false }
                : undefined;
        views.set(name, {
          name,
          policies,
          picker,
          connecting: clusterConnecting,
          decayMs: cluster.lb?.kind === 'peak-ewma' ? cluster.lb.decayMs : 10_000,
          identityError: identity,
        });
      }
      this.#pickers = pickers;
      const picker = new MeshCallPicker(views, plan.authority, this.#lastError, plan.onRetry);
      const state = ready ? State.READY : connecting ? State.CONNECTING : State.TRANSIENT_FAILURE;
      if (this.#wasReady && !ready) this.#helper.requestReresolution();
      this.#wasReady = ready;
      this.#helper.updateState(state, picker, state === State.TRANSIENT_FAILURE ? (this.#lastError ?? 'weft: no endpoint is reachable') : null);
    }

    exitIdle(): void {
      for (const entry of this.#leaves.values()) entry.leaf.exitIdle();
    }
    resetBackoff(): void {}
    destroy(): void {
      for (const s of this.#subscriptions) s.dispose();
      this.#subscriptions = [];
      for (const entry of this.#leaves.values()) entry.leaf.destroy();
      this.#leaves.clear();
      this.#plan = undefined;
    }
    getTypeName(): string {
      return LB_POLICY_NAME;
    }
  }

  x.registerLoadBalancerType(LB_POLICY_NAME, MeshLoadBalancer, Config);
}
