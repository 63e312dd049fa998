/**
 * @module The balancer's own responses: a status and a one-line plain-text body, never a
 * stack trace.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { SwitchyardError } from '../errors.ts';

/**
 * Connections answered with `connection: close`. Node's parser may already hold
 * requests the client pipelined behind the refused one; those must not be processed
 * (RFC 9112 section 9.6), or a refusal would wave the next request through.
 */
const closing = new WeakSet<Socket>();

export function markClosing(socket: Socket): void {
  closing.add(socket);
}

/** Whether requests arriving on `socket` must be ignored: it is closing or gone. */
export function isClosing(socket: Socket): boolean {
  return socket.destroyed || closing.has(socket);
}

/** The one-line body of every response the balancer writes itself: `502 Bad Gateway: why`. */
export function oneLineBody(status: number, reason: string): string {
  return `${status} ${STATUS_CODES[status] ?? 'Error'}: ${reason}\n`;
}

/**
 * Answers with `error`. `close` when the connection cannot be reused: the rest of the
 * request body was not read, or the request itself was not trustworthy.
 */
export function sendError(res: ServerResponse, error: SwitchyardError, close: boolean): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = oneLineBody(error.status, error.message);
  if (close) markClosing(res.socket as Socket);
  res.writeHead(error.status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-switchyard-error': error.code,
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}
