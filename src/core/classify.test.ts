// Tests of the per-route outcome classifier: the safe default and each Envoy retry condition.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyOutcome, compileClassifier, GRPC_STATUS, isConnectFailure, isGatewayError, reachedServer, type AttemptOutcome } from './classify.js';

const res = (status: number, grpcStatus?: number): AttemptOutcome => (grpcStatus === undefined ? { kind: 'response', status } : { kind: 'response', status, grpcStatus });
const err = (error: 'connect-failure' | 'refused-stream' | 'reset' | 'timeout' | 'other', neverSent = false): AttemptOutcome => ({ kind: 'error', error, neverSent });

describe('classifyOutcome (safe default)', () => {
  it('retries only what provably never reached the server', () => {
    assert.equal(classifyOutcome(err('connect-failure')), 'retryable');
    assert.equal(classifyOutcome(err('refused-stream')), 'retryable');
    assert.equal(classifyOutcome(err('other', true)), 'retryable');
    assert.equal(classifyOutcome(err('reset')), 'failure');
    assert.equal(classifyOutcome(err('timeout')), 'failure');
    assert.equal(classifyOutcome(res(503)), 'failure');
    assert.equal(classifyOutcome(res(200)), 'success');
    assert.equal(classifyOutcome(res(404)), 'success');
    assert.equal(classifyOutcome(res(200, GRPC_STATUS.UNAVAILABLE)), 'failure');
  });
  it('says whether the server may have seen the request', () => {
    assert.equal(reachedServer(err('connect-failure')), 'no');
    assert.equal(reachedServer(err('reset', true)), 'no');
    assert.equal(reachedServer(err('reset')), 'maybe');
    assert.equal(reachedServer(res(503)), 'maybe');
    assert.equal(isConnectFailure(err('timeout')), false);
    assert.ok(isGatewayError(502) && isGatewayError(503) && isGatewayError(504) && !isGatewayError(500));
  });
});

describe('compileClassifier', () => {
  it('with no conditions is the safe default', () => {
    const c = compileClassifier({ conditions: [], retriableStatusCodes: [503] });
    assert.equal(c.classify(res(503)), 'failure');
    assert.equal(c.classify(err('connect-failure')), 'retryable');
  });
  it('5xx retries every 5xx and resets; gateway-error only 502-504', () => {
    const all = compileClassifier({ conditions: ['5xx'], retriableStatusCodes: [] });
    assert.equal(all.classify(res(500)), 'retryable');
    assert.equal(all.classify(err('reset')), 'retryable');
    assert.equal(all.classify(err('timeout')), 'retryable');
    assert.equal(all.classify(err('other')), 'failure');
    const gw = compileClassifier({ conditions: ['gateway-error'], retriableStatusCodes: [] });
    assert.equal(gw.classify(res(500)), 'failure');
    assert.equal(gw.classify(res(503)), 'retryable');
    assert.equal(gw.classify(res(200)), 'success');
  });
  it('retriable-status-codes retries exactly the listed codes (4xx too); reset alone retries resets', () => {
    const c = compileClassifier({ conditions: ['retriable-status-codes', 'reset'], retriableStatusCodes: [429, 503] });
    assert.equal(c.classify(res(429)), 'retryable');
    assert.equal(c.classify(res(503)), 'retryable');
    assert.equal(c.classify(res(502)), 'failure');
    assert.equal(c.classify(err('reset')), 'retryable');
    const noReset = compileClassifier({ conditions: ['retriable-status-codes'], retriableStatusCodes: [503] });
    assert.equal(noReset.classify(err('reset')), 'failure');
    assert.equal(noReset.classify(err('connect-failure')), 'retryable');
  });
  it('retriable-4xx is 409; gRPC conditions read grpc-status', () => {
    assert.equal(compileClassifier({ conditions: ['retriable-4xx'], retriableStatusCodes: [] }).classify(res(409)), 'retryable');
    const g = compileClassifier({ conditions: ['unavailable', 'cancelled'], retriableStatusCodes: [] });
    assert.equal(g.classify(res(200, GRPC_STATUS.UNAVAILABLE)), 'retryable');
    assert.equal(g.classify(res(200, GRPC_STATUS.CANCELLED)), 'retryable');
    assert.equal(g.classify(res(200, GRPC_STATUS.INTERNAL)), 'failure');
    assert.equal(g.classify(res(200, GRPC_STATUS.OK)), 'success');
  });
});
