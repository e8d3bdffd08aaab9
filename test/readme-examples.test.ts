// The README's YAML examples stay valid: each block parses and validates (with the Service it routes to).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatConfigError } from '../control-plane/src/model.js';
import { parseConfigText, validateConfig } from '../control-plane/src/config/index.js';

const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../README.md');
/** The Services the README's examples route to without defining them. */
const SERVICE = (name: string) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: [{ name: http, port: 8080, protocol: HTTP }]
---
`;
const ASSUMED = ['payments', 'search'];

describe('README examples', () => {
  it('every YAML block parses and validates', () => {
    const blocks = [...readFileSync(README, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.ok(blocks.length >= 4, `found only ${blocks.length} YAML blocks`);
    for (const [i, block] of blocks.entries()) {
      const missing = ASSUMED.filter((name) => !new RegExp(`kind: Service\\nmetadata: \\{ name: ${name} \\}`).test(block));
      const text = missing.map(SERVICE).join('') + block;
      const { resources, errors } = parseConfigText(text, `README block ${i + 1}`);
      const all = [...errors, ...validateConfig(resources)];
      assert.deepEqual(all.map(formatConfigError), [], `README block ${i + 1}`);
      assert.ok(resources.length >= 2);
    }
  });
});
