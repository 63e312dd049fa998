/**
 * @module How a request body travels upstream: not at all, streamed as it arrives, or
 * (only when --max-body must be enforced on a body of unknown length) read first, so
 * that a backend never sees the beginning of a request that is then refused.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { ClientLimits } from '../config/config.ts';
import { SwitchyardError } from '../errors.ts';
import type { FrontRequest } from '../front/front-request.ts';

/** Whether the request carries a body (RFC 9112 section 6.3): chunked, or a non-zero length. */
export function hasBody(req: FrontRequest): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** A 413 for a declared length over the limit, before a byte of the body is read. */
export function declaredTooLarge(req: FrontRequest, limits: ClientLimits): SwitchyardError | null {
  const max = limits.maxBodyBytes;
  const length = req.headers['content-length'];
  if (max === null || length === undefined || Number(length) <= max) return null;
  return new SwitchyardError('BODY_TOO_LARGE', `request body is ${length} bytes; the limit is ${max}`);
}

/** Whether the body must be read before any backend is contacted: a limit is set and
 * the length is not declared (chunked). */
export function mustBuffer(req: FrontRequest, limits: ClientLimits): boolean {
  return limits.maxBodyBytes !== null && req.headers['transfer-encoding'] !== undefined;
}

function idleError(limits: ClientLimits): SwitchyardError {
  return new SwitchyardError('REQUEST_TIMEOUT', `request body stalled for more than ${limits.bodyIdleMs} ms`);
}

function goneError(): SwitchyardError {
  return new SwitchyardError('CLIENT_CLOSED_REQUEST', 'client closed the connection during the request body');
}

/** Reads the whole body, failing with 413 past the limit or 408 when it stalls. */
export function readLimited(req: FrontRequest, limits: ClientLimits): Promise<Buffer> {
  const max = limits.maxBodyBytes ?? Number.MAX_SAFE_INTEGER;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const body = req.body;
    const fail = (error: SwitchyardError): void => {
      body.off('data', onData);
      req.setTimeout(0);
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > max) return fail(new SwitchyardError('BODY_TOO_LARGE', `request body exceeds the limit of ${max} bytes`));
      chunks.push(chunk);
    };
    body.on('data', onData);
    body.once('end', () => {
      req.setTimeout(0);
      resolve(Buffer.concat(chunks, bytes));
    });
    body.once('error', () => fail(goneError()));
    req.setTimeout(limits.bodyIdleMs, () => fail(idleError(limits)));
  });
}

/**
 * The body as a stream of its own, which the upstream connection may destroy (it does
 * when the upstream fails mid-upload) while the client connection keeps parsing what the
 * client still sends, so that our 502 goes out on a connection in a known state. A stall
 * or a vanished client fails the stream with a `SwitchyardError` (408, 499), which the
 * connection hands back to the exchange.
 */
export function streamBody(req: FrontRequest, limits: ClientLimits): Readable {
  const body = new PassThrough();
  // Until a connection takes the body, nobody listens: the connection finds the error in
  // `body.errored` when it starts sending.
  body.on('error', () => {});
  const source = req.body;
  source.on('error', () => body.destroy(goneError()));
  req.setTimeout(limits.bodyIdleMs, () => body.destroy(idleError(limits)));
  source.once('end', () => req.setTimeout(0));
  source.pipe(body);
  return body;
}
