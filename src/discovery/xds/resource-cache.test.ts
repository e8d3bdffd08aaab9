// Tests of ResourceCache.apply's State-of-the-World deletions: only for names a response speaks for, never when it carries a resource it cannot name.
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

test('an LDS response deletes by omission only the names it speaks for (answered), and reports the names it carried', () => {
  const cache = new ResourceCache();
  const both = new Set(['payments', 'orders']);
  // Answer to a request for payments only, read after orders was requested too: orders stays pending, not absent.
  const first = cache.apply(LDS, '1', [protos().toAny(x.listener('payments'))], both, new Set(['payments']));
  assert.deepEqual([...first.seen], ['payments']);
  assert.equal(cache.absentListeners.has('orders'), false);
  // The answer to the request naming orders, still without it: now orders does not exist.
  cache.apply(LDS, '1', [protos().toAny(x.listener('payments'))], both, both);
  assert.ok(cache.absentListeners.has('orders'));
  // A name received and then left out is deleted at once.
  cache.apply(LDS, '2', [protos().toAny(x.listener('orders'))], both, both);
  assert.equal(cache.listeners.has('payments'), false);
  assert.ok(cache.absentListeners.has('payments'));
  assert.ok(cache.listeners.has('orders'));
});
