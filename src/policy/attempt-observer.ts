// The protocol-neutral hooks a policy gets for one attempt (the HTTP and gRPC adapters call them); no transport here.
import type { ErrorKind } from '../core/classify.js';

/**
 * What a policy observes of one attempt, from the transport adapter. Calls are synchronous, in order
 * started? → responded? → ended (exactly once). The observer is shared by many attempts, so it keeps per-attempt
 * facts in the arguments, not in itself. Must not throw.
 */
export interface AttemptObserver {
  /** The attempt got a connection and is being sent (it was waiting for one until now). */
  started?(): void;
  /** Response headers arrived with `status` (HTTP status; 200 for gRPC, whose status may come later). */
  responded?(status: number): void;
  /**
   * The attempt ended: `failure` undefined when it completed, else how it failed (the adapter maps its transport's
   * errors; a caller's abort or a mesh-local refusal is `other`); `started` / `responded` say how far it got.
   * `latencyMs`, only for observers with a `clock`: from the attempt's dispatch to its response headers, or to its end
   * when there were none.
   */
  ended(failure: ErrorKind | undefined, started: boolean, responded: boolean, latencyMs?: number): void;
  /** The error that ended the attempt, just before ended() (for observers that name it, such as tracing). */
  error?(err: Error): void;
  /** Set to have attempts timed (ms, monotonic): the adapter reads it at dispatch and at the response headers. */
  readonly clock?: () => number;
}
