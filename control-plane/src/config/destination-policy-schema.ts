// Schema and types of Weft's `DestinationPolicy` kind (weft.dev/v1alpha1): how callers treat one Service's endpoints —
// load balancer, circuit breaker, outlier detection, retry budget (Istio DestinationRule trafficPolicy / Linkerd).
import { z } from 'zod';
import { dnsLabel, gatewayDuration, HEADER_NAME_PATTERN, positiveGatewayDuration } from './schema.js';

/** The load balancers a DestinationPolicy may ask for. */
export type LoadBalancerType = 'RoundRobin' | 'LeastRequest' | 'PeakEWMA' | 'RingHash' | 'Random';

/** Where a ring-hash key comes from: one header, one cookie, or the caller's source IP. */
export type RingHashKey = { readonly header: string } | { readonly cookie: string } | { readonly sourceIP: true };

/** `spec.loadBalancer`. */
export interface LoadBalancerSpec {
  /** Default RoundRobin. */
  readonly type: LoadBalancerType;
  /** Only with LeastRequest: endpoints sampled per pick (default 2, power of two choices). */
  readonly leastRequest?: { readonly choiceCount: number };
  /** Only with PeakEWMA: the latency average's decay (Gateway API duration, default 10s). */
  readonly peakEWMA?: { readonly decay: string };
  /** Only with RingHash: the request key (none = a random key per request) and the ring size (default 1024). */
  readonly ringHash?: { readonly key?: RingHashKey; readonly minRingSize: number };
}

/** `spec.circuitBreaker`: Envoy thresholds; an unset field is Envoy's default, 1024. */
export interface CircuitBreakerSpec {
  readonly maxConnections?: number;
  readonly maxPendingRequests?: number;
  readonly maxRequests?: number;
  readonly maxRetries?: number;
}

/** `spec.outlierDetection`: Envoy outlier detection; unset fields take Envoy's defaults (docs/configuration.md). */
export interface OutlierDetectionSpec {
  /** Consecutive 5xx before ejection (default 5; 0 turns this detector off). */
  readonly consecutive5xx?: number;
  /** Consecutive 502/503/504 or connect failures before ejection (off unless set). */
  readonly consecutiveGatewayErrors?: number;
  /** Consecutive connect failures/resets/timeouts before ejection, counted apart from HTTP errors (off unless set). */
  readonly consecutiveLocalOriginFailures?: number;
  /** How often ejections are evaluated (default 10s). */
  readonly interval?: string;
  /** Ejection time; grows with each repeat ejection, up to maxEjectionTime (defaults 30s / 300s). */
  readonly baseEjectionTime?: string;
  readonly maxEjectionTime?: string;
  /** 0..100, default 10. */
  readonly maxEjectionPercent?: number;
  /** Success-rate ejection (off unless given). */
  readonly successRate?: { readonly minimumHosts: number; readonly requestVolume: number; readonly stdevFactor: number };
  /** Failure-percentage ejection (off unless given). */
  readonly failurePercentage?: { readonly threshold: number; readonly minimumHosts: number; readonly requestVolume: number };
}

/** `spec.retryBudget` (Linkerd-style): retries may add at most `percent` % of recent requests plus a per-second floor. */
export interface RetryBudgetSpec {
  /** 0..100, default 20. */
  readonly percent: number;
  /** Default 10. */
  readonly minRetriesPerSecond: number;
}

/** `spec` of a DestinationPolicy. */
export interface DestinationPolicySpec {
  /** The Service whose clusters (every port) this policy applies to; at most one policy per Service. */
  readonly targetRef: { readonly group: ''; readonly kind: 'Service'; readonly name: string };
  readonly loadBalancer?: LoadBalancerSpec;
  readonly circuitBreaker?: CircuitBreakerSpec;
  readonly outlierDetection?: OutlierDetectionSpec;
  readonly retryBudget?: RetryBudgetSpec;
}

const count = z.number().int().min(0).max(0xffffffff);
const percent = z.number().min(0).max(100);

const ringHashKeySchema = z.union(
  [
    z.strictObject({
      header: z.string().min(1).max(256).regex(HEADER_NAME_PATTERN, { error: 'must be an HTTP header name' }).transform((h) => h.toLowerCase()),
    }),
    z.strictObject({ cookie: z.string().min(1).max(256) }),
    z.strictObject({ sourceIP: z.literal(true) }),
  ],
  { error: 'must be exactly one of { header: <name> }, { cookie: <name> }, { sourceIP: true }' },
);

const loadBalancerSchema = z
  .strictObject({
    type: z.enum(['RoundRobin', 'LeastRequest', 'PeakEWMA', 'RingHash', 'Random']).default('RoundRobin'),
    leastRequest: z.strictObject({ choiceCount: z.number().int().min(2).max(100).default(2) }).optional(),
    // decay 0 would make the SDK refuse the Cluster (weft.lb.v1.PeakEwma decay_ms must be > 0): refuse it here, by field.
    peakEWMA: z.strictObject({ decay: positiveGatewayDuration.default('10s') }).optional(),
    ringHash: z
      .strictObject({ key: ringHashKeySchema.optional(), minRingSize: z.number().int().min(1).max(8_388_608).default(1024) })
      .optional(),
  })
  .superRefine((lb, ctx) => {
    const only = { leastRequest: 'LeastRequest', peakEWMA: 'PeakEWMA', ringHash: 'RingHash' } as const;
    for (const [field, type] of Object.entries(only)) {
      if (lb[field as keyof typeof only] !== undefined && lb.type !== type) {
        ctx.addIssue({ code: 'custom', path: [field], message: `is only read with type: ${type} (type is ${lb.type})` });
      }
    }
  });

const outlierDetectionSchema = z.strictObject({
  consecutive5xx: count.optional(),
  consecutiveGatewayErrors: count.min(1).optional(),
  consecutiveLocalOriginFailures: count.min(1).optional(),
  interval: gatewayDuration.optional(),
  baseEjectionTime: gatewayDuration.optional(),
  maxEjectionTime: gatewayDuration.optional(),
  maxEjectionPercent: z.number().int().min(0).max(100).optional(),
  successRate: z
    .strictObject({
      minimumHosts: count.default(5),
      requestVolume: count.min(1).default(100),
      stdevFactor: z.number().min(0).max(100).default(1.9),
    })
    .optional(),
  failurePercentage: z
    .strictObject({
      threshold: z.number().int().min(0).max(100).default(85),
      minimumHosts: count.default(5),
      requestVolume: count.min(1).default(50),
    })
    .optional(),
});

/** `spec` schema of a DestinationPolicy (that targetRef names a Service, once, is checked in validate.ts). */
export const destinationPolicySpecSchema: z.ZodType<DestinationPolicySpec> = z
  .strictObject({
    targetRef: z.strictObject({
      group: z.literal('', { error: "must be '' (the core API group of Service)" }).default(''),
      kind: z.literal('Service', { error: 'must be Service: a DestinationPolicy applies to a Service' }),
      name: dnsLabel,
    }),
    loadBalancer: loadBalancerSchema.optional(),
    circuitBreaker: z
      .strictObject({ maxConnections: count.optional(), maxPendingRequests: count.optional(), maxRequests: count.optional(), maxRetries: count.optional() })
      .optional(),
    outlierDetection: outlierDetectionSchema.optional(),
    retryBudget: z.strictObject({ percent: percent.default(20), minRetriesPerSecond: count.default(10) }).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.loadBalancer === undefined && s.circuitBreaker === undefined && s.outlierDetection === undefined && s.retryBudget === undefined) {
      ctx.addIssue({ code: 'custom', message: 'needs at least one of loadBalancer, circuitBreaker, outlierDetection, retryBudget' });
    }
  }) as z.ZodType<DestinationPolicySpec>;
