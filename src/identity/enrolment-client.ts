// The SDK's client of weft.identity.v1.Identity: sends a CSR with a bootstrap token or renewal proof, and turns the
// control plane's refusals into WEFT_ERR_IDENTITY errors that say what to do.
import * as grpc from '@grpc/grpc-js';
import { ERROR_CODES, MeshError } from '../core/errors.js';
import { protos, type ProtoObject } from '../discovery/xds/protos.js';

/** Default deadline of one Sign call (ms). */
export const DEFAULT_SIGN_TIMEOUT_MS = 10_000;

/** How the workload proves who it is. */
export type EnrolCredential =
  | { readonly kind: 'bootstrap-token'; readonly token: string }
  | { readonly kind: 'renewal'; readonly chainPem: readonly string[]; readonly signature: Uint8Array };

/** What the CA answered. */
export interface SignResult {
  /** PEM, leaf first, without the root. */
  readonly chainPem: readonly string[];
  /** PEM roots. */
  readonly trustBundlePem: readonly string[];
  readonly spiffeId: string;
  readonly expiresAtMs: number;
}

/** Sends one CSR; rejects with a WEFT_ERR_IDENTITY MeshError (see refusalError). */
export type Enroller = (csrPem: string, credential: EnrolCredential) => Promise<SignResult>;

/** gRPC statuses that will not change by retrying the same request: the credential or CSR must change. */
const PERMANENT = new Set(['UNAUTHENTICATED', 'PERMISSION_DENIED', 'INVALID_ARGUMENT', 'FAILED_PRECONDITION']);

/**
 * The MeshError for a refused or failed Sign: WEFT_ERR_IDENTITY, `details.grpcCode`, `details.permanent` (retrying the
 * same credential cannot help), `details.retryAfterMs` for RESOURCE_EXHAUSTED, flag `retryable` when it may.
 */
export function refusalError(grpcCode: string, message: string, retryAfterMs?: number): MeshError {
  const permanent = PERMANENT.has(grpcCode);
  const what = permanent ? 'the control plane refused to sign this process\'s certificate' : 'enrolment with the control plane failed';
  return new MeshError(ERROR_CODES.IDENTITY, `${what} (${grpcCode}): ${message}`, {
    ...(permanent ? { nonRetryable: true } : { retryable: true }),
    details: { grpcCode, permanent, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
  });
}

/** Options of IdentityClient. */
export interface IdentityClientOptions {
  /** gRPC target of the control plane: `host:port`, or controlPlaneTarget()'s list of replicas (fails over between them). */
  readonly server: string;
  /** Channel credentials; default insecure (plaintext, like the xDS stream). */
  readonly credentials?: grpc.ChannelCredentials;
  /** Deadline of each Sign call (ms; default 10 000). */
  readonly timeoutMs?: number;
}

/** A gRPC client of the Identity service. */
export class IdentityClient {
  readonly #client: grpc.Client;
  readonly #timeoutMs: number;

  constructor(options: IdentityClientOptions) {
    this.#client = new grpc.Client(options.server, options.credentials ?? grpc.credentials.createInsecure());
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_SIGN_TIMEOUT_MS;
  }

  /** Calls Sign; resolves with the certificate, rejects with refusalError(). Never throws synchronously. */
  sign(csrPem: string, credential: EnrolCredential): Promise<SignResult> {
    const def = protos().identityService['Sign']!;
    const request: ProtoObject =
      credential.kind === 'bootstrap-token'
        ? { csr: csrPem, bootstrap_token: credential.token }
        : { csr: csrPem, renewal: { certificate_chain: [...credential.chainPem], signature: Buffer.from(credential.signature) } };
    return new Promise((resolve, reject) => {
      try {
        this.#client.makeUnaryRequest(
          def.path,
          def.requestSerialize,
          def.responseDeserialize as (b: Buffer) => ProtoObject,
          request,
          new grpc.Metadata(),
          { deadline: Date.now() + this.#timeoutMs },
          (err: grpc.ServiceError | null, response?: ProtoObject) => {
            if (err) {
              const pushback = Number(err.metadata?.get('grpc-retry-pushback-ms')[0]);
              return reject(refusalError(grpc.status[err.code] ?? String(err.code), err.details || err.message, Number.isFinite(pushback) ? pushback : undefined));
            }
            resolve(signResultOf(response ?? {}));
          },
        );
      } catch (e: unknown) {
        reject(refusalError('UNAVAILABLE', e instanceof Error ? e.message : String(e)));
      }
    });
  }

  /** Closes the channel. Idempotent. */
  close(): void {
    this.#client.close();
  }
}

function signResultOf(response: ProtoObject): SignResult {
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  return {
    chainPem: strings(response['certificate_chain']),
    trustBundlePem: strings(response['trust_bundle']),
    spiffeId: typeof response['spiffe_id'] === 'string' ? response['spiffe_id'] : '',
    expiresAtMs: Number(response['expires_at_ms'] ?? 0),
  };
}
