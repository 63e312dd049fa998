/**
 * @module The one error type of switchyard and the one way it becomes a response. Each
 * code has one HTTP status; the message is one line that is safe to show a client (no
 * stack, no internals). Whether the refusal is written as a response
 * (relay/error-response.ts) or straight onto a raw socket (listener/client-errors.ts),
 * its head comes from `errorHead` and its body from `oneLineBody`.
 */
import { STATUS_CODES } from 'node:http';

export const STATUS_BY_CODE = {
  BAD_REQUEST: 400,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  BODY_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  MISDIRECTED_REQUEST: 421,
  HEADERS_TOO_LARGE: 431,
  /** nginx's code for a client that went away first; never sent, only counted. */
  CLIENT_CLOSED_REQUEST: 499,
  INTERNAL_ERROR: 500,
  BACKEND_FAILED: 502,
  NO_BACKEND: 503,
  AT_CONNECTION_LIMIT: 503,
  /** No connection to the picked backend became free in time (--upstream-connections). */
  BACKEND_BUSY: 503,
  BACKEND_TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof STATUS_BY_CODE;

/** Every code, in a fixed order: the index of the balancer's own-response counters in
 * shared memory (layout.ts, header `answered`). */
export const ERROR_CODES = Object.keys(STATUS_BY_CODE) as readonly ErrorCode[];
const CODE_INDEX = new Map(ERROR_CODES.map((code, index) => [code, index]));

export function errorCodeIndex(code: ErrorCode): number {
  return CODE_INDEX.get(code) ?? 0;
}

export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  override readonly name = 'SwitchyardError';
  /** Sent as Retry-After (seconds) when set. */
  readonly retryAfterSeconds: number | null;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options);
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds ?? null;
  }

  get status(): number {
    return STATUS_BY_CODE[this.code];
  }

  /** Whether the client, not a backend, caused this: the backend is not to blame. */
  get clientCaused(): boolean {
    return this.status < 500;
  }
}

/** The one-line body of every response the balancer writes itself: `502 Bad Gateway: why`. */
export function oneLineBody(status: number, reason: string): string {
  return `${status} ${STATUS_CODES[status] ?? 'Error'}: ${reason}\n`;
}

/** The headers of the balancer's own response for `error` whose body is `body`. */
export function errorHead(error: SwitchyardError, body: string, close: boolean): Record<string, string | number> {
  return {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-switchyard-error': error.code,
    ...(error.retryAfterSeconds === null ? {} : { 'retry-after': error.retryAfterSeconds }),
    ...(close ? { connection: 'close' } : {}),
  };
}
