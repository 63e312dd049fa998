/**
 * @module Refusals written straight onto a client socket, before or instead of a parsed
 * request: requests llhttp rejects (malformed or oversized heads, smuggling
 * attempts, slow heads), CONNECT, and connections over the limit. Each is a
 * `SwitchyardError` like every other refusal: its status, its one-line body and its
 * `x-switchyard-error` code; then the connection is closed. No backend sees such a request.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { errorHead, oneLineBody, SwitchyardError, type ErrorCode } from '../errors.ts';
import { recordOwnResponse } from '../relay/outcome-counters.ts';
import type { SharedState } from '../shared/shared-state.ts';
import type { AccessLog } from './access-log.ts';
import { clientAddress } from '../shared/client-address.ts';
import { markClosing } from './closing-connections.ts';

const BY_PARSER_CODE: Record<string, { code: ErrorCode; reason: string }> = {
  HPE_HEADER_OVERFLOW: { code: 'HEADERS_TOO_LARGE', reason: 'request head exceeds the size limit' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'REQUEST_TIMEOUT', reason: 'request head did not arrive in time' },
  HPE_UNEXPECTED_CONTENT_LENGTH: { code: 'BAD_REQUEST', reason: 'conflicting framing: a repeated Content-Length, or Content-Length with Transfer-Encoding' },
  HPE_INVALID_TRANSFER_ENCODING: { code: 'BAD_REQUEST', reason: 'invalid Transfer-Encoding' },
  HPE_INVALID_CONTENT_LENGTH: { code: 'BAD_REQUEST', reason: 'invalid or conflicting Content-Length' },
  HPE_INVALID_HEADER_TOKEN: { code: 'BAD_REQUEST', reason: 'invalid character in a header' },
  HPE_INVALID_METHOD: { code: 'BAD_REQUEST', reason: 'invalid method' },
  HPE_INVALID_URL: { code: 'BAD_REQUEST', reason: 'invalid request target' },
  HPE_INVALID_VERSION: { code: 'BAD_REQUEST', reason: 'invalid HTTP version' },
  HPE_INVALID_CHUNK_SIZE: { code: 'BAD_REQUEST', reason: 'invalid chunk size' },
  HPE_LF_EXPECTED: { code: 'BAD_REQUEST', reason: 'bare CR or missing LF in the request head' },
  HPE_CR_EXPECTED: { code: 'BAD_REQUEST', reason: 'bare LF in the request head' },
  HPE_STRICT: { code: 'BAD_REQUEST', reason: 'request violates strict HTTP/1.1 parsing' },
  HPE_INVALID_CONSTANT: { code: 'BAD_REQUEST', reason: 'malformed request line or HTTP version' },
  HPE_CLOSED_CONNECTION: { code: 'BAD_REQUEST', reason: 'data after a request on a connection that is closing' },
  HPE_PAUSED_H2_UPGRADE: { code: 'BAD_REQUEST', reason: 'HTTP/2 is not served here; use HTTP/1.1' },
};

/** The refusal for a parser error code. */
export function parserRefusal(parserCode: string | undefined): SwitchyardError {
  const known = parserCode ? BY_PARSER_CODE[parserCode] : undefined;
  return new SwitchyardError(known?.code ?? 'BAD_REQUEST', known?.reason ?? `malformed request${parserCode ? ` (${parserCode})` : ''}`);
}

/** Writes `error` as a raw HTTP/1.1 response to `socket`, counts it in `state`, logs it in
 * `accessLog` (null when off), and closes it. */
export function rejectSocket(socket: Socket, error: SwitchyardError, state: SharedState, accessLog: AccessLog | null): void {
  markClosing(socket);
  recordOwnResponse(state, error.code);
  const body = oneLineBody(error.status, error.message);
  if (accessLog !== null) accessLog.refusal(clientAddress(socket), error, socket.writable ? Buffer.byteLength(body) : 0);
  if (socket.writable) {
    const head = Object.entries(errorHead(error, body, true))
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.end(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n${head}\r\n${body}`);
  }
  socket.destroySoon();
}
