// Schema pieces the inbound policy kinds share (AuthorizationPolicy, RequestAuthentication, LocalRateLimit): the
// optional Service targetRef and Istio-style match strings with one `*` wildcard at an end.
import { z } from 'zod';
import { dnsLabel } from './schema.js';

/** The Service an inbound policy applies to; a policy without one applies to every workload in the mesh. */
export interface ServiceTargetRef {
  readonly group: '';
  readonly kind: 'Service';
  readonly name: string;
}

/** `spec.targetRef` of an inbound policy (that the Service exists is checked in validate-inbound.ts). */
export const serviceTargetRefSchema = z.strictObject({
  group: z.literal('', { error: "must be '' (the core API group of Service)" }).default(''),
  kind: z.literal('Service', { error: 'must be Service: inbound policies apply to the workloads of a Service' }),
  name: dnsLabel,
});

/**
 * An Istio-style match string: exact, prefix (`abc*`), suffix (`*abc`) or presence (`*`); at most one `*`, at the
 * start or the end. `what` names the field in the message.
 */
export function wildcardString(what: string, max = 1024) {
  return z
    .string()
    .min(1, { error: 'must not be empty' })
    .max(max)
    .refine((s) => s === '*' || !s.slice(1, -1).includes('*'), { error: `a ${what} may have one "*", at its start or end (exact, prefix "x*", suffix "*x", or "*" for any)` })
    .refine((s) => !(s.length > 1 && s.startsWith('*') && s.endsWith('*')), { error: `a ${what} may have "*" at its start or its end, not both` });
}

/** A non-empty list of match strings (`what` names them in errors), without duplicates. */
export function wildcardList(what: string, max = 1024) {
  return z
    .array(wildcardString(what, max))
    .min(1, { error: `needs at least one ${what} (leave the field out instead)` })
    .max(256)
    .refine((l) => new Set(l).size === l.length, { error: `lists the same ${what} twice` });
}

/** How a match string compares: exact, prefix, suffix, or any value at all. */
export type WildcardMatch =
  | { readonly kind: 'exact' | 'prefix' | 'suffix'; readonly value: string }
  | { readonly kind: 'any' };

/** Reads an Istio-style match string (already validated by wildcardString). */
export function parseWildcard(pattern: string): WildcardMatch {
  if (pattern === '*') return { kind: 'any' };
  if (pattern.endsWith('*')) return { kind: 'prefix', value: pattern.slice(0, -1) };
  if (pattern.startsWith('*')) return { kind: 'suffix', value: pattern.slice(1) };
  return { kind: 'exact', value: pattern };
}
