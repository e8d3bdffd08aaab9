// Access logs: one JSON object per request, written through a bounded writer that drops (and counts) lines when its
// stream backs up, and never throws or crashes the process when the stream fails.
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { accessLogMatches, type TelemetryPolicy } from '../discovery/telemetry-policy.js';

/** Bytes a sink may hold unwritten before further lines are dropped (default of AccessLogOptions.maxBufferedBytes). */
export const DEFAULT_ACCESS_LOG_BUFFER_BYTES = 1 << 20;

/** One access-log line. Field names are stable (docs/observability.md "Access logs"). */
export interface AccessLogRecord {
  /** ISO 8601 time the request started. */
  readonly time: string;
  readonly direction: 'outbound' | 'inbound';
  readonly protocol: 'http' | 'grpc';
  /** HTTP method; `POST` for gRPC. */
  readonly method: string;
  /** The mesh authority called (outbound) or the Host / :authority received (inbound). */
  readonly authority: string;
  /** The path; for gRPC `/package.Service/Method`. */
  readonly path: string;
  readonly route?: string;
  readonly cluster?: string;
  /** `ip:port` of the last attempt's endpoint. */
  readonly endpoint?: string;
  /** HTTP status; 0 when no response arrived. */
  readonly status: number;
  readonly grpc_status?: number;
  readonly duration_ms: number;
  /** Attempts sent (outbound). */
  readonly attempts?: number;
  /** Why each retry was sent (`503`, `connect-failure`, `UNAVAILABLE`...). */
  readonly retry_reasons?: readonly string[];
  /** Mesh decisions: `fault_injected`, `outlier_ejected`, `denied:<reason>`, `error:<WEFT_ERR code>`... */
  readonly flags?: readonly string[];
  /** The error of a call that failed without a response (a MeshError code or the transport's). */
  readonly error?: string;
  readonly trace_id?: string;
  /** The caller's verified SPIFFE ID (inbound, over mesh mTLS). */
  readonly peer?: string;
}

/** Where access logs go: a stream (default process.stdout) or a file appended to. */
export interface AccessLogOptions {
  /** The sink; default process.stdout (unless `path`). The writer never ends or closes a stream it was given. */
  readonly stream?: Writable;
  /** A file to append to (opened on first line, closed on mesh.close()); takes precedence over `stream`. */
  readonly path?: string;
  /** Unwritten bytes past which lines are dropped; default DEFAULT_ACCESS_LOG_BUFFER_BYTES (1 MiB). */
  readonly maxBufferedBytes?: number;
}

/** Counters of the access-log writer (mesh.status().accessLog). */
export interface AccessLogStatus {
  readonly written: number;
  /** Lines dropped because the sink backed up or failed. */
  readonly dropped: number;
  /** The sink's last error, if it failed (it is then not written to again). */
  readonly error?: string;
}

/**
 * The bounded writer. write() is synchronous and cheap when the sink keeps up; when the sink holds more than
 * `maxBufferedBytes` unwritten, the line is dropped and counted. A sink error is remembered, counted and logged by
 * the caller's status; it is never thrown.
 */
export class AccessLogWriter {
  readonly #options: AccessLogOptions;
  readonly #maxBytes: number;
  #stream: Writable | undefined;
  #owned = false;
  #written = 0;
  #dropped = 0;
  #error: string | undefined;
  readonly #onError = (e: unknown): void => {
    this.#error = e instanceof Error ? e.message : String(e);
  };

  constructor(options: AccessLogOptions = {}) {
    this.#options = options;
    this.#maxBytes = options.maxBufferedBytes ?? DEFAULT_ACCESS_LOG_BUFFER_BYTES;
  }

  #sink(): Writable | undefined {
    if (this.#stream !== undefined) return this.#stream;
    try {
      if (this.#options.path !== undefined) {
        this.#stream = fs.createWriteStream(this.#options.path, { flags: 'a' });
        this.#owned = true;
      } else this.#stream = this.#options.stream ?? process.stdout;
      this.#stream.on('error', this.#onError);
    } catch (e: unknown) {
      this.#onError(e);
    }
    return this.#stream;
  }

  /** Writes `record` as one JSON line, or drops it (counted) when the sink is backed up or failed. */
  write(record: AccessLogRecord): void {
    const stream = this.#sink();
    if (stream === undefined || this.#error !== undefined || stream.destroyed || stream.writableLength > this.#maxBytes) {
      this.#dropped++;
      return;
    }
    try {
      stream.write(`${JSON.stringify(record)}\n`);
      this.#written++;
    } catch (e: unknown) {
      this.#onError(e);
      this.#dropped++;
    }
  }

  /** Lines written and dropped so far (a fresh frozen object). */
  status(): AccessLogStatus {
    return Object.freeze({ written: this.#written, dropped: this.#dropped, ...(this.#error !== undefined && { error: this.#error }) });
  }

  /** Ends a file sink the writer opened (flushing it); a given stream is left open. Idempotent. */
  async close(): Promise<void> {
    const s = this.#stream;
    if (!this.#owned || s === undefined || s.destroyed) return;
    await new Promise<void>((resolve) => s.end(resolve));
  }
}

/** True when `policy` asks for a line for a request with this outcome (no policy or no access_log: false). */
export function shouldLog(policy: TelemetryPolicy | undefined, status: number, durationMs: number): boolean {
  return policy !== undefined && policy.accessLog !== undefined && accessLogMatches(policy, status, durationMs);
}
