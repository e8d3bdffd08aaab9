// Tests retry policy compilation, the idempotency rule, backoff bounds and Retry-After parsing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bodyKind, bufferBody } from './body.js';
import { backoffMs, compileRetry, methodRetryable, parseRetryAfterMs } from './retry-config.js';

describe('retry config', () => {
  const policy = { conditions: ['retriable-status-codes' as const], retriableStatusCodes: [503], numRetries: 2, perTryTimeoutMs: 100, baseIntervalMs: 25, maxIntervalMs: 250, retryNonIdempotent: false };
  it('the safe default: 2 attempts, any method (nothing was sent), no response retries', () => {
    const d = compileRetry(undefined);
    assert.equal(d.configured, false);
    assert.equal(d.maxAttempts, 2);
    assert.equal(d.retriesResponses, false);
    assert.equal(methodRetryable(d, 'POST'), true);
  });
  it('a policy: attempts = 1 + num_retries, idempotent methods only unless opted in', () => {
    const c = compileRetry(policy);
    assert.equal(c.maxAttempts, 3);
    assert.equal(c.retriesResponses, true);
    for (const m of ['GET', 'head', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']) assert.ok(methodRetryable(c, m), m);
    for (const m of ['POST', 'PATCH', 'CONNECT']) assert.equal(methodRetryable(c, m), false, m);
    assert.ok(methodRetryable(compileRetry({ ...policy, retryNonIdempotent: true }), 'POST'));
    assert.equal(compileRetry({ ...policy, conditions: ['connect-failure'] }).retriesResponses, false);
    assert.equal(compileRetry({ ...policy, conditions: ['unavailable'] }).readsGrpcStatus, true);
  });
  it('backoff ceilings double up to the max', () => {
    const c = compileRetry(policy);
    const top = (n: number) => backoffMs(c, n, () => 0.99999);
    assert.deepEqual([1, 2, 3, 4, 5, 40].map(top), [24, 49, 99, 199, 249, 249]);
  });
  it('Retry-After: delta seconds, HTTP dates, junk', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfterMs('3', now), 3000);
    assert.equal(parseRetryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfterMs('Wed, 31 Dec 2025 00:00:05 GMT', now), 0);
    assert.equal(parseRetryAfterMs('soon', now), undefined);
    assert.equal(parseRetryAfterMs(undefined, now), undefined);
  });
  it('bodies: kinds by size and shape; streams buffered up to the cap', async () => {
    assert.equal(bodyKind(undefined, 10), 'replayable');
    assert.equal(bodyKind('x'.repeat(10), 10), 'replayable');
    assert.equal(bodyKind('é'.repeat(10), 10), 'too-large', 'the cap is in bytes');
    assert.equal(bodyKind(Buffer.alloc(11), 10), 'too-large');
    assert.equal(bodyKind((async function* () {})(), 10), 'stream');
    assert.equal(bodyKind(new Blob(['x']), 10), 'opaque');
    const fit = await bufferBody((async function* () { yield 'ab'; yield Buffer.from('cd'); })(), 10);
    assert.ok(fit.replayable && fit.body.toString() === 'abcd');
    const over = await bufferBody((async function* () { yield 'abc'; yield 'def'; yield 'ghi'; })(), 4);
    assert.equal(over.replayable, false);
    const parts: string[] = [];
    for await (const c of over.body as AsyncIterable<Uint8Array>) parts.push(Buffer.from(c).toString());
    assert.equal(parts.join(''), 'abcdefghi', 'nothing lost when the cap is exceeded');
  });
});
