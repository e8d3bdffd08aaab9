// Which names a State-of-the-World LDS/CDS response on one ADS stream speaks for, so whose absence from it is a deletion.
//
// SotW responses name no request. When the client widens a subscription while the answer to its previous request is
// in flight, that answer lacks the new name only because the server had not read the wider request yet; reading it as
// "does not exist" fails calls for one round trip (the start-up race). The xDS protocol says a client cannot tell from
// such a response alone ("Knowing When a Requested Resource Does Not Exist",
// https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol); gRPC clients only delete resources they hold and
// time out the rest (gRFC A57, grpc-go's comment on AllResourcesRequiredInSotW). Weft does both, and also matches
// answers to requests so that a name the server lacks is known at once in the usual case.

/** How long a requested name may stay neither sent nor answered on a connected stream before it counts as absent (gRPC's 15 s). */
export const RESOURCE_TIMEOUT_MS = 15_000;

/** Bound on the requests awaiting their answer; past it, matching stops for the stream (see SotwAnswers). */
const MAX_OWED = 16;

/**
 * Per type and stream: which names a response may delete by omission. Requests are numbered; a name counts once the
 * server is known to have read a request at or after the one that (re)subscribed it, since every later request names
 * it too. What the server has read is learnt from:
 * - answers: a request whose names differ from the previous one's (the first of the stream too) is owed an answer,
 *   in order. The first response of the stream, or one at the version of the response before it (nothing new to
 *   push), is an answer, to the oldest request owed one; a response at a new version may be a push the server sent
 *   before reading that request, so it is matched to nothing. A server that ignores stale requests answers fewer than
 *   are owed, later ones: the matching then lags behind the server, which only delays;
 * - the names a response carries: the server read a request naming them, so one at or after their subscription if
 *   they were never unsubscribed on this stream;
 * - time: a name neither carried nor answered for `timeoutMs` while connected counts (overdue(), the does-not-exist timer).
 * Synchronous, never throws; the caller owns the clock.
 */
export class SotwAnswers {
  /** Number of the latest request sent on this stream (1, 2, ...). */
  #seq = 0;
  /** The latest request the server is known to have read. */
  #readSeq = 0;
  /** Per subscribed name, the number of the request that (re)subscribed it, and when. */
  readonly #since = new Map<string, { readonly seq: number; atMs: number }>();
  /** Names unsubscribed on this stream: a response carrying one may be about its earlier subscription. */
  readonly #resubscribable = new Set<string>();
  /** Names the does-not-exist timeout counted (overdue()). */
  readonly #timedOut = new Set<string>();
  /** Numbers of the requests owed an answer, oldest first; undefined once more than MAX_OWED waited (matching stops). */
  #owed: number[] | undefined = [];
  #lastVersion: string | undefined;
  #sentKey: string | undefined;

  /** The names a response may delete by omission now (a fresh set). */
  answered(): Set<string> {
    const names = new Set(this.#timedOut);
    for (const [name, since] of this.#since) if (since.seq <= this.#readSeq) names.add(name);
    return names;
  }

  /** A request naming `names` (sorted) was sent at `nowMs`. */
  sent(names: readonly string[], nowMs: number): void {
    const seq = ++this.#seq;
    const key = names.join('\n');
    // An empty list is owed nothing: the server has nothing to send for it.
    if (key !== this.#sentKey && names.length > 0 && this.#owed !== undefined) {
      this.#owed.push(seq);
      if (this.#owed.length > MAX_OWED) this.#owed = undefined; // an answer could no longer be told from a later one
    }
    this.#sentKey = key;
    for (const name of names) if (!this.#since.has(name)) this.#since.set(name, { seq, atMs: nowMs });
  }

  /** A response at `version` arrived (call before applying it): an answer tells the server read the request it answers. */
  received(version: string): void {
    const isAnswer = this.#lastVersion === undefined || this.#lastVersion === version;
    this.#lastVersion = version;
    const seq = isAnswer ? this.#owed?.shift() : undefined;
    if (seq !== undefined) this.#readSeq = Math.max(this.#readSeq, seq);
  }

  /** The response carried `names` (call after applying it): the server read a request naming each. */
  carried(names: Iterable<string>): void {
    for (const name of names) {
      const since = this.#since.get(name);
      if (since !== undefined && !this.#resubscribable.has(name)) this.#readSeq = Math.max(this.#readSeq, since.seq);
    }
  }

  /** `name` is no longer subscribed: if it is asked for again, it counts from that request. */
  forget(name: string): void {
    if (this.#since.delete(name)) this.#resubscribable.add(name);
    this.#timedOut.delete(name);
  }

  /**
   * The names that have waited `timeoutMs` or more at `nowMs`, from now on counted as answered (the server had its
   * chance). Call it only while the stream is connected; see restartClock().
   */
  overdue(nowMs: number, timeoutMs: number): string[] {
    const due = [...this.#waiting()].filter(([, since]) => nowMs - since.atMs >= timeoutMs).map(([name]) => name);
    for (const name of due) this.#timedOut.add(name);
    return due;
  }

  /** When the next waiting name becomes overdue, or undefined if none waits. */
  nextDeadlineMs(timeoutMs: number): number | undefined {
    let earliest: number | undefined;
    for (const [, since] of this.#waiting()) if (earliest === undefined || since.atMs < earliest) earliest = since.atMs;
    return earliest === undefined ? undefined : earliest + timeoutMs;
  }

  /** The stream is not connected: waiting names start their wait again from `nowMs` (a server that is down said nothing). */
  restartClock(nowMs: number): void {
    for (const [, since] of this.#waiting()) since.atMs = nowMs;
  }

  /** A new stream: nothing is owed, read or answered on it yet. */
  reset(): void {
    this.#seq = 0;
    this.#readSeq = 0;
    this.#since.clear();
    this.#resubscribable.clear();
    this.#timedOut.clear();
    this.#owed = [];
    this.#lastVersion = undefined;
    this.#sentKey = undefined;
  }

  /** Subscribed names no response may delete yet. */
  *#waiting(): Generator<[string, { readonly seq: number; atMs: number }]> {
    for (const entry of this.#since) if (entry[1].seq > this.#readSeq && !this.#timedOut.has(entry[0])) yield entry;
  }
}
