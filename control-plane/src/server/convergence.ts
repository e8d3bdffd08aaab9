// Convergence time per xDS stream, with the meaning of Istio's pilot_proxy_convergence_time: the delay between a
// config or registry change and the process having ACKed every response that followed it. Shared by every stream
// kind (State of the World, and delta): each calls sent() per response and answered() per ACK or NACK.

/** What the ADS server reports as it pushes (the control plane's metrics implement it). Implementations must not throw. */
export interface PushObserver {
  /** A response of `typeUrl` was sent to a stream. */
  pushed(typeUrl: string): void;
  /** A client refused (NACKed) a response of `typeUrl`. */
  nacked(typeUrl: string): void;
  /** A stream converged: `delayMs` from the first change it had not yet ACKed to the ACK that completed it. */
  converged(delayMs: number): void;
}

/** How a client answered a response (or that it no longer waits for one: the type was unsubscribed). */
export type ResponseAnswer = 'ack' | 'nack' | 'gone';

/**
 * One stream's convergence. Every response sent is outstanding until answered; a response that carries a change
 * (`changedAtMs`, when the first change it includes happened) opens a convergence, which completes when no response
 * is outstanding any more and is observed as now − the oldest change it included (so debounce time counts). Responses
 * that only answer a new subscription carry no change: they keep a convergence open but never start one. A NACK
 * abandons the convergence (the process kept its old config; NACKs are counted apart). Synchronous; never throws
 * unless the observer does.
 */
export class StreamConvergence {
  readonly #observer: PushObserver;
  readonly #nowMs: () => number;
  readonly #outstanding = new Set<string>();
  #sinceMs: number | undefined;

  constructor(observer: PushObserver, nowMs: () => number = Date.now) {
    this.#observer = observer;
    this.#nowMs = nowMs;
  }

  /** A response of `typeUrl` went out; `changedAtMs` is the first change it carries, undefined if none. */
  sent(typeUrl: string, changedAtMs: number | undefined): void {
    this.#outstanding.add(typeUrl);
    if (changedAtMs !== undefined && (this.#sinceMs === undefined || changedAtMs < this.#sinceMs)) this.#sinceMs = changedAtMs;
    this.#observer.pushed(typeUrl);
  }

  /** The client answered the latest response of `typeUrl`. Answers to no outstanding response are ignored. */
  answered(typeUrl: string, answer: ResponseAnswer): void {
    if (!this.#outstanding.delete(typeUrl)) return;
    if (answer === 'nack') {
      this.#sinceMs = undefined;
      this.#observer.nacked(typeUrl);
      return;
    }
    if (this.#outstanding.size > 0 || this.#sinceMs === undefined) return;
    const delayMs = Math.max(0, this.#nowMs() - this.#sinceMs);
    this.#sinceMs = undefined;
    this.#observer.converged(delayMs);
  }
}
