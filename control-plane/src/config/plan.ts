// What applying YAML to a configuration would do, computed without side effects: the one rule set shared by the
// directory store's apply and a dry run.
import type { ConfigChange, ConfigError, ConfigResource, MeshConfig } from '../model.js';
import { createMeshConfig, keyOf, resourceFingerprint } from './mesh-config.js';
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
