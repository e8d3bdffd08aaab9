// Where a workload's bootstrap token comes from (createMesh option, WEFT_TOKEN, WEFT_TOKEN_FILE) and what it grants.
import { readFile } from 'node:fs/promises';

/** A bootstrap token's origin; a file is read again at every enrolment, so a replaced token is picked up. */
export type TokenSource = { readonly kind: 'value'; readonly token: string; readonly from: string } | { readonly kind: 'file'; readonly file: string };

/** Picks the token source: the option, else env WEFT_TOKEN, else env WEFT_TOKEN_FILE; undefined when none is set. */
export function tokenSourceOf(options: { readonly token?: string; readonly tokenFile?: string } | undefined, env: NodeJS.ProcessEnv): TokenSource | undefined {
  if (options?.token !== undefined) return { kind: 'value', token: options.token.trim(), from: 'createMesh({ identity: { token } })' };
  if (options?.tokenFile !== undefined) return { kind: 'file', file: options.tokenFile };
  const token = env['WEFT_TOKEN'];
  if (token !== undefined && token.trim() !== '') return { kind: 'value', token: token.trim(), from: 'WEFT_TOKEN' };
  const file = env['WEFT_TOKEN_FILE'];
  if (file !== undefined && file.trim() !== '') return { kind: 'file', file: file.trim() };
  return undefined;
}

/** Names the source in messages. */
export function describeTokenSource(source: TokenSource): string {
  return source.kind === 'file' ? `the token file ${source.file}` : source.from;
}

/** Reads the token; rejects with an Error naming the source when a file cannot be read or is empty. */
export async function readToken(source: TokenSource): Promise<string> {
  if (source.kind === 'value') return source.token;
  let text: string;
  try {
    text = await readFile(source.file, 'utf8');
  } catch (e: unknown) {
    throw new Error(`cannot read the bootstrap token file ${source.file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (text.trim() === '') throw new Error(`the bootstrap token file ${source.file} is empty`);
  return text.trim();
}
