// Tests of ResourceCache.apply's State-of-the-World deletions when a response carries a resource it cannot name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { xdsResource as x } from '../../testing/fake-control-plane.js';
import { protos, TYPE_URL } from './protos.js';
import { ResourceCache } from './resource-cache.js';

const LDS = TYPE_URL.listener;
const NAMES = new Set(['payments']);

test('an LDS response with an undecodable resource is refused without deleting the good Listener (found by ads-client.fuzz)', () => {
  const cache = new ResourceCache();
  assert.deepEqual(cache.apply(LDS, '1', [protos().toAny(x.listener('payments'))], NAMES, NAMES).errors, []);
  // Counterexample: the Listener replaced by the single byte 0x00 (not a protobuf message).
  const result = cache.apply(LDS, '2', [{ type_url: LDS, value: Uint8Array.from([0]) }], NAMES, NAMES);
  assert.match(result.errors.join('\n'), /^resource index 0: cannot be decoded: /);
  assert.ok(cache.listeners.has('payments'), 'the last good Listener is kept: the unreadable resource may have been it');
  assert.equal(cache.absentListeners.has('payments'), false);
  // A resource of another type in the response is as unreadable.
  cache.apply(LDS, '3', [{ type_url: TYPE_URL.cluster, value: protos().toAny(x.cluster('a')).value }], NAMES, NAMES);
  assert.ok(cache.listeners.has('payments'));
  // A readable response without it still deletes it (the resource is gone).
  assert.deepEqual(cache.apply(LDS, '4', [], NAMES, NAMES).errors, []);
  assert.equal(cache.listeners.has('payments'), false);
  assert.ok(cache.absentListeners.has('payments'));
});
