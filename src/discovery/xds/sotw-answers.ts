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

/** Bound on the requests awaiting their answer (a server that never answers cannot grow it). */
const MAX_UNANSWERED = 16;

/**
 * Per type and stream: the requests owed an answer, and the names a response may delete by omission. A name counts
 * once the server sent it on this stream, or once a response is matched to a request that named it:
 * - a request whose names differ from the previous one's (the first of the stream too) is owed an answer, in order;
 * - the first response of the stream, or one at the version of the response before it (nothing new to push), is an
 *   answer, to the oldest request owed one; a response at a new version may be a push the server sent before reading
 *   that request, so it is matched to nothing and its missing names wait for a later answer;
 * - a name requested and neither sent nor answered for `timeoutMs` while connected counts too (overdue()).
 * Synchronous, never throws; the caller owns the clock.
 */
export class SotwAnswers {
  readonly #unanswered: ReadonlySet<string>[] = [];
  readonly #answered = new Set<string>();
  /** Names requested on this stream that no response has spoken for yet, with when they were first requested. */
  readonly #waitingSinceMs = new Map<string, number>();
  #lastVersion: string | undefined;
  #sentKey: string | undefined;

  /** The names a response may delete by omission (live view: do not keep it across calls). */
  get answered(): ReadonlySet<string> {
    return this.#answered;
  }

  /** A request naming `names` (sorted) was sent at `nowMs`. */
  sent(names: readonly string[], nowMs: number): void {
    const key = names.join('\n');
    // An empty list is owed nothing: the server has nothing to send for it.
    if (key !== this.#sentKey && names.length > 0 && this.#unanswered.length < MAX_UNANSWERED) this.#unanswered.push(new Set(names));
    this.#sentKey = key;
    for (const name of names) if (!this.#answered.has(name) && !this.#waitingSinceMs.has(name)) this.#waitingSinceMs.set(name, nowMs);
  }

  /** A response at `version` arrived: if it is an answer, the oldest request owed one is answered for every name still in `subscribed`. */
  received(version: string, subscribed: ReadonlySet<string>): void {
    const isAnswer = this.#lastVersion === undefined || this.#lastVersion === version;
    this.#lastVersion = version;
    if (!isAnswer) return;
    const request = this.#unanswered.shift();
    if (request !== undefined) for (const name of request) if (subscribed.has(name)) this.#answer(name);
  }

  /** The response carried `names`: the server holds them for this client, so a later response without them deletes them. */
  carried(names: Iterable<string>): void {
    for (const name of names) this.#answer(name);
  }

  /** `name` is no longer subscribed: if it is asked for again, only an answer to that request speaks for it. */
  forget(name: string): void {
    this.#answered.delete(name);
    this.#waitingSinceMs.delete(name);
  }

  /**
   * The names waiting for `timeoutMs` or more at `nowMs`, now counted as answered (the server had its chance). Call it
   * only while the stream is connected; see restartClock().
   */
  overdue(nowMs: number, timeoutMs: number): string[] {
    const due: string[] = [];
    for (const [name, sinceMs] of this.#waitingSinceMs) if (nowMs - sinceMs >= timeoutMs) due.push(name);
    for (const name of due) this.#answer(name);
    return due;
  }

  /** When the next name becomes overdue, or undefined if none waits. */
  nextDeadlineMs(timeoutMs: number): number | undefined {
    let earliest: number | undefined;
    for (const sinceMs of this.#waitingSinceMs.values()) if (earliest === undefined || sinceMs < earliest) earliest = sinceMs;
    return earliest === undefined ? undefined : earliest + timeoutMs;
  }

  /** The stream is not connected: waiting names start their wait again from `nowMs` (a server that is down said nothing). */
  restartClock(nowMs: number): void {
    for (const name of this.#waitingSinceMs.keys()) this.#waitingSinceMs.set(name, nowMs);
  }

  /** A new stream: nothing is owed or answered on it yet. */
  reset(): void {
    this.#unanswered.length = 0;
    this.#answered.clear();
    this.#waitingSinceMs.clear();
    this.#lastVersion = undefined;
    this.#sentKey = undefined;
  }

  #answer(name: string): void {
    this.#answered.add(name);
    this.#waitingSinceMs.delete(name);
  }
}
