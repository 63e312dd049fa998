/**
 * @module The balancer's own responses on a parsed request: the status of a
 * `SwitchyardError` and its one-line plain-text body, never a stack trace.
 */
import { errorHead, oneLineBody, type SwitchyardError } from '../errors.ts';
import type { ClientResponse } from '../front/client-response.ts';
import type { RequestRecord } from '../listener/access-log.ts';
import { markClosing } from '../listener/closing-connections.ts';
import type { SharedState } from '../shared/shared-state.ts';
import { recordOwnResponse } from './outcome-counters.ts';

/**
 * Answers with `error` and counts it in `state`. `close` when the connection cannot be
 * reused: the rest of the request body was not read, or the request itself was not
 * trustworthy. After a backend's head went out, there is nothing left to answer: the
 * connection is cut (a truncated response is never made to look complete). `record`: the
 * access log's record of the request, or null when the log is off.
 */
export function sendError(res: ClientResponse, error: SwitchyardError, close: boolean, state: SharedState, record: RequestRecord | null): void {
  if (!res.headersSent) recordOwnResponse(state, res.destroyed ? 'CLIENT_CLOSED_REQUEST' : error.code);
  if (record !== null) record.error = res.destroyed && !res.headersSent ? 'CLIENT_CLOSED_REQUEST' : error.code;
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = oneLineBody(error.status, error.message);
  // A HEAD answer carries the length of the body it does not send.
  if (record !== null && res.req.method !== 'HEAD') record.bytesOut = Buffer.byteLength(body);
  // An HTTP/2 connection carries other streams: only this one ends (h2/h2-response.ts).
  if (close && !res.req.overH2) markClosing(res.req.socket);
  res.writeHead(error.status, errorHead(error, body, close));
  res.end(body);
}
