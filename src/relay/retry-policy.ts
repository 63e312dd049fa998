/**
 * @module When a failed attempt may be sent again, decided from the request and the
 * error alone: resent to the same backend (a reused keep-alive connection the backend
 * closed under us), sent on to another backend at once (nothing was sent: a requeue),
 * or retried elsewhere under the shared retry budget (the connection died before any
 * response byte). A request whose bytes a backend may have processed is never sent
 * twice unless it is idempotent and its body can be sent again. The exchange applies
 * these answers; the budget and --retries are its part.
 */
import { failurePhase, UpstreamFailure } from '../upstream/upstream-errors.ts';
import type { UpstreamRequest } from '../upstream/upstream-request.ts';

/** Methods that may be sent again when the connection died before any response byte
 * (RFC 9110 section 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Errors that mean "the connection died under the request", not "the backend answered badly";
 * resent to the same backend only on a reused connection (see mayResend). */
const STALE_CONNECTION = new Set(['UPSTREAM_CLOSED', 'ECONNRESET', 'EPIPE']);
export const MAX_RESENDS = 2;

type Body = UpstreamRequest['body'];

/** A body that can be sent again: none, or one read whole (--max-body). */
export function replayable(body: Body): boolean {
  return body === null || body === undefined || Buffer.isBuffer(body);
}

/**
 * Same backend, same request: only for a reused keep-alive connection that the backend
 * closed under us, which is not the backend failing. `resends`: how many this attempt
 * has had; called only before the response started.
 */
export function mayResend(error: Error, method: string, body: Body, resends: number): boolean {
  // Only a connection that had already carried a response can have been closed by the
  // backend's idle timeout under us (the connection's UpstreamFailure says whether it
  // had); a fresh connection that dies is the backend failing (retried elsewhere, if at all).
  return (
    resends < MAX_RESENDS && replayable(body) && IDEMPOTENT.has(method) && error instanceof UpstreamFailure && STALE_CONNECTION.has(error.code) && error.reused
  );
}

/**
 * How a failed attempt may go to another backend, if --retries allows one more. A
 * request whose connection was never made is sent on at once (Finagle calls this a
 * requeue): no backend worked on it, so sending it elsewhere adds no load, and a dead
 * backend under load would otherwise turn a burst of refusals into 502s. A request a
 * backend may have worked on is a `retry`: it takes a place in the shared retry budget,
 * or is not retried.
 */
export function retryElsewhere(error: Error, method: string, body: Body): 'requeue' | 'retry' | 'no' {
  const phase = failurePhase(error);
  if (phase === 'connect') {
    const untouchedStream = body !== null && typeof body === 'object' && 'readableDidRead' in body && !body.readableDidRead && !body.destroyed;
    return replayable(body) || untouchedStream ? 'requeue' : 'no';
  }
  return phase === 'died' && IDEMPOTENT.has(method) && replayable(body) ? 'retry' : 'no';
}
