// Cross-resource checks of the inbound policy kinds: every targetRef names a Service that exists, and a Service (or
// the whole mesh) has at most one LocalRateLimit. Returns every error; never throws.
import type { ConfigError, ConfigResource } from '../model.js';
import { closest, formatFieldPath } from './issues.js';
import {
  authorizationPolicies,
  keyOf,
  localRateLimits,
  requestAuthentications,
  type LocalRateLimitResource,
  type ServiceResource,
} from './mesh-config.js';
import type { ServiceTargetRef } from './inbound-schema.js';

/** Checks the AuthorizationPolicies, RequestAuthentications and LocalRateLimits of `resources` (duplicates removed). */
export function checkInboundPolicies(resources: readonly ConfigResource[], svcs: ReadonlyMap<string, ServiceResource>): ConfigError[] {
  const errors: ConfigError[] = [];
  const targeted = [...authorizationPolicies(resources), ...requestAuthentications(resources), ...localRateLimits(resources)];
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
  const owner = new Map<string, LocalRateLimitResource>();
  for (const limit of localRateLimits(resources)) {
    const target = limit.spec.targetRef?.name;
    const key = target ?? '';
    const first = owner.get(key);
    if (first === undefined) {
      owner.set(key, limit);
      continue;
    }
    errors.push({
      file: limit.source,
      resource: keyOf(limit),
      ...(target !== undefined && { field: 'spec.targetRef.name' }),
      message:
        target === undefined
          ? `${keyOf(first)} already applies to every workload; the mesh takes one LocalRateLimit without targetRef (merge them)`
          : `Service "${target}" already has ${keyOf(first)}; a Service takes one LocalRateLimit (merge them)`,
    });
  }
  return errors;
}
