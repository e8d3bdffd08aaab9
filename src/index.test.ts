// Guards the public surface: the stable exports exist, and docs/errors.md documents every error code.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as weft from './index.js';
import * as experimental from './experimental.js';

describe('public API', { timeout: 5_000 }, () => {
  it('exports the stable entry points', () => {
    for (const name of ['createMesh', 'MeshError', 'isMeshError', 'findCause', 'ERROR_CODES', 'formatExplanation', 'consoleLogger', 'NOOP_LOGGER', 'peerIdentity', 'jwtClaims']) {
      assert.ok(name in weft, `index exports ${name}`);
    }
    assert.equal(typeof experimental.MeshDispatcher, 'function');
    assert.match(experimental.describeHttpClientStack(), /route-match[\s\S]*split[\s\S]*timeout[\s\S]*balance[\s\S]*endpoint/);
  });

  it('documents every error code in docs/errors.md', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    for (const code of Object.values(weft.ERROR_CODES)) assert.ok(doc.includes(`\`${code}\``), `docs/errors.md lacks ${code}`);
  });
});
