// Cross-resource checks of the inbound policy kinds: every targetRef names a Service that exists, and a Service (or
// the whole mesh) has at most one LocalRateLimit and one PeerAuthentication. Returns every error; never throws.
import type { ConfigError, ConfigResource } from '../model.js';
import { closest, formatFieldPath } from './issues.js';
import {
  authorizationPolicies,
  keyOf,
  localRateLimits,
  peerAuthentications,
  requestAuthentications,
  type ServiceResource,
} from './mesh-config.js';
import type { ServiceTargetRef } from './inbound-schema.js';

/** Checks the AuthorizationPolicies, RequestAuthentications and LocalRateLimits of `resources` (duplicates removed). */
export function checkInboundPolicies(resources: readonly ConfigResource[], svcs: ReadonlyMap<string, ServiceResource>): ConfigError[] {
  const errors: ConfigError[] = [];
  const targeted = [...authorizationPolicies(resources), ...requestAuthentications(resources), ...localRateLimits(resources), ...peerAuthentications(resources)];
  for (const r of targeted) {
    const ref = (r.spec as { targetRef?: ServiceTargetRef }).targetRef;
    if (ref === undefined || svcs.has(ref.name)) continue;
    const guess = closest(ref.name, [...svcs.keys()]);
    errors.push({
      file: r.source,
      resource: keyOf(r),
      field: formatFieldPath(['spec', 'targetRef', 'name']),
      message: `no Service named "${ref.name}" in the configuration${guess ? ` (did you mean "${guess}"?)` : ''}; leave targetRef out to apply it to every workload`,
    });
  }
  errors.push(...onePerTarget(localRateLimits(resources), 'LocalRateLimit'), ...onePerTarget(peerAuthentications(resources), 'PeerAuthentication'));
  return errors;
}

/** A Service, and the mesh as a whole, take at most one resource of `kind` each: an error for every extra one. */
function onePerTarget(list: readonly (ConfigResource & { readonly spec: { readonly targetRef?: ServiceTargetRef } })[], kind: string): ConfigError[] {
  const errors: ConfigError[] = [];
  const owner = new Map<string, ConfigResource>();
  for (const r of list) {
    const target = r.spec.targetRef?.name;
    const key = target ?? '';
    const first = owner.get(key);
    if (first === undefined) {
      owner.set(key, r);
      continue;
    }
    errors.push({
      file: r.source,
      resource: keyOf(r),
      ...(target !== undefined && { field: 'spec.targetRef.name' }),
      message:
        target === undefined
          ? `${keyOf(first)} already applies to every workload; the mesh takes one ${kind} without targetRef (merge them)`
          : `Service "${target}" already has ${keyOf(first)}; a Service takes one ${kind} (merge them)`,
    });
  }
  return errors;
}
