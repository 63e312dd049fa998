/**
 * @module Answers for requests Node's HTTP parser rejects before they become requests:
 * malformed or oversized heads, smuggling attempts, slow heads. Each gets its status and
 * a one-line body, then the connection is closed; no backend ever sees such a request.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { markClosing, oneLineBody } from '../relay/error-response.ts';

const STATUS_BY_PARSER_CODE: Record<string, { status: number; reason: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'request head exceeds the size limit' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'request head did not arrive in time' },
  HPE_UNEXPECTED_CONTENT_LENGTH: { status: 400, reason: 'conflicting framing: a repeated Content-Length, or Content-Length with Transfer-Encoding' },
  HPE_INVALID_TRANSFER_ENCODING: { status: 400, reason: 'invalid Transfer-Encoding' },
  HPE_INVALID_CONTENT_LENGTH: { status: 400, reason: 'invalid or conflicting Content-Length' },
  HPE_INVALID_HEADER_TOKEN: { status: 400, reason: 'invalid character in a header' },
  HPE_INVALID_METHOD: { status: 400, reason: 'invalid method' },
  HPE_INVALID_URL: { status: 400, reason: 'invalid request target' },
  HPE_INVALID_VERSION: { status: 400, reason: 'invalid HTTP version' },
  HPE_INVALID_CHUNK_SIZE: { status: 400, reason: 'invalid chunk size' },
  HPE_LF_EXPECTED: { status: 400, reason: 'bare CR or missing LF in the request head' },
  HPE_CR_EXPECTED: { status: 400, reason: 'bare LF in the request head' },
  HPE_STRICT: { status: 400, reason: 'request violates strict HTTP/1.1 parsing' },
  HPE_INVALID_CONSTANT: { status: 400, reason: 'malformed request line or HTTP version' },
  HPE_CLOSED_CONNECTION: { status: 400, reason: 'data after a request on a connection that is closing' },
  HPE_PAUSED_H2_UPGRADE: { status: 400, reason: 'HTTP/2 is not served here; use HTTP/1.1' },
};

/** The status and reason for a parser error code. */
export function clientErrorResponse(code: string | undefined): { status: number; reason: string } {
  const known = code ? STATUS_BY_PARSER_CODE[code] : undefined;
  return { status: known?.status ?? 400, reason: known?.reason ?? `malformed request${code ? ` (${code})` : ''}` };
}

/** Writes a raw HTTP/1.1 error response (status, one-line body) to `socket` and closes it. */
export function rejectSocket(socket: Socket, status: number, reason: string): void {
  markClosing(socket);
  const body = oneLineBody(status, reason);
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'content-type: text/plain; charset=utf-8\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        'connection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroySoon();
}
