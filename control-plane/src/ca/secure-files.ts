// Files holding secrets and security state (CA keys, token key, used tokens, admin token): private modes, atomic writes.
import { chmod, mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';

/** Mode of directories holding keys: owner only. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of key and token files: owner read/write only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Mode of public files (certificates). */
export const PUBLIC_FILE_MODE = 0o644;

/** Creates `dir` (and parents) if missing; a directory Weft creates is owner-only. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Writes `data` to `file` with `mode`, through a temp file in the same directory that is fsynced and renamed, so a crash
 * leaves the old file or the new one, never half of one. The temp file is created with `mode`, so a key is never
 * readable by others, not even for a moment.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode: number): Promise<void> {
  await ensurePrivateDir(path.dirname(file));
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(tmp, mode); // the umask may have narrowed it; never widened past `mode`
  await rename(tmp, file);
}

/** The text of `file`, or undefined when it does not exist. Other errors are thrown. */
export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** True when `file` can be read or written by group or others (a key or token file should not be). */
export async function isExposed(file: string): Promise<boolean> {
  if (process.platform === 'win32') return false;
  const s = await stat(file);
  return (s.mode & 0o077) !== 0;
}
