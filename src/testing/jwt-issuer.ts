// A test JWT issuer: an ES256 key pair with a kid, its public JWK Set, and tokens signed with it (or deliberately
// broken ones: alg none, wrong key, unknown kid), for testing RequestAuthentication and AuthorizationPolicy.
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** A token to sign: claims plus header and timing overrides (seconds since epoch). */
export interface TestTokenOptions {
  readonly subject?: string;
  readonly audience?: string | readonly string[];
  /** Default: the issuer's own. */
  readonly issuer?: string;
  /** Issued-at (s); default `nowSeconds`. */
  readonly iat?: number;
  /** Expiry (s); default iat + 3600; null for none. */
  readonly exp?: number | null;
  readonly nbf?: number;
  /** Other claims. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Header `kid`; default the issuer's. */
  readonly kid?: string;
}

/** What createTestIssuer returns. */
export interface TestIssuer {
  readonly issuer: string;
  readonly kid: string;
  /** The public JWK Set (`{ keys: [...] }`, with `kid`, `alg: ES256`, `use: sig`). */
  readonly jwks: { readonly keys: readonly JWK[] };
  /** An ES256 token signed with this issuer's key. */
  sign(options?: TestTokenOptions): Promise<string>;
  /** The same token signed with another key under this issuer's kid (a forged signature). */
  forge(options?: TestTokenOptions): Promise<string>;
  /** An unsigned token (`alg: none`) with these claims. */
  unsigned(options?: TestTokenOptions): string;
}

/** Options of createTestIssuer. */
export interface TestIssuerOptions {
  readonly issuer?: string;
  readonly kid?: string;
  /** Clock for default iat/exp (ms since epoch); default Date.now. */
  readonly nowMs?: () => number;
}

/** Makes an issuer with a fresh ES256 key pair (and a second one for forged signatures). */
export async function createTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const issuer = options.issuer ?? 'https://issuer.test';
  const kid = options.kid ?? 'test-key-1';
  const now = options.nowMs ?? Date.now;
  const real = await generateKeyPair('ES256', { extractable: true });
  const other = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(real.publicKey)), kid, alg: 'ES256', use: 'sig' };

  const claimsOf = (o: TestTokenOptions): { payload: JWTPayload; kid: string } => {
    const iat = o.iat ?? Math.floor(now() / 1000);
    const payload: JWTPayload = {
      ...o.claims,
      iss: o.issuer ?? issuer,
      iat,
      ...(o.subject !== undefined && { sub: o.subject }),
      ...(o.audience !== undefined && { aud: typeof o.audience === 'string' ? o.audience : [...o.audience] }),
      ...(o.exp !== null && { exp: o.exp ?? iat + 3600 }),
      ...(o.nbf !== undefined && { nbf: o.nbf }),
    };
    return { payload, kid: o.kid ?? kid };
  };
  const signWith = async (key: CryptoKey, o: TestTokenOptions): Promise<string> => {
    const { payload, kid: k } = claimsOf(o);
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: k, typ: 'JWT' }).sign(key);
  };
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return {
    issuer,
    kid,
    jwks: { keys: [jwk] },
    sign: (o = {}) => signWith(real.privateKey, o),
    forge: (o = {}) => signWith(other.privateKey, o),
    unsigned: (o = {}) => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claimsOf(o).payload)}.`,
  };
}
