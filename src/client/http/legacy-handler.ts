// Lets a layer that drives undici's legacy handler callbacks (onConnect/onHeaders/...) deliver to a caller's handler
// of either generation: legacy handlers are used as they are, v7 ones (onRequestStart/onResponse*) through an adapter.
import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';

/** The legacy undici handler callbacks, all present. */
export interface LegacyHandler {
  onConnect(abort: (err?: Error) => void, context?: unknown): void;
  onResponseStarted?(): void;
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(rawTrailers: Buffer[] | string[] | null): void;
  onError(err: Error): void;
  onUpgrade?(statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void;
  onBodySent?(chunkSize: number, totalBytesSent: number): void;
}

/** Parses undici raw headers (name, value, name, value...) into a Node-style object (lower-case names). */
export function parseRawHeaders(raw: readonly (Buffer | string)[] | null | undefined): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  if (!raw) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString().toLowerCase();
    const value = raw[i + 1]!.toString('latin1');
    const prev = out[name];
    if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out as IncomingHttpHeaders;
}

/** The value of raw header `lowerName` (first occurrence), or undefined. */
export function rawHeader(raw: readonly (Buffer | string)[] | null | undefined, lowerName: string): string | undefined {
  if (!raw) return undefined;
  const n = lowerName.length;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length === n && key.toString().toLowerCase() === lowerName) return raw[i + 1]!.toString('latin1');
  }
  return undefined;
}

class AdapterController implements Dispatcher.DispatchController {
  #paused = false;
  #aborted = false;
  #reason: Error | null = null;
  readonly #abort: (err?: Error) => void;
  resumeFn: (() => void) | undefined;
  constructor(abort: (err?: Error) => void) {
    this.#abort = abort;
  }
  get aborted(): boolean {
    return this.#aborted;
  }
  get paused(): boolean {
    return this.#paused;
  }
  get reason(): Error | null {
    return this.#reason;
  }
  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#abort(reason);
  }
  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.resumeFn?.();
  }
}

/** Drives a v7 handler from legacy callbacks (what undici's internal UnwrapHandler does). */
class V7Adapter implements LegacyHandler {
  readonly #h: Dispatcher.DispatchHandler;
  #c: AdapterController = new AdapterController(() => {});
  constructor(handler: Dispatcher.DispatchHandler) {
    this.#h = handler;
  }
  onConnect(abort: (err?: Error) => void, context?: unknown): void {
    this.#c = new AdapterController(abort);
    this.#h.onRequestStart?.(this.#c, context);
  }
  onResponseStarted(): void {
    (this.#h as { onResponseStarted?: () => void }).onResponseStarted?.();
  }
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    this.#c.resumeFn = resume;
    this.#h.onResponseStart?.(this.#c, statusCode, parseRawHeaders(rawHeaders), statusText);
    return !this.#c.paused;
  }
  onData(chunk: Buffer): boolean {
    this.#h.onResponseData?.(this.#c, chunk);
    return !this.#c.paused;
  }
  onComplete(rawTrailers: Buffer[] | string[] | null): void {
    this.#h.onResponseEnd?.(this.#c, parseRawHeaders(rawTrailers));
  }
  onError(err: Error): void {
    this.#h.onResponseError?.(this.#c, err);
  }
  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    this.#h.onRequestUpgrade?.(this.#c, statusCode, parseRawHeaders(rawHeaders), socket);
  }
}

/** `handler` as a LegacyHandler: itself when it is one, else an adapter (one object per request). */
export function asLegacyHandler(handler: Dispatcher.DispatchHandler): LegacyHandler {
  return typeof handler.onRequestStart === 'function' ? new V7Adapter(handler) : (handler as unknown as LegacyHandler);
}
