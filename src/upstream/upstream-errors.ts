/**
 * @module Turns what undici throws into a `SwitchyardError` a client may see: a timeout
 * is a 504, anything else that went wrong at the backend a 502, each with one line that
 * names the backend and the failure.
 */
import { SwitchyardError } from '../errors.ts';

const TIMEOUTS: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'did not accept the connection in time',
  UND_ERR_HEADERS_TIMEOUT: 'did not send response headers in time',
  UND_ERR_BODY_TIMEOUT: 'stalled in the middle of the response body',
};

const FAILURES: Record<string, string> = {
  ECONNREFUSED: 'refused the connection',
  ECONNRESET: 'reset the connection',
  EPIPE: 'closed the connection while the request was being sent',
  EHOSTUNREACH: 'is unreachable',
  ENETUNREACH: 'is unreachable',
  ENOTFOUND: 'has a host name that does not resolve',
  EAI_AGAIN: 'has a host name that could not be resolved now',
  UND_ERR_SOCKET: 'closed the connection before the response was complete',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'sent a body shorter or longer than its Content-Length',
  HPE_INVALID_CONSTANT: 'sent a malformed response',
};

export function upstreamError(error: unknown, origin: string): SwitchyardError {
  const code = (error as { code?: unknown }).code;
  const key = typeof code === 'string' ? code : '';
  const where = `backend ${origin.replace(/^http:\/\//, '')}`;
  // undici refused the request before sending it (e.g. a path it will not write): the
  // request, not the backend, is at fault.
  if (key === 'UND_ERR_INVALID_ARG') {
    return new SwitchyardError('BAD_REQUEST', `request cannot be forwarded: ${(error as Error).message}`, { cause: error });
  }
  const timeout = TIMEOUTS[key];
  if (timeout) return new SwitchyardError('UPSTREAM_TIMEOUT', `${where} ${timeout} (${key})`, { cause: error });
  const failure = FAILURES[key] ?? (key.startsWith('HPE_') ? 'sent a malformed response' : 'failed');
  return new SwitchyardError('UPSTREAM_FAILED', `${where} ${failure}${key ? ` (${key})` : ''}`, { cause: error });
}
