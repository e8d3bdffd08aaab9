// Which JWKs and JWS algorithms Weft never accepts for request authentication: symmetric ones (a shared secret).

/** True for a JWS HMAC algorithm (`HS256`, `HS384`, `HS512`, any `HS*`): never accepted, from inline or remote keys. */
export function isHmacAlgorithm(alg: string): boolean {
  return /^HS/i.test(alg);
}

/** True for a JWK that holds or is meant for a shared secret: `kty` `oct`, or an HMAC `alg` (HS256/384/512). */
export function isSymmetricJwk(k: object): boolean {
  const { kty, alg } = k as { kty?: unknown; alg?: unknown };
  return kty === 'oct' || (typeof alg === 'string' && isHmacAlgorithm(alg));
}
