// What applying YAML to (or deleting a resource from) a configuration would do, computed without side effects: the
// one rule set shared by every ConfigStore (directory, etcd) and a dry run.
import type { ConfigChange, ConfigError, ConfigResource, MeshConfig } from '../model.js';
import { describeKnownKinds, resolveKind, resourceKey } from './kinds.js';
import { createMeshConfig, keyOf, resourceFingerprint, routes } from './mesh-config.js';
import type { FilterKind } from './rule-filters-schema.js';
import { parseConfigDocuments, type ParsedDocument } from './parse.js';
import { validateConfig } from './validate.js';

/** The outcome of planApply: every error, or the merged resources and the documents that change something. */
export type ApplyPlan =
  | { readonly ok: false; readonly errors: readonly ConfigError[] }
  | {
      readonly ok: true;
      /** The whole configuration after the apply (current resources, with the applied ones replacing or added). */
      readonly merged: readonly ConfigResource[];
      /** Applied documents that are new or differ in content from the current ones (unchanged ones left out). */
      readonly changed: readonly ParsedDocument[];
    };

/**
 * Parses `yamlText` (errors name `source`), merges it into `current` by `Kind/name` and validates the whole
 * result. Text with no resources is an error. Never throws.
 */
export function planApply(current: MeshConfig, yamlText: string, source: string): ApplyPlan {
  const parsed = parseConfigDocuments(yamlText, source);
  if (parsed.errors.length > 0) return { ok: false, errors: parsed.errors };
  if (parsed.documents.length === 0) return { ok: false, errors: [{ file: source, message: 'contains no resources to apply' }] };
  const applied = parsed.documents.map((d) => d.resource);
  const appliedKeys = new Set(applied.map(keyOf));
  const merged = [...current.resources.filter((r) => !appliedKeys.has(keyOf(r))), ...applied];
  const errors = validateConfig(merged);
  if (errors.length > 0) return { ok: false, errors };
  const existing = new Map(current.resources.map((r) => [keyOf(r), resourceFingerprint(r)]));
  const changed = parsed.documents.filter((d) => existing.get(keyOf(d.resource)) !== resourceFingerprint(d.resource));
  return { ok: true, merged, changed };
}

/**
 * What `store.apply(yamlText, source)` would return, with nothing stored: on success `config` is the would-be
 * configuration (keeping `current`'s generation) and `changed` the sorted `Kind/name`s that would change.
 */
export function previewApply(current: MeshConfig, yamlText: string, source: string): ConfigChange {
  const plan = planApply(current, yamlText, source);
  if (!plan.ok) return plan;
  return {
    ok: true,
    config: createMeshConfig(plan.merged, current.generation),
    changed: plan.changed.map((d) => keyOf(d.resource)).sort(),
  };
}

/** The outcome of planDelete: every error, or the resource to delete and the configuration left after it. */
export type DeletePlan =
  | { readonly ok: false; readonly errors: readonly ConfigError[] }
  | { readonly ok: true; readonly key: string; readonly target: ConfigResource; readonly remaining: readonly ConfigResource[] };

/**
 * Checks deleting `kindAlias/name` from `current`: the kind must be known, the resource present, and no route may
 * still name it (a Service, FaultInjection or ConcurrencyLimit); the rest must still validate. Never throws.
 */
export function planDelete(current: MeshConfig, kindAlias: string, name: string): DeletePlan {
  const kind = resolveKind(kindAlias);
  if (!kind) {
    return { ok: false, errors: [{ field: 'kind', message: `"${kindAlias}" is not a kind Weft knows; Weft knows ${describeKnownKinds()}` }] };
  }
  const key = resourceKey(kind, name);
  const target = current.resources.find((r) => keyOf(r) === key);
  if (!target) return { ok: false, errors: [{ resource: key, message: 'not found' }] };
  const remaining = current.resources.filter((r) => r !== target);
  const errors = kind === 'Service' ? referencesTo(name, remaining) : kind === 'FaultInjection' || kind === 'ConcurrencyLimit' ? filterReferencesTo(kind, name, remaining) : [];
  if (errors.length === 0) errors.push(...validateConfig(remaining));
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, key, target, remaining };
}

/** Keys of resources added or whose content differs between `before` and `after`, plus those removed; sorted. */
export function changedKeys(before: readonly ConfigResource[], after: readonly ConfigResource[]): string[] {
  const old = new Map(before.map((r) => [keyOf(r), resourceFingerprint(r)]));
  const changed: string[] = [];
  for (const r of after) {
    const key = keyOf(r);
    if (old.get(key) !== resourceFingerprint(r)) changed.push(key);
    old.delete(key);
  }
  return [...changed, ...old.keys()].sort();
}

/** One error per route field that still names Service `name`. */
function referencesTo(name: string, resources: readonly ConfigResource[]): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const route of routes(resources)) {
    const fields: string[] = [];
    route.spec.parentRefs.forEach((p, i) => p.name === name && fields.push(`spec.parentRefs[${i}]`));
    route.spec.rules.forEach((rule, i) =>
      rule.backendRefs.forEach((b, k) => b.name === name && fields.push(`spec.rules[${i}].backendRefs[${k}]`)),
    );
    for (const field of fields) {
      errors.push({
        file: route.source,
        resource: keyOf(route),
        field,
        message: `still references Service "${name}"; change or delete ${keyOf(route)} first`,
      });
    }
  }
  return errors;
}

/** One error per rule filter that still names `kind` `name` (a FaultInjection or a ConcurrencyLimit). */
function filterReferencesTo(kind: FilterKind, name: string, resources: readonly ConfigResource[]): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const route of routes(resources)) {
    route.spec.rules.forEach((rule, i) =>
      (rule.filters ?? []).forEach((f, k) => {
        if (f.extensionRef.kind !== kind || f.extensionRef.name !== name) return;
        errors.push({
          file: route.source,
          resource: keyOf(route),
          field: `spec.rules[${i}].filters[${k}]`,
          message: `still references ${kind} "${name}"; remove the filter from ${keyOf(route)} first`,
        });
      }),
    );
  }
  return errors;
}

