// The valid configuration the config and translate properties mutate: every YAML example of docs/configuration.md
// and the demo's mesh directory, as plain documents, plus rendering documents back to YAML text.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Services the examples route to without defining them (the docs-examples test adds the same two). */
const EXTRA_SERVICES = ['payments-v2', 'search'].map((name) => ({
  apiVersion: 'weft.dev/v1alpha1',
  kind: 'Service',
  metadata: { name },
  spec: { ports: [{ name: 'http', port: 8080 }] },
}));

function documentsOf(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text)
    .map((d) => ('toJS' in d ? (d.toJS() as unknown) : undefined))
    .filter((v): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v));
}

/** The docs/configuration.md examples (one valid configuration together with EXTRA_SERVICES), as plain documents. */
export function docsExampleDocuments(): Record<string, unknown>[] {
  const text = readFileSync(`${ROOT}docs/configuration.md`, 'utf8');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return [...blocks.flatMap(documentsOf), ...EXTRA_SERVICES];
}

/** The demo's mesh directory (examples/demo/mesh), as plain documents. */
export function demoDocuments(): Record<string, unknown>[] {
  const dir = `${ROOT}examples/demo/mesh/`;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => documentsOf(readFileSync(dir + f, 'utf8')));
}

/** The seed configurations, each valid on its own. */
export function seedConfigurations(): Record<string, unknown>[][] {
  return [docsExampleDocuments(), demoDocuments()];
}

/** `docs` as one multi-document YAML text (what `weft apply -f` would send). Values YAML cannot hold become null. */
export function renderDocuments(docs: readonly unknown[]): string {
  return docs.map((d) => stringify(d, { aliasDuplicateObjects: false, lineWidth: 0 })).join('---\n');
}
