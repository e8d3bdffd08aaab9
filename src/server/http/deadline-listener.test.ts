// Tests server-side deadlines: the 504 for a passed deadline, deadlineOf()/currentDeadline() in the handler, the abort.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, mock } from 'node:test';
import { currentDeadline, deadlineOf, parseTimeoutHeader, startDeadline } from '../../policy/deadline/deadline.js';
import { withDeadline } from './deadline-listener.js';

describe('server deadlines', { timeout: 10_000 }, () => {
  let server: http.Server;
  let port: number;
  let calls = 0;
  before(async () => {
    server = http.createServer(
      withDeadline((req, res) => {
        calls++;
        setImmediate(() => {
          const d = deadlineOf(req);
          const inherited = currentDeadline();
          res.end(JSON.stringify({ timeoutMs: d?.timeoutMs ?? null, inherited: inherited === d && d !== undefined, aborted: d?.signal.aborted ?? null }));
        });
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));

  const get = async (headers: Record<string, string>) => {
    const res = await fetch(`http://127.0.0.1:${port}/`, { headers });
    return { status: res.status, error: res.headers.get('x-mesh-error'), body: await res.text() };
  };

  it('answers 504 at once, without calling the handler, when the deadline has passed', async () => {
    const before = calls;
    const r = await get({ 'x-weft-timeout-ms': '0' });
    assert.equal(r.status, 504);
    assert.equal(r.error, 'deadline-exceeded');
    assert.equal(calls, before);
  });
  it('gives the handler its deadline, also as the async context of what it calls', async () => {
    const r = await get({ 'x-weft-timeout-ms': '300' });
    assert.deepEqual(JSON.parse(r.body), { timeoutMs: 300, inherited: true, aborted: false });
  });
  it('without the header (or with a malformed one) the handler sees no deadline', async () => {
    assert.deepEqual(JSON.parse((await get({})).body), { timeoutMs: null, inherited: false, aborted: null });
    assert.deepEqual(JSON.parse((await get({ 'x-weft-timeout-ms': 'soon' })).body), { timeoutMs: null, inherited: false, aborted: null });
  });
  it('parses only non-negative integer ms', () => {
    assert.equal(parseTimeoutHeader('250'), 250);
    assert.equal(parseTimeoutHeader(['7', '9']), 7);
    for (const bad of ['-1', '1.5', '', 'x', undefined]) assert.equal(parseTimeoutHeader(bad), undefined);
  });
  it("the deadline's signal aborts when the time is up (fake timers)", () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let t = 0;
      const d = startDeadline(100, () => t);
      mock.timers.tick(99);
      t = 99;
      assert.equal(d.signal.aborted, false);
      assert.equal(d.remainingMs(), 1);
      mock.timers.tick(1);
      assert.equal(d.signal.aborted, true);
      assert.equal((d.signal.reason as DOMException).name, 'TimeoutError');
    } finally {
      mock.timers.reset();
    }
  });
});
