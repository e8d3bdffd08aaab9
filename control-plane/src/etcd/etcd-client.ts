// Parses the control plane's `store` option and opens the one etcd client every etcd-backed part of a replica shares:
// the URL, TLS files and credentials are read here only, so the store, leases, secrets and presence connect alike.
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry, type IBackoff } from 'cockatiel';
import { Etcd3, EtcdAuthenticationFailedError, EtcdPermissionDeniedError, EtcdUserNotFoundError, isRecoverableError, type IOptions } from 'etcd3';
import { ERROR_CODES, MeshError, invalidArg } from '../../../src/core/errors.js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';

/** The default key prefix under which a control plane keeps everything in etcd. */
export const DEFAULT_ETCD_PREFIX = '/weft/';
/** The etcd client port assumed when a host in the store URL has none. */
export const DEFAULT_ETCD_PORT = 2379;
/** How long start-up waits for etcd to answer before failing (ms). */
export const DEFAULT_ETCD_CONNECT_TIMEOUT_MS = 5_000;
/** Deadline of each etcd call made on a request path (apply, register, keep-alive) (ms). */
export const ETCD_CALL_TIMEOUT_MS = 5_000;

/** A parsed `etcd://` (plaintext) or `etcds://` (TLS) `host:port[,host:port...][/prefix]` store URL. */
export interface EtcdStoreUrl {
  /** Client URLs, `http://host:port` (`https://` for etcds://), in the order given. */
  readonly hosts: readonly string[];
  /** Key prefix, always starting and ending with `/` (default `/weft/`). */
  readonly prefix: string;
  /** True for `etcds://`: the client speaks TLS to every host. */
  readonly tls: boolean;
}

/**
 * How a control plane reaches etcd (`ControlPlaneOptions.store` as an object; the `--etcd-*` flags): the store URL,
 * TLS files (etcds:// only) and etcd's user/password authentication. Files are read once at start-up.
 */
export interface EtcdConnectionOptions {
  /** `etcd://` or `etcds://` `host:2379[,host:2379...][/prefix]` (`--store`). */
  readonly url: string;
  /** PEM bundle of the CAs that sign etcd's server certificate (`--etcd-ca-file`; default: Node's public roots). */
  readonly caFile?: string;
  /** PEM client certificate chain for etcd's --client-cert-auth (`--etcd-cert-file`); needs `keyFile`. */
  readonly certFile?: string;
  /** PEM private key of `certFile` (`--etcd-key-file`). */
  readonly keyFile?: string;
  /** etcd user (`--etcd-user`); needs `password` or `passwordFile`. */
  readonly username?: string;
  /** Its password (embedding, or the CLI's `WEFT_ETCD_PASSWORD`); never a command-line argument. */
  readonly password?: string;
  /** File holding the password, one trailing newline ignored (`--etcd-password-file`). */
  readonly passwordFile?: string;
  /** Allow plaintext etcd:// to a host that is not loopback (`--etcd-allow-plaintext`); etcd holds the CA key. */
  readonly allowPlaintext?: boolean;
}

/** A resolved etcd connection: the parsed URL and what the client presents (files already read). */
export interface EtcdConnection {
  readonly url: EtcdStoreUrl;
  /** TLS roots and client certificate (etcds:// only). */
  readonly credentials?: { readonly rootCertificate: Buffer; readonly privateKey?: Buffer; readonly certChain?: Buffer };
  /** etcd user/password authentication. */
  readonly auth?: { readonly username: string; readonly password: string };
}

/** Where each part of a control plane keeps its data under the store prefix (docs/configuration.md "etcd store"). */
export interface EtcdKeys {
  /** One key per configuration resource: `<prefix>config/<Kind>/<name>` = its YAML document. */
  readonly config: string;
  /** Bumped by every apply/delete; each edit's transaction compares its mod revision (optimistic concurrency). */
  readonly configGuard: string;
  /** One key per registered endpoint: `<prefix>registry/<lease id>` = its JSON, under that etcd lease. */
  readonly registry: string;
  /** One key per live replica: `<prefix>replicas/<id>` = its JSON, under the replica's own lease. */
  readonly replicas: string;
  /** Shared secrets: CA state, bootstrap-token key, admin token, the used-token ledger. */
  readonly secrets: string;
}

/** The key layout under `prefix` (which ends with `/`). */
export function etcdKeys(prefix: string): EtcdKeys {
  return {
    config: `${prefix}config/`,
    configGuard: `${prefix}meta/config-guard`,
    registry: `${prefix}registry/`,
    replicas: `${prefix}replicas/`,
    secrets: `${prefix}secrets/`,
  };
}

/** True when a `store` value names etcd (starts with `etcd://` or `etcds://`); anything else is a config directory. */
export function isEtcdStore(store: string): boolean {
  return store.startsWith('etcd://') || store.startsWith('etcds://');
}

/**
 * Parses `etcd://host:2379[,host:2379...][/prefix]` (`etcds://` for TLS). Throws WEFT_ERR_INVALID_ARG naming the URL
 * and the bad part: a missing host, a port outside 1..65535, a prefix with empty or `..` segments, or another scheme.
 */
export function parseEtcdStoreUrl(url: string): EtcdStoreUrl {
  const bad = (why: string): never => invalidArg(`store '${url}': ${why} (expected etcd://host:2379[,host:2379...][/prefix], or etcds:// for TLS)`);
  // Not echoed: the URL would put the password in the error (and it already shows in ps).
  if (/^etcds?:\/\/[^/]*@/.test(url)) invalidArg(`store: an etcd URL carries no user:password@ (it would show in ps and logs); give --etcd-user with WEFT_ETCD_PASSWORD or ${FLAG.passwordFile}`);
  if (!isEtcdStore(url)) bad('not an etcd:// or etcds:// URL');
  const secure = url.startsWith('etcds://');
  const rest = url.slice((secure ? 'etcds://' : 'etcd://').length);
  const slash = rest.indexOf('/');
  const hostList = slash === -1 ? rest : rest.slice(0, slash);
  const prefixPart = slash === -1 ? '' : rest.slice(slash + 1);
  if (hostList === '') bad('no host');
  const hosts = hostList.split(',').map((h) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d+))?$/.exec(h);
    if (m === null) return bad(`'${h}' is not host[:port]`);
    const port = m[2] === undefined ? DEFAULT_ETCD_PORT : Number(m[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return bad(`'${h}': port ${m[2]} is not 1..65535`);
    return `${secure ? 'https' : 'http'}://${m[1]}:${port}`;
  });
  const segments = prefixPart.split('/').filter((s, i, all) => !(s === '' && i === all.length - 1));
  if (prefixPart !== '' && segments.some((s) => s === '' || s === '.' || s === '..')) bad(`prefix '/${prefixPart}' has an empty, '.' or '..' segment`);
  return { hosts, prefix: prefixPart === '' ? DEFAULT_ETCD_PREFIX : `/${segments.join('/')}/`, tls: secure };
}

/**
 * Checks `options` and reads its files. Throws WEFT_ERR_INVALID_ARG naming the flag (and path) at fault: a malformed
 * URL, TLS files with plaintext etcd://, a certificate without its key, a user without a password (or two passwords),
 * an unreadable or empty file, or plaintext etcd:// to a host that is not loopback without `allowPlaintext` (etcd
 * holds the CA's key and the admin token). Warns on `logger` when a password would cross the network in clear.
 */
export async function resolveEtcdConnection(options: EtcdConnectionOptions, logger: Logger = NOOP_LOGGER): Promise<EtcdConnection> {
  const url = parseEtcdStoreUrl(options.url);
  const where = `store '${options.url}'`;
  const tlsFiles = (['caFile', 'certFile', 'keyFile'] as const).filter((k) => options[k] !== undefined);
  if (!url.tls && tlsFiles.length > 0) invalidArg(`${tlsFiles.map((k) => FLAG[k]).join(', ')} given, but ${where} is plaintext: write etcds:// to speak TLS to etcd`);
  if ((options.certFile === undefined) !== (options.keyFile === undefined)) invalidArg(`${FLAG.certFile} and ${FLAG.keyFile} go together: give both (etcd's --client-cert-auth) or neither`);
  if (options.password !== undefined && options.passwordFile !== undefined) invalidArg(`give the etcd password once: WEFT_ETCD_PASSWORD (password) or ${FLAG.passwordFile}, not both`);
  const hasPassword = options.password !== undefined || options.passwordFile !== undefined;
  if (options.username === undefined && hasPassword) invalidArg(`an etcd password was given without ${FLAG.username}`);
  if (options.username !== undefined && !hasPassword) invalidArg(`${FLAG.username} '${options.username}' needs a password: set WEFT_ETCD_PASSWORD or give ${FLAG.passwordFile}`);
  if (options.username === '') invalidArg(`${FLAG.username} is empty`);
  const remote = url.hosts.filter((h) => !isLoopback(hostOf(h)));
  if (!url.tls && remote.length > 0) {
    if (options.allowPlaintext !== true) {
      invalidArg(
        `${where} speaks plaintext to ${remote.map(hostOf).join(', ')}, which is not loopback; etcd holds the mesh CA's key and the admin token. Use etcds:// with ${FLAG.caFile} (and a client certificate), or pass ${FLAG.allowPlaintext} on a network you trust`,
      );
    }
    logger.warn(`etcd: plaintext connection to a host that is not loopback (${FLAG.allowPlaintext}); anyone on the path can read the CA key`, { hosts: remote, passwordInClear: options.username !== undefined });
  }
  const read = async (key: 'caFile' | 'certFile' | 'keyFile' | 'passwordFile'): Promise<Buffer | undefined> => {
    const file = options[key];
    if (file === undefined) return undefined;
    const data = await readFile(file).catch((e: unknown) => invalidArg(`${FLAG[key]} '${file}': cannot read it (${e instanceof Error ? e.message : String(e)})`));
    if (data.toString().trim() === '') invalidArg(`${FLAG[key]} '${file}' is empty`);
    return data;
  };
  const [ca, cert, key, passwordFile] = [await read('caFile'), await read('certFile'), await read('keyFile'), await read('passwordFile')];
  const password = options.password ?? passwordFile?.toString().replace(/\r?\n$/, '');
  if (password === '') invalidArg('the etcd password is empty');
  return {
    url,
    ...(url.tls
      ? {
          credentials: {
            // etcd3 needs the roots whenever a client certificate is given: Node's public roots unless a CA file is.
            rootCertificate: ca ?? Buffer.from(tls.rootCertificates.join('\n')),
            ...(key === undefined ? {} : { privateKey: key }),
            ...(cert === undefined ? {} : { certChain: cert }),
          },
        }
      : {}),
    ...(options.username === undefined || password === undefined ? {} : { auth: { username: options.username, password } }),
  };
}

/** The CLI flag of each EtcdConnectionOptions field, for error messages (the embedding name follows in brackets). */
const FLAG = {
  caFile: '--etcd-ca-file (caFile)',
  certFile: '--etcd-cert-file (certFile)',
  keyFile: '--etcd-key-file (keyFile)',
  username: '--etcd-user (username)',
  passwordFile: '--etcd-password-file (passwordFile)',
  allowPlaintext: '--etcd-allow-plaintext (allowPlaintext)',
} as const;

/** `host:port` of a client URL (`http://host:port`). */
function hostPort(clientUrl: string): string {
  return clientUrl.replace(/^https?:\/\//, '');
}

/** The host of a client URL, without brackets or port. */
function hostOf(clientUrl: string): string {
  return hostPort(clientUrl).replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return net.isIPv6(host) && (host === '::1' || /^::ffff:127\./i.test(host));
}

/** Options of openEtcd. */
export interface OpenEtcdOptions {
  /** How long to wait for etcd to answer before rejecting (ms, default 5000). */
  readonly connectTimeoutMs?: number;
}

/**
 * Creates an etcd client for `connection` (a parsed URL alone: plaintext, no auth) and checks within
 * `connectTimeoutMs` that etcd answers a read under the prefix, which also proves the TLS handshake, the password and
 * the role. Rejects (the client is closed then; never hangs) with "etcd at h:p refused: ..." and
 * WEFT_ERR_INVALID_ARG for a wrong user, password or missing permission, WEFT_ERR_STORE_UNAVAILABLE for a TLS
 * handshake failure, or WEFT_ERR_STORE_UNAVAILABLE naming the hosts when etcd does not answer. Calls made later fail
 * fast (one retry, a per-host breaker) rather than queueing: callers keep their last good state.
 */
export async function openEtcd(connection: EtcdConnection | EtcdStoreUrl, options: OpenEtcdOptions = {}): Promise<Etcd3> {
  const conn: EtcdConnection = 'url' in connection ? connection : { url: connection };
  const { url } = conn;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_ETCD_CONNECT_TIMEOUT_MS;
  const secure: Pick<IOptions, 'credentials' | 'auth'> = {
    ...(conn.credentials === undefined ? {} : { credentials: { ...conn.credentials } }),
    ...(conn.auth === undefined ? {} : { auth: { ...conn.auth } }),
  };
  const client = new Etcd3({
    hosts: [...url.hosts],
    ...secure,
    dialTimeout: timeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
    faultHandling: {
      // One retry on another host; a host failing 3 times in a row is skipped for 2 s (etcd3's default is 5 s).
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 2_000, breaker: new ConsecutiveBreaker(3) }),
      // Watches reconnect within 2 s at most, so a replica catches up soon after etcd returns.
      watchBackoff: cappedBackoff(100),
    },
  });
  try {
    await withTimeout(client.get(etcdKeys(url.prefix).configGuard).exec(), timeoutMs);
    return client;
  } catch (e: unknown) {
    client.close();
    const refused = await refusal(conn, e);
    if (refused !== undefined) throw refused;
    throw new MeshError(
      ERROR_CODES.STORE_UNAVAILABLE,
      `etcd at ${url.hosts.join(', ')} is unreachable (start-up waits at most ${timeoutMs} ms): ${e instanceof Error ? e.message : String(e)}; is etcd running there?`,
      { cause: e, retryable: true, details: { hosts: url.hosts } },
    );
  }
}

/** A clear error when etcd answered but refused this client (credentials, permission, TLS); undefined otherwise. */
async function refusal(conn: EtcdConnection, e: unknown): Promise<MeshError | undefined> {
  const at = `etcd at ${conn.url.hosts.map(hostPort).join(', ')} refused`;
  const message = e instanceof Error ? e.message : String(e);
  const user = conn.auth?.username;
  const invalid = (why: string) => new MeshError(ERROR_CODES.INVALID_ARG, `${at}: ${why}`, { cause: e, nonRetryable: true, details: { hosts: conn.url.hosts } });
  if (e instanceof EtcdAuthenticationFailedError || e instanceof EtcdUserNotFoundError) {
    return invalid(`authentication failed for user '${user ?? ''}' (${message}); check ${FLAG.username} and the password (WEFT_ETCD_PASSWORD or ${FLAG.passwordFile})`);
  }
  if (e instanceof EtcdPermissionDeniedError) {
    return invalid(
      user === undefined
        ? `permission denied (${message}): etcd has authentication enabled; give ${FLAG.username} with WEFT_ETCD_PASSWORD or ${FLAG.passwordFile}`
        : `permission denied to user '${user}' under ${conn.url.prefix} (${message}); grant it a role with readwrite on the prefix ${conn.url.prefix}`,
    );
  }
  // grpc-js reports a failed handshake as UNAVAILABLE, often without the reason ("Last error: null"): one plain TLS
  // handshake with the same files tells a refused certificate from an etcd that is not there.
  const handshake = conn.url.tls ? await tlsFailure(conn) : undefined;
  if (handshake !== undefined) {
    return new MeshError(
      ERROR_CODES.STORE_UNAVAILABLE,
      `${at}: TLS handshake failed (${handshake}); check ${FLAG.caFile} (the CA of etcd's --cert-file) and ${FLAG.certFile}/${FLAG.keyFile} (signed by etcd's --trusted-ca-file)`,
      { cause: e, retryable: true, details: { hosts: conn.url.hosts } },
    );
  }
  return undefined;
}

/** Socket errors that mean "nobody answered", not "the TLS handshake failed". */
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** How long a TLS probe waits for the handshake and for the server's verdict on the client certificate (ms). */
const TLS_PROBE_MS = 2_000;

/**
 * Handshakes with each host using `conn`'s TLS files and returns the first TLS failure ("unable to verify the first
 * certificate", "alert certificate required", ...), or undefined when none failed for a TLS reason. With TLS 1.3 the
 * server judges the client certificate after the client's side is done, so a good handshake waits briefly for its alert.
 */
async function tlsFailure(conn: EtcdConnection): Promise<string | undefined> {
  const probe = (clientUrl: string) =>
    new Promise<string | undefined>((resolve) => {
      const url = new URL(clientUrl);
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      const socket = tls.connect({
        host,
        port: Number(url.port),
        ...(net.isIP(host) ? {} : { servername: host }),
        ALPNProtocols: ['h2'],
        ...(conn.credentials === undefined ? {} : { ca: conn.credentials.rootCertificate, ...(conn.credentials.certChain === undefined ? {} : { cert: conn.credentials.certChain, key: conn.credentials.privateKey }) }),
      });
      const done = (why: string | undefined) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(why);
      };
      const timer = setTimeout(() => done(undefined), TLS_PROBE_MS);
      socket.once('error', (err: NodeJS.ErrnoException) => done(err.code !== undefined && NETWORK_ERRORS.has(err.code) ? undefined : err.message));
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        setTimeout(() => done(undefined), TLS_PROBE_MS).unref();
      });
    });
  for (const why of await Promise.all(conn.url.hosts.map(probe))) if (why !== undefined) return why.split('\n')[0]!.replace(/^[0-9A-F]+:error:[0-9A-F]+:SSL routines:[^:]*:/, '').replace(/:\.\.\/deps.*$/, '');
  return undefined;
}

/** Doubling delays from `ms` capped at 2 s (etcd3 reads `duration` and calls `next()` after each failed attempt). */
function cappedBackoff(ms: number): IBackoff<unknown> {
  return { duration: ms, next: () => cappedBackoff(Math.min(2_000, ms * 2)) };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
