/**
 * @module The one error type of switchyard. Each code has one HTTP status and a short
 * one-line message that is safe to show a client (no stack, no internals).
 */

export const STATUS_BY_CODE = {
  BAD_REQUEST: 400,
  MISDIRECTED_REQUEST: 421,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  BODY_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  /** nginx's code for a client that went away first; never sent, only counted. */
  CLIENT_CLOSED_REQUEST: 499,
  INTERNAL_ERROR: 500,
  UPSTREAM_FAILED: 502,
  NO_BACKEND: 503,
  UPSTREAM_TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof STATUS_BY_CODE;

export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  override readonly name = 'SwitchyardError';

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  get status(): number {
    return STATUS_BY_CODE[this.code];
  }

  /** Whether the client, not a backend, caused this: the backend is not to blame. */
  get clientCaused(): boolean {
    return this.status < 500 && this.code !== 'NO_BACKEND';
  }
}
