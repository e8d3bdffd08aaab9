// Request bodies a retry can send again: in-memory bodies up to a byte cap as they are, streams buffered up to the cap.
// No undici here: bodies are described by shape (string, bytes, async iterable).

/** How a request body can be treated by the retry layer. */
export type BodyKind =
  /** No body, a string or bytes within the cap: it can be sent again as is. */
  | 'replayable'
  /** A string or bytes above the cap: sent once, never retried. */
  | 'too-large'
  /** A stream (async iterable): buffer it (bufferBody) before the first attempt if a retry is possible. */
  | 'stream'
  /** Anything else (FormData, Blob...): sent once, never retried. */
  | 'opaque';

/** Classifies `body` against `maxBytes` without reading it. Never throws. */
export function bodyKind(body: unknown, maxBytes: number): BodyKind {
  if (body === undefined || body === null) return 'replayable';
  if (typeof body === 'string') return body.length <= maxBytes / 3 || Buffer.byteLength(body) <= maxBytes ? 'replayable' : 'too-large';
  if (body instanceof Uint8Array) return body.byteLength <= maxBytes ? 'replayable' : 'too-large';
  if (typeof body === 'object' && typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function') return 'stream';
  return 'opaque';
}

/** A buffered stream: the whole body when it fit in the cap, else a one-shot body with what was read put back first. */
export type BufferedBody =
  | { readonly replayable: true; readonly body: Buffer }
  | { readonly replayable: false; readonly body: AsyncIterable<Uint8Array> };

/**
 * Reads `stream` until it ends or more than `maxBytes` were read. A body that fit is returned whole (replayable); a
 * larger one comes back as a one-shot iterable yielding the chunks already read, then the rest of the stream. If the
 * stream fails, the one-shot iterable yields what was read and then throws the stream's error (the transport reports
 * it). Never rejects.
 */
export async function bufferBody(stream: AsyncIterable<unknown>, maxBytes: number): Promise<BufferedBody> {
  const iterator = stream[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const r = await iterator.next();
      if (r.done === true) return { replayable: true, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total) };
      const chunk = toBuffer(r.value);
      chunks.push(chunk);
      total += chunk.byteLength;
      if (total > maxBytes) return { replayable: false, body: rest(chunks, iterator) };
    }
  } catch (e: unknown) {
    return { replayable: false, body: failing(chunks, e) };
  }
}

function toBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return Buffer.from(String(value));
}

async function* rest(read: Buffer[], iterator: AsyncIterator<unknown>): AsyncGenerator<Uint8Array> {
  yield* read;
  for (;;) {
    const r = await iterator.next();
    if (r.done === true) return;
    yield toBuffer(r.value);
  }
}

async function* failing(read: Buffer[], error: unknown): AsyncGenerator<Uint8Array> {
  yield* read;
  throw error;
}
