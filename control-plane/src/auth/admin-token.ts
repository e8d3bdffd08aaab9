// The operator token that guards the admin API: kept in a 0600 file (created with a random token if missing) and
// compared in constant time.
import crypto from 'node:crypto';
import { ERROR_CODES, MeshError } from '../../../src/core/errors.js';
import type { Logger } from '../../../src/core/logger.js';
import { PRIVATE_FILE_MODE, isExposed, readIfExists, writeFileAtomic } from '../ca/secure-files.js';

/** File name of the admin token inside the state dir (default of `--admin-token-file`). */
export const ADMIN_TOKEN_FILE = 'admin-token';
/** Shortest admin token accepted from a file (characters). */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** A fresh random admin token: 32 bytes, base64url (43 characters). */
export function randomAdminToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/**
 * Reads the admin token from `file`, or writes a new random one there (0600) when the file does not exist. Warns when
 * the file is readable by others. Throws WEFT_ERR_INVALID_ARG naming the file when it is empty or too short.
 */
export async function loadOrCreateAdminToken(file: string, logger: Logger): Promise<string> {
  const text = await readIfExists(file);
  if (text === undefined) {
    const token = randomAdminToken();
    await writeFileAtomic(file, `${token}\n`, PRIVATE_FILE_MODE);
    logger.info('admin API: created an operator token', { file });
    return token;
  }
  const token = text.trim();
  if (token.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new MeshError(ERROR_CODES.INVALID_ARG, `--admin-token-file ${file}: must hold one token of at least ${MIN_ADMIN_TOKEN_LENGTH} characters without spaces (delete it to have a random one created)`, { nonRetryable: true });
  }
  if (await isExposed(file)) logger.warn('admin API: the operator token file is readable by other users; chmod 600 it', { file });
  return token;
}

/** Why a request's credential was refused, or undefined when it carries `token`. Constant-time in the token's content. */
export function checkBearer(authorization: string | undefined, token: string): 'missing' | 'malformed' | 'wrong' | undefined {
  if (authorization === undefined || authorization === '') return 'missing';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!m) return 'malformed';
  // Hash both sides so the comparison takes the same time whatever the lengths and contents.
  const given = crypto.createHash('sha256').update(m[1]!).digest();
  const expected = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(given, expected) ? undefined : 'wrong';
}
