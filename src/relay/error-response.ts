/**
 * @module The balancer's own responses on a request node:http parsed: the status of a
 * `SwitchyardError` and its one-line plain-text body, never a stack trace.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { errorHead, oneLineBody, type SwitchyardError } from '../errors.ts';
import { markClosing } from '../listener/closing-connections.ts';

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
  res.writeHead(error.status, errorHead(error, body, close));
  res.end(body);
}
