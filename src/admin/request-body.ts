/**
 * @module Reads the small body of an admin request (a weight, a backend to add) whole,
 * up to a bound, and parses it as JSON or as a bare text value. Too large a body is
 * refused as soon as its length is known, so a client cannot make the admin listener
 * buffer an unbounded upload.
 */
import type { IncomingMessage } from 'node:http';

/** Far above any real command (`{"origin":"http://...","weight":1000}` is ~50 bytes). */
export const MAX_ADMIN_BODY_BYTES = 16 * 1024;

/** Why a body was refused: `status` 400 (malformed) or 413 (too large), and one line. */
export class BodyError extends Error {
  override readonly name = 'BodyError';
  readonly status: 400 | 413;

  constructor(status: BodyError['status'], message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * The body as text (UTF-8), at most `limit` bytes; rejects with a BodyError beyond it.
 * Past the limit it stops reading without destroying the request (that would cut the
 * socket before the 413 is written); the caller answers with `connection: close`.
 */
export function readBody(req: IncomingMessage, limit = MAX_ADMIN_BODY_BYTES): Promise<string> {
  const tooLarge = (): BodyError => new BodyError(413, `the request body is larger than ${limit} bytes; admin commands are small JSON or text values`);
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received <= limit) return void chunks.push(chunk);
      req.off('data', onData).off('end', onEnd).pause();
      reject(tooLarge());
    };
    const onEnd = (): void => resolve(Buffer.concat(chunks).toString('utf8'));
    req.on('data', onData).on('end', onEnd).once('error', reject);
  });
}

/**
 * The body as a value: JSON when it parses as JSON (`{"weight": 3}`, `3`), otherwise
 * the trimmed text itself (`http://127.0.0.1:9000`), so that `curl -d 3` and
 * `curl -d http://...` work without quoting. null for an empty body.
 */
export function bodyValue(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    if (/^[[{"]/.test(trimmed)) throw new BodyError(400, `the body is not valid JSON: ${JSON.stringify(trimmed.slice(0, 60))}`);
    return trimmed;
  }
}
