// Keeps docs/configuration.md honest: every YAML example in it parses, and together they validate and translate.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { translate } from '../translate/translate.js';
import { createMeshConfig } from './mesh-config.js';
import { parseConfigText } from './parse.js';
import { validateConfig } from './validate.js';

const DOC = fileURLToPath(new URL('../../../docs/configuration.md', import.meta.url));

describe('docs/configuration.md examples', () => {
  it('parse, validate together and translate', async () => {
    const text = await readFile(DOC, 'utf8');
    const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.ok(blocks.length >= 3, 'the reference shows at least one example per kind');
    const resources = blocks.flatMap((block, i) => {
      const { resources: parsed, errors } = parseConfigText(block, `example ${i + 1}`);
      assert.deepEqual(errors, []);
      return parsed;
    });
    assert.deepEqual([...new Set(resources.map((r) => r.kind))].sort(), ['AuthorizationPolicy', 'DestinationPolicy', 'FaultInjection', 'GRPCRoute', 'HTTPRoute', 'LocalRateLimit', 'RequestAuthentication', 'Service']);
    // The HTTPRoute example sends a canary share to payments-v2, which the examples do not define.
    const canary = parseConfigText('apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: payments-v2 }\nspec: { ports: [{ name: http, port: 8080 }] }\n', 'extra');
    const all = [...resources, ...canary.resources];
    assert.deepEqual(validateConfig(all), []);
    assert.ok(translate(createMeshConfig(all, 1), []));
  });
});
