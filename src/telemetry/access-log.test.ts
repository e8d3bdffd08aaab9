// Tests of the bounded access-log writer: lines are written while the sink keeps up, dropped and counted (never
// buffered without bound) when it stalls, and a failing sink neither throws nor crashes.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { AccessLogWriter, type AccessLogRecord } from './access-log.js';

const record: AccessLogRecord = { time: '2026-01-01T00:00:00.000Z', direction: 'outbound', protocol: 'http', method: 'GET', authority: 'a', path: '/', status: 200, duration_ms: 1 };

test('writes one JSON line per record while the sink keeps up', () => {
  const chunks: string[] = [];
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) });
  const w = new AccessLogWriter({ stream: sink });
  w.write(record);
  w.write({ ...record, status: 503, flags: ['outlier_ejected'] });
  assert.deepEqual(w.status(), { written: 2, dropped: 0 });
  assert.deepEqual(JSON.parse(chunks[1]!), { ...record, status: 503, flags: ['outlier_ejected'] });
  assert.ok(chunks.every((c) => c.endsWith('\n')));
});

test('a stalled sink: lines past maxBufferedBytes are dropped and counted, memory stays bounded', () => {
  const stalled = new Writable({ highWaterMark: 1024, write: () => {} }); // never calls back: backs up for ever
  const w = new AccessLogWriter({ stream: stalled, maxBufferedBytes: 4096 });
  for (let i = 0; i < 10_000; i++) w.write(record);
  const s = w.status();
  assert.equal(s.written + s.dropped, 10_000);
  assert.ok(s.dropped > 9_900, `dropped ${s.dropped}`);
  assert.ok(stalled.writableLength < 4096 + 512, `buffered ${stalled.writableLength} bytes`);
});

test('a failing sink is never thrown from: later lines are dropped and the error reported', async () => {
  const broken = new Writable({ write: (_c, _e, cb) => cb(new Error('disk full')) });
  const w = new AccessLogWriter({ stream: broken });
  w.write(record);
  await new Promise((r) => setImmediate(r));
  w.write(record);
  const s = w.status();
  assert.equal(s.error, 'disk full');
  assert.equal(s.dropped, 1);
});
