// Property-based test of SotwAnswers against a model of a State-of-the-World server and the network between: for any
// interleaving of subscription changes, deliveries and pushes, no existing name is deleted by omission, and (without
// pushes, against a server that answers stale subscription changes) every requested name ends spoken for.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fuzzParams } from '../../../test/fuzz/kit.js';
import { SotwAnswers } from './sotw-answers.js';

/** The names the server has (fixed: a deletion the client reads is then always wrong); `x*` do not exist. */
const EXISTING = new Set(['a', 'b', 'c']);
const UNIVERSE = ['a', 'b', 'c', 'x', 'y'];

type Op =
  | { readonly kind: 'subscribe' | 'unsubscribe'; readonly name: string }
  | { readonly kind: 'toServer' | 'toClient' | 'push' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('subscribe' as const, 'unsubscribe' as const), name: fc.constantFrom(...UNIVERSE) }) },
  { weight: 4, arbitrary: fc.constantFrom<Op>({ kind: 'toServer' }, { kind: 'toClient' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'push' }) },
);

interface Request {
  readonly names: readonly string[];
  readonly nonce: string;
}
interface Response {
  readonly version: string;
  readonly nonce: string;
  readonly names: readonly string[];
}

/**
 * Runs `ops` between a client using SotwAnswers the way ads-client does and a server that answers every request whose
 * names changed, in order (`ignoreStale`: except those with a stale nonce, as go-control-plane and Istio do), and
 * pushes a new version whenever told (without waiting for an ACK, the harder case). Returns what the client read.
 */
function run(ops: readonly Op[], ignoreStale: boolean): { wrongDeletions: string[]; unanswered: string[] } {
  const answers = new SotwAnswers();
  const subscribed = new Set<string>();
  const toServer: Request[] = [];
  const toClient: Response[] = [];
  const wrongDeletions: string[] = [];
  let clientNonce = '';
  let sentKey: string | undefined;
  let serverNames: readonly string[] | undefined;
  let serverNonce = '';
  let version = 1;
  let nonces = 0;

  const send = (): void => {
    const names = [...subscribed].sort();
    answers.sent(names, 0);
    sentKey = names.join('\n');
    toServer.push({ names, nonce: clientNonce });
  };
  const flush = (): void => {
    if ([...subscribed].sort().join('\n') !== sentKey && !(sentKey === undefined && subscribed.size === 0)) send();
  };
  const respond = (): void => {
    const names = (serverNames ?? []).filter((n) => EXISTING.has(n));
    serverNonce = String(++nonces);
    toClient.push({ version: String(version), nonce: serverNonce, names });
  };
  const step = (o: Op): void => {
    if (o.kind === 'subscribe' || o.kind === 'unsubscribe') {
      if (o.kind === 'subscribe') subscribed.add(o.name);
      else if (subscribed.delete(o.name)) answers.forget(o.name);
      flush();
    } else if (o.kind === 'toServer') {
      const request = toServer.shift();
      if (request === undefined) return;
      const stale = serverNonce !== '' && request.nonce !== serverNonce;
      const changed = serverNames === undefined || serverNames.join('\n') !== request.names.join('\n');
      if (stale && ignoreStale) return;
      serverNames = request.names;
      if (changed && request.names.length > 0) respond();
    } else if (o.kind === 'toClient') {
      const response = toClient.shift();
      if (response === undefined) return;
      clientNonce = response.nonce;
      answers.received(response.version);
      for (const name of subscribed) {
        if (response.names.includes(name) || !answers.answered().has(name)) continue;
        if (EXISTING.has(name)) wrongDeletions.push(`${name} deleted by response ${JSON.stringify(response)}`);
      }
      answers.carried(response.names.filter((n) => subscribed.has(n)));
      send(); // the ACK, with the names subscribed now
    } else if (serverNames !== undefined && serverNames.length > 0) {
      version++;
      respond();
    }
  };
  for (const o of ops) step(o);
  // Quiet: deliver everything both ways until nothing moves.
  for (let i = 0; i < 1000 && (toServer.length > 0 || toClient.length > 0); i++) {
    step({ kind: 'toServer' });
    step({ kind: 'toClient' });
  }
  const unanswered = [...subscribed].filter((n) => !answers.answered().has(n));
  return { wrongDeletions, unanswered };
}

describe('SotwAnswers against a modelled server (fuzz)', () => {
  for (const ignoreStale of [false, true]) {
    const server = ignoreStale ? 'a server that ignores stale requests' : 'a server that answers stale subscription changes';
    it(`never deletes an existing name by omission, whatever crosses what (${server})`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
          assert.deepEqual(run(ops, ignoreStale).wrongDeletions, []);
        }),
        fuzzParams(),
      );
    });

    // A server that ignores stale requests answers fewer than are owed: the client's matching lags, and a name it lacks
    // may wait for the does-not-exist timeout (as it always does in gRPC clients). Safety is what holds there.
    if (ignoreStale) continue;
    it(`without pushes, every subscribed name is spoken for once the stream is quiet (${server})`, () => {
      const noPush = op.filter((o) => o.kind !== 'push');
      fc.assert(
        fc.property(fc.array(noPush, { maxLength: 40 }), (ops) => {
          assert.deepEqual(run(ops, ignoreStale).unanswered, []);
        }),
        fuzzParams(),
      );
    });
  }
});
