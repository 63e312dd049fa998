/**
 * @module What a failed attempt at a backend means: the status and one-line message a
 * client may see (a timeout is a 504, anything else that went wrong at the backend a
 * 502), and how far the request got, which decides whether it may be sent elsewhere.
 */
import { SwitchyardError } from '../errors.ts';
import { FAILURE_REASONS, type FailureReason } from '../shared/layout.ts';

/**
 * - `connect`: no connection was made: nothing was sent, any request may go elsewhere.
 * - `died`: the connection closed or reset before any response byte: the backend may or
 *   may not have processed the request (only idempotent ones go elsewhere).
 * - `timeout`: no response headers in time: the backend may still be working on it.
 * - `response`: the response was malformed or cut off.
 * - `request`: the request could not be forwarded at all (not the backend's fault).
 */
export type FailurePhase = 'connect' | 'died' | 'timeout' | 'response' | 'request';

/**
 * A failure of the upstream connection, as upstream-connection.ts reports it. `code` is
 * one of the names below, a socket error's code (`ECONNRESET`, ...) or llhttp's name for
 * a malformed response (`HPE_...`). `reused`: the connection had carried a whole
 * response before, so a close under this request may be the backend's idle timeout
 * racing it rather than the backend failing (see retry-policy.ts).
 */
export class UpstreamFailure extends Error {
  readonly code: string;
  readonly reused: boolean;
  constructor(code: string, message: string, reused: boolean, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.reused = reused;
  }
}

/** A socket's own error (`ECONNRESET`, a TLS verification code, ...) as a failure. */
export function socketFailure(error: Error, reused: boolean): UpstreamFailure {
  const code = (error as { code?: unknown }).code;
  return new UpstreamFailure(typeof code === 'string' ? code : 'UPSTREAM_CLOSED', error.message, reused, error);
}

/** What a connection's deadline was waiting for when it passed. */
export type TimeoutKind = 'connect' | 'headers' | 'body';

/** A wait past its limit: connect (nothing was sent), response headers, body silence. */
export function timedOut(kind: TimeoutKind, limits: { connectMs: number; headersMs: number; bodyIdleMs: number }, reused: boolean): UpstreamFailure {
  if (kind === 'connect') return new UpstreamFailure('CONNECT_TIMEOUT', `no connection within ${limits.connectMs} ms`, false);
  if (kind === 'headers') return new UpstreamFailure('HEADERS_TIMEOUT', `no response headers within ${limits.headersMs} ms`, reused);
  return new UpstreamFailure('BODY_TIMEOUT', `response body silent for ${limits.bodyIdleMs} ms`, reused);
}

/** The backend closed (or reset) the connection while a request was on it. */
export function closedFailure(reused: boolean): UpstreamFailure {
  return new UpstreamFailure('UPSTREAM_CLOSED', 'the backend closed the connection', reused);
}

const FAILURES: Record<string, { phase: FailurePhase; what: string }> = {
  ECONNREFUSED: { phase: 'connect', what: 'refused the connection' },
  CONNECT_TIMEOUT: { phase: 'connect', what: 'did not accept the connection in time' },
  EHOSTUNREACH: { phase: 'connect', what: 'is unreachable' },
  ENETUNREACH: { phase: 'connect', what: 'is unreachable' },
  ENOTFOUND: { phase: 'connect', what: 'has a host name that does not resolve' },
  EAI_AGAIN: { phase: 'connect', what: 'has a host name that could not be resolved now' },
  ECONNRESET: { phase: 'died', what: 'reset the connection' },
  EPIPE: { phase: 'died', what: 'closed the connection while the request was being sent' },
  UPSTREAM_CLOSED: { phase: 'died', what: 'closed the connection before the response was complete' },
  HEADERS_TIMEOUT: { phase: 'timeout', what: 'did not send response headers in time' },
  BODY_TIMEOUT: { phase: 'response', what: 'stalled in the middle of the response body' },
  LENGTH_MISMATCH: { phase: 'response', what: 'sent a body shorter or longer than its Content-Length' },
};

/** Why a TLS handshake with a backend failed, by Node's code for it (verification on):
 * OpenSSL's verification failures; other `ERR_TLS_*` and `ERR_SSL_*` codes are TLS
 * failures too, recognised by their prefix. */
const TLS_FAILURES: Record<string, string> = {
  ERR_TLS_CERT_ALTNAME_INVALID: 'presented a certificate for another name',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'presented a self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'presented a certificate chain ending in an untrusted authority',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'presented a certificate from an untrusted authority',
  UNABLE_TO_GET_ISSUER_CERT: 'presented a certificate from an untrusted authority',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'presented a certificate from an untrusted authority',
  CERT_HAS_EXPIRED: 'presented an expired certificate',
  CERT_NOT_YET_VALID: 'presented a certificate that is not valid yet',
  CERT_REVOKED: 'presented a revoked certificate',
  CERT_UNTRUSTED: 'presented an untrusted certificate',
};

export function isTlsFailure(code: string): boolean {
  return code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code in TLS_FAILURES;
}

/** The reason a failed attempt is recorded under in shared memory (`lastFailure`,
 * `failuresBy`): its code when it is one of them, else the group it belongs to. */
export function failureReason(code: string): FailureReason {
  if ((FAILURE_REASONS as readonly string[]).includes(code)) return code as FailureReason;
  if (code.startsWith('HPE_')) return 'malformed response';
  return isTlsFailure(code) ? 'TLS' : 'other';
}

const TIMEOUTS = new Set(['CONNECT_TIMEOUT', 'HEADERS_TIMEOUT', 'BODY_TIMEOUT']);

/** The error's code (`ECONNREFUSED`, `UPSTREAM_CLOSED`, ...), or ''. */
export function failureCode(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : '';
}

export function failurePhase(error: unknown): FailurePhase {
  const code = failureCode(error);
  // A TLS handshake that failed sent no request: like a refused connection.
  if (isTlsFailure(code)) return 'connect';
  if (code === 'INVALID_REQUEST') return 'request';
  return FAILURES[code]?.phase ?? (code.startsWith('HPE_') ? 'response' : 'died');
}

export function upstreamError(error: unknown, origin: string): SwitchyardError {
  const code = failureCode(error);
  const where = `backend ${origin.replace(/^https?:\/\//, '')}`;
  // The request could not be written as HTTP/1.1 (a target with bytes a request line
  // cannot hold): the request, not the backend, is at fault.
  if (code === 'INVALID_REQUEST') {
    return new SwitchyardError('BAD_REQUEST', `request cannot be forwarded: ${(error as Error).message}`, { cause: error });
  }
  const what = FAILURES[code]?.what ?? TLS_FAILURES[code] ?? (code.startsWith('HPE_') ? 'sent a malformed response' : isTlsFailure(code) ? 'failed the TLS handshake' : 'failed');
  const status = TIMEOUTS.has(code) ? 'BACKEND_TIMEOUT' : 'BACKEND_FAILED';
  return new SwitchyardError(status, `${where} ${what}${code ? ` (${code})` : ''}`, { cause: error });
}
