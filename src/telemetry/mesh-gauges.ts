// The mesh's own counters and gauges (xDS stream, config versions, NACKs, breakers, retry budgets, ejections, inbound
// refusals, workload certificate), read from mesh state at scrape time: nothing on the request path.
import type { ClusterPolicies } from '../client/cluster-policies.js';
import type { Disposable } from '../core/watch.js';
import type { Discovery } from '../discovery/discovery.js';
import type { IdentityStatus } from '../identity/workload-identity.js';
import type { InboundStatus } from '../server/inbound/runtime.js';
import type { Family, Sample } from './prometheus.js';

/** Where the mesh gauges read from; every getter may return undefined (feature off). */
export interface MeshGaugeSources {
  readonly service: string;
  readonly discovery: Discovery | undefined;
  /** The policies of every cluster of the current state. */
  readonly clusters: () => ReadonlyMap<string, ClusterPolicies>;
  readonly inbound: () => InboundStatus | undefined;
  readonly identity: () => IdentityStatus | undefined;
  /** Wall clock (ms since epoch) for certificate expiry; default Date.now. */
  readonly nowMs?: () => number;
}

/** Short xDS type names (`type.googleapis.com/envoy.config.cluster.v3.Cluster` → `Cluster`), as metric labels. */
export function shortType(typeUrl: string): string {
  const i = typeUrl.lastIndexOf('.');
  return i < 0 ? typeUrl : typeUrl.slice(i + 1);
}

/**
 * The mesh gauges' collector, and a Disposable that stops counting NACKs (the one thing counted as it happens, from
 * discovery.onNack). The collector never throws.
 */
export function meshGauges(src: MeshGaugeSources): { readonly collect: () => Family[]; readonly subscription: Disposable } {
  const nacks = new Map<string, number>();
  const subscription: Disposable = src.discovery?.onNack((e) => nacks.set(e.typeUrl, (nacks.get(e.typeUrl) ?? 0) + 1)) ?? { dispose() {} };
  const now = src.nowMs ?? Date.now;
  const collect = (): Family[] => {
    const out: Family[] = [];
    const d = src.discovery?.status();
    if (d !== undefined) {
      out.push({ name: 'weft_xds_connected', help: 'Whether the xDS (ADS) stream to the control plane is up (1) or not (0).', type: 'gauge', samples: [{ labels: { server: d.server }, value: d.connected ? 1 : 0 }] });
      out.push({
        name: 'weft_xds_acked_version_info',
        help: 'The xDS version last ACKed, per resource type (value always 1; the version is a label).',
        type: 'gauge',
        samples: d.types.filter((t) => t.ackedVersion !== '').map((t) => ({ labels: { type: shortType(t.typeUrl), type_url: t.typeUrl, version: t.ackedVersion }, value: 1 })),
      });
      const types = new Set([...d.types.map((t) => t.typeUrl), ...nacks.keys()]);
      out.push({ name: 'weft_xds_nacks_total', help: 'xDS updates refused (NACKed) by this process, per resource type.', type: 'counter', samples: [...types].map((t) => ({ labels: { type: shortType(t), type_url: t }, value: nacks.get(t) ?? 0 })) });
    }
    const breakerOpen: Sample[] = [];
    const active: Sample[] = [];
    const overflows: Sample[] = [];
    const exhausted: Sample[] = [];
    const budgetRetries: Sample[] = [];
    const ejected: Sample[] = [];
    for (const [cluster, p] of src.clusters()) {
      const b = p.breaker?.snapshot();
      if (b !== undefined) {
        const full = b.activeRequests >= b.thresholds.maxRequests || b.pendingRequests >= b.thresholds.maxPendingRequests;
        breakerOpen.push({ labels: { cluster }, value: full ? 1 : 0 });
        active.push({ labels: { cluster }, value: b.activeRequests });
        for (const [reason, n] of Object.entries(b.overflows)) overflows.push({ labels: { cluster, reason }, value: n });
      }
      const stats = p.retryBudget.stats();
      exhausted.push({ labels: { cluster }, value: stats.exhausted });
      budgetRetries.push({ labels: { cluster }, value: stats.retries });
      if (p.outlier !== undefined) ejected.push({ labels: { cluster }, value: p.outlier.ejections().length });
    }
    out.push(
      { name: 'weft_circuit_breaker_open', help: 'Whether a cluster circuit breaker refuses new calls now (a threshold is reached): 1 or 0.', type: 'gauge', samples: breakerOpen },
      { name: 'weft_circuit_breaker_active_requests', help: 'Calls in flight counted by the cluster circuit breaker.', type: 'gauge', samples: active },
      { name: 'weft_circuit_breaker_overflows_total', help: 'Calls the cluster circuit breaker refused, by threshold.', type: 'counter', samples: overflows },
      { name: 'weft_retry_budget_exhausted_total', help: 'Retries the cluster retry budget refused.', type: 'counter', samples: exhausted },
      { name: 'weft_outlier_ejected_endpoints', help: 'Endpoints of the cluster outlier detection has ejected now.', type: 'gauge', samples: ejected },
    );
    const inbound = src.inbound();
    if (inbound !== undefined) {
      const denials: Sample[] = Object.entries(inbound.refused).map(([reason, n]) => ({ labels: { weft_destination_service: src.service, reason, kind: denialKind(reason) }, value: n }));
      out.push({ name: 'weft_inbound_denials_total', help: 'Inbound requests the inbound policy refused, by kind (authn, authz, rate_limit) and reason.', type: 'counter', samples: denials });
    }
    const id = src.identity();
    if (id?.notAfterMs !== undefined) {
      out.push({
        name: 'weft_workload_certificate_expiry_seconds',
        help: 'Seconds until the workload certificate expires (negative once it has).',
        type: 'gauge',
        samples: [{ labels: { spiffe_id: id.spiffeId ?? '' }, value: Math.round((id.notAfterMs - now()) / 1000) }],
      });
    }
    return out;
  };
  return { collect, subscription };
}

/** The kind of an inbound refusal reason: `authn` (jwt_*), `authz` (rbac_denied, no_filter_chain: mTLS required), `rate_limit`, else `other`. */
export function denialKind(reason: string): string {
  if (reason.startsWith('jwt')) return 'authn';
  if (reason.startsWith('rbac') || reason === 'no_filter_chain') return 'authz';
  if (reason.includes('rate')) return 'rate_limit';
  return 'other';
}
