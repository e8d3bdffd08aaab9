// Cross-resource checks of Telemetry: every targetRef names a Service that exists, and each level (a Service, a
// namespace, the mesh) is configured by at most one Telemetry. Returns every error; never throws.
import type { ConfigError, ConfigResource } from '../model.js';
import { closest, formatFieldPath } from './issues.js';
import { keyOf, telemetries, type ServiceResource, type TelemetryResource } from './mesh-config.js';

/** The namespace whose Telemetry without targetRefs applies to the whole mesh (Istio's root namespace habit). */
export const MESH_TELEMETRY_NAMESPACE = 'weft-system';

/** Which traffic a Telemetry configures: `service:<name>`, `namespace:<ns>` or `mesh`. */
export function telemetryScopes(t: TelemetryResource): readonly string[] {
  const refs = t.spec.targetRefs;
  if (refs !== undefined) return refs.map((r) => `service:${r.name}`);
  const ns = t.metadata.namespace;
  return [ns === undefined || ns === MESH_TELEMETRY_NAMESPACE ? 'mesh' : `namespace:${ns}`];
}

/** Checks the Telemetries of `resources` (duplicates removed). */
export function checkTelemetries(resources: readonly ConfigResource[], svcs: ReadonlyMap<string, ServiceResource>): ConfigError[] {
  const errors: ConfigError[] = [];
  const owner = new Map<string, TelemetryResource>();
  for (const t of telemetries(resources)) {
    (t.spec.targetRefs ?? []).forEach((ref, i) => {
      if (svcs.has(ref.name)) return;
      const guess = closest(ref.name, [...svcs.keys()]);
      errors.push({
        file: t.source,
        resource: keyOf(t),
        field: formatFieldPath(['spec', 'targetRefs', i, 'name']),
        message: `no Service named "${ref.name}" in the configuration${guess ? ` (did you mean "${guess}"?)` : ''}; leave targetRefs out to apply it to every Service`,
      });
    });
    for (const scope of telemetryScopes(t)) {
      const first = owner.get(scope);
      if (first === undefined) {
        owner.set(scope, t);
        continue;
      }
      const what = scope === 'mesh' ? 'the mesh' : scope.startsWith('service:') ? `Service "${scope.slice(8)}"` : `namespace "${scope.slice(10)}"`;
      errors.push({
        file: t.source,
        resource: keyOf(t),
        ...(scope.startsWith('service:') && { field: 'spec.targetRefs' }),
        message: `${what} already has ${keyOf(first)}; each Service, namespace and the mesh take one Telemetry (merge them)`,
      });
    }
  }
  return errors;
}
