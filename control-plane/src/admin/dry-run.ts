// Validates an apply against the current configuration without storing anything (`POST /v1/apply?dryRun=true`).
import type { ConfigChange, MeshConfig } from '../model.js';
import { createMeshConfig, keyOf, resourceFingerprint } from '../config/mesh-config.js';
import { parseConfigDocuments } from '../config/parse.js';
import { validateConfig } from '../config/validate.js';

/**
 * What `store.apply(yamlText, source)` would do to `current`, by the same rules (parse, merge by Kind/name,
 * validate the whole), but with nothing written. On success `config` is the would-be configuration with
 * `current`'s generation, and `changed` lists the resources that would change. Never throws.
 */
export function dryRunApply(current: MeshConfig, yamlText: string, source: string): ConfigChange {
  const parsed = parseConfigDocuments(yamlText, source);
  if (parsed.errors.length > 0) return { ok: false, errors: parsed.errors };
  if (parsed.documents.length === 0) return { ok: false, errors: [{ file: source, message: 'contains no resources to apply' }] };
  const applied = parsed.documents.map((d) => d.resource);
  const appliedKeys = new Set(applied.map(keyOf));
  const merged = [...current.resources.filter((r) => !appliedKeys.has(keyOf(r))), ...applied];
  const errors = validateConfig(merged);
  if (errors.length > 0) return { ok: false, errors };
  const existing = new Map(current.resources.map((r) => [keyOf(r), resourceFingerprint(r)]));
  const changed = applied.filter((r) => existing.get(keyOf(r)) !== resourceFingerprint(r)).map(keyOf).sort();
  return { ok: true, config: createMeshConfig(merged, current.generation), changed };
}
