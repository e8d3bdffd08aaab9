// A tiny client of the control plane's admin API for the CLI, with one clear message when it cannot be reached.

/** Admin address used when neither `--server` nor `WEFT_ADMIN` is set. */
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:15000';
/** How long one admin request may take (ms). */
export const ADMIN_TIMEOUT_MS = 15_000;

/** A CLI failure with the message to print (no stack) and the exit code to use. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** An admin API answer: HTTP status and parsed JSON body. */
export interface AdminReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** Picks the admin base URL: `--server`, else WEFT_ADMIN, else DEFAULT_ADMIN_URL. Throws CliError (exit 2) if not http(s). */
export function adminUrl(server: string | undefined, env: NodeJS.ProcessEnv): string {
  const raw = (server ?? env['WEFT_ADMIN'] ?? DEFAULT_ADMIN_URL).trim();
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CliError(`'${raw}' is not an admin API address (expected e.g. ${DEFAULT_ADMIN_URL})`, 2);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`'${raw}' is not an http(s) address`, 2);
  return url.origin;
}

/** Calls the admin API at `base`. */
export class AdminClient {
  constructor(readonly base: string) {}

  /**
   * Sends `method path` with an optional text body and returns status and JSON. Throws CliError when the
   * control plane is unreachable, times out, or answers something that is not JSON.
   */
  async request(method: string, path: string, body?: string): Promise<AdminReply> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/yaml' } }),
        signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS),
      });
    } catch (e: unknown) {
      throw new CliError(
        `cannot reach the Weft control plane admin API at ${this.base} (${describeFetchError(e)}).\n` +
          'Is `weft control-plane` running? Point the CLI at it with --server <url> or the WEFT_ADMIN environment variable.',
      );
    }
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
    } catch {
      throw new CliError(`${this.base}${path} answered ${res.status} with a body that is not JSON; is ${this.base} a Weft admin API?`);
    }
  }

  /** Like request(), but throws CliError with the API's `error` message for any status >= 400. */
  async requestOk(method: string, path: string, body?: string): Promise<Record<string, unknown>> {
    const reply = await this.request(method, path, body);
    if (reply.status >= 400) throw new CliError(errorMessage(reply));
    return reply.body;
  }
}

/** The `error` of an admin reply, or a generic line. */
export function errorMessage(reply: AdminReply): string {
  const error = reply.body['error'];
  return typeof error === 'string' ? error : `the admin API answered HTTP ${reply.status}`;
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error && e.name === 'TimeoutError') return `no answer within ${ADMIN_TIMEOUT_MS} ms`;
  const cause = e instanceof Error ? (e.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.message) return cause.message;
  return e instanceof Error ? e.message : String(e);
}
