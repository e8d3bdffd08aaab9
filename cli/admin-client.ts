// A tiny client of the control plane's admin API for the CLI, with one clear message when it cannot be reached or
// refuses the operator token.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** Admin address used when neither `--server` nor `WEFT_ADMIN` is set. */
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:15000';
/** How long one admin request may take (ms). */
export const ADMIN_TIMEOUT_MS = 15_000;
/** The token file `weft control-plane` writes with its default --config-dir and --state-dir, read when nothing else is given. */
export const DEFAULT_ADMIN_TOKEN_FILE = path.join('mesh', '.weft', 'admin-token');
/** How to give the CLI the operator token (for messages). */
export const TOKEN_HELP = `give the operator token with --token <token>, WEFT_ADMIN_TOKEN=<token> or WEFT_ADMIN_TOKEN_FILE=<file>; the control plane writes it to <state-dir>/admin-token (by default ./mesh/.weft/admin-token, read when nothing else is given)`;

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

/**
 * The operator token: `--token`, else WEFT_ADMIN_TOKEN, else the file WEFT_ADMIN_TOKEN_FILE names, else
 * ./mesh/.weft/admin-token if it exists (the default of `weft control-plane` run from the same directory), else none.
 * Throws CliError (exit 2) when the named file cannot be read or is empty.
 */
export async function adminToken(token: string | undefined, env: NodeJS.ProcessEnv, cwd = process.cwd()): Promise<string | undefined> {
  const given = token ?? env['WEFT_ADMIN_TOKEN'];
  if (given !== undefined && given.trim() !== '') return given.trim();
  const file = env['WEFT_ADMIN_TOKEN_FILE'];
  if (file !== undefined && file !== '') {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e: unknown) {
      throw new CliError(`WEFT_ADMIN_TOKEN_FILE=${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, 2);
    }
    if (text.trim() === '') throw new CliError(`WEFT_ADMIN_TOKEN_FILE=${file} is empty`, 2);
    return text.trim();
  }
  try {
    const text = (await readFile(path.join(cwd, DEFAULT_ADMIN_TOKEN_FILE), 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

/** The client for a command's `--server` and `--token` options and the environment. */
export async function adminClientFor(values: { readonly server?: string | undefined; readonly token?: string | undefined }, env: NodeJS.ProcessEnv): Promise<AdminClient> {
  return new AdminClient(adminUrl(values.server, env), await adminToken(values.token, env));
}

/** Calls the admin API at `base` with the operator token. */
export class AdminClient {
  constructor(
    readonly base: string,
    readonly token?: string,
  ) {}

  /**
   * Sends `method path` with an optional text body and returns status and JSON. Throws CliError when the
   * control plane is unreachable, times out, or answers something that is not JSON.
   */
  async request(method: string, path: string, body?: string): Promise<AdminReply> {
    let res: Response;
    try {
      const headers: Record<string, string> = {};
      if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
      if (body !== undefined) headers['content-type'] = body.startsWith('{') ? 'application/json' : 'application/yaml';
      res = await fetch(`${this.base}${path}`, { method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS) });
    } catch (e: unknown) {
      throw new CliError(
        `cannot reach the Weft control plane admin API at ${this.base} (${describeFetchError(e)}).\n` +
          'Is `weft control-plane` running? Point the CLI at it with --server <url> or the WEFT_ADMIN environment variable.',
      );
    }
    const text = await res.text();
    if (res.status === 401) {
      throw new CliError(`the control plane at ${this.base} refused the request: ${this.token === undefined ? 'no operator token was given' : 'the operator token is wrong'}.\nTo fix it, ${TOKEN_HELP}.`);
    }
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
