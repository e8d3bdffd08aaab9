// The one error type Weft throws or hands back on a call: a MeshError with a stable code and flags.

const BRAND = Symbol.for('weft.MeshError');

/** Stable error codes; docs/errors.md says what each means and what to do. */
export const ERROR_CODES = {
  INVALID_ARG: 'WEFT_ERR_INVALID_ARG',
  NO_ROUTE: 'WEFT_ERR_NO_ROUTE',
  NO_ENDPOINTS: 'WEFT_ERR_NO_ENDPOINTS',
  CONFIG_TIMEOUT: 'WEFT_ERR_CONFIG_TIMEOUT',
  CONFIG_REJECTED: 'WEFT_ERR_CONFIG_REJECTED',
  INVALID_CONFIG: 'WEFT_ERR_INVALID_CONFIG',
  QUEUE_FULL: 'WEFT_ERR_QUEUE_FULL',
  READY_TIMEOUT: 'WEFT_ERR_READY_TIMEOUT',
  TIMEOUT: 'WEFT_ERR_TIMEOUT',
  CLOSED: 'WEFT_ERR_CLOSED',
  LISTEN: 'WEFT_ERR_LISTEN',
  OVERLOADED: 'WEFT_ERR_OVERLOADED',
  UNKNOWN_SERVICE: 'WEFT_ERR_UNKNOWN_SERVICE',
  UNAUTHENTICATED: 'WEFT_ERR_UNAUTHENTICATED',
  PERMISSION_DENIED: 'WEFT_ERR_PERMISSION_DENIED',
  RATE_LIMITED: 'WEFT_ERR_RATE_LIMITED',
  IDENTITY: 'WEFT_ERR_IDENTITY',
  INTERNAL: 'WEFT_ERR_INTERNAL',
  STORE_UNAVAILABLE: 'WEFT_ERR_STORE_UNAVAILABLE',
} as const;

/** One of the codes in ERROR_CODES. */
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** What a caller may do about an error: retry it, never retry it, it was rejected before sending, or interrupted. */
export interface ErrorFlags {
  readonly retryable?: boolean;
  readonly nonRetryable?: boolean;
  readonly rejected?: boolean;
  readonly interrupted?: boolean;
}

/** Options of the MeshError constructor. */
export interface MeshErrorOptions extends ErrorFlags {
  cause?: unknown;
  /** Extra structured facts (service, route, endpoint...) shown by explain() and logs. */
  details?: Readonly<Record<string, unknown>>;
}

/** A typed mesh failure on one call; `code` is stable, `message` says what happened and why. */
export class MeshError extends Error {
  /** Stable code, `WEFT_ERR_*`. */
  readonly code: ErrorCode;
  /** How callers (and the retry layer) may treat it. */
  readonly flags: ErrorFlags;
  /** Structured facts about the failure. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: MeshErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MeshError';
    this.code = code;
    const { cause: _c, details, ...flags } = options;
    this.flags = Object.freeze(flags);
    this.details = Object.freeze({ ...details });
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** True if `e` is a MeshError (from any copy of Weft), optionally with `code`. Checks a Symbol.for brand. */
export function isMeshError(e: unknown, code?: ErrorCode): e is MeshError {
  if (typeof e !== 'object' || e === null || (e as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (e as MeshError).code === code;
}

/** Walks the `cause` chain of `err` and returns the first MeshError with `code`, if any. */
export function findCause(err: unknown, code: ErrorCode): MeshError | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 16; depth++) {
    if (isMeshError(e, code)) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Throws WEFT_ERR_INVALID_ARG: for programmer errors at construction time only. */
export function invalidArg(message: string): never {
  throw new MeshError(ERROR_CODES.INVALID_ARG, message, { nonRetryable: true });
}
