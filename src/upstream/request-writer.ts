/**
 * @module The request side of one upstream connection: the request checked, its head
 * written in one piece (with the body when it is held whole), or the head then the body
 * streamed with backpressure, framed chunked when its length is unknown.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { UpstreamFailure } from './upstream-errors.ts';
import type { UpstreamRequest } from './upstream-request.ts';

/** Methods whose requests carry content by definition: without a body they say `content-length: 0`. */
const EXPECTS_CONTENT = new Set(['POST', 'PUT', 'PATCH']);

/** Bytes a request target may not contain (controls, space, DEL), as undici refuses them too. */
const INVALID_TARGET = /[^\u0021-\u007e\u0080-\u00ff]/;

function invalidTarget(path: string): boolean {
  return INVALID_TARGET.test(path);
}

/**
 * The request head, to be written as latin1 (header bytes pass through as received).
 * `host`: the backend's `host:port`, for a request that came without a Host header
 * (HTTP/1.0). `close`: ask the backend to close after this response. A body of unknown
 * length goes chunked; a body held whole gets its length.
 */
function requestHead(request: UpstreamRequest, host: string, close: boolean): { head: string; chunked: boolean } {
  const { method, headers, body } = request;
  let head = `${method} ${request.path} HTTP/1.1\r\n`;
  let hasHost = false;
  let hasLength = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') hasHost = true;
    else if (name.length === 14 && name.toLowerCase() === 'content-length') hasLength = true;
    head += `${name}: ${headers[i + 1] as string}\r\n`;
  }
  if (!hasHost) head += `host: ${host}\r\n`;
  let chunked = false;
  if (!hasLength) {
    if (body === null) {
      if (EXPECTS_CONTENT.has(method)) head += 'content-length: 0\r\n';
    } else if (Buffer.isBuffer(body)) {
      head += `content-length: ${body.length}\r\n`;
    } else {
      head += 'transfer-encoding: chunked\r\n';
      chunked = true;
    }
  }
  if (request.upgrade !== null) head += `connection: upgrade\r\nupgrade: ${request.upgrade}\r\n\r\n`;
  else head += close ? 'connection: close\r\n\r\n' : 'connection: keep-alive\r\n\r\n';
  return { head, chunked };
}

/** Writes the request head, and the body with it when it is held whole: one write. */
function writeRequest(socket: Socket, request: UpstreamRequest, host: string, close: boolean): { chunked: boolean } {
  const { head, chunked } = requestHead(request, host, close);
  const { body } = request;
  if (!Buffer.isBuffer(body) || body.length === 0) {
    socket.write(head, 'latin1');
  } else {
    socket.cork();
    socket.write(head, 'latin1');
    socket.write(body);
    socket.uncork();
  }
  return { chunked };
}

/**
 * Streams `body` after its head, with backpressure, framed `chunked` when its length is
 * unknown. `current()` says whether the connection still carries this request (it stops
 * listening otherwise); `written` once the last byte is handed to the socket, `failed`
 * when the client's side of the body fails.
 */
function streamBody(
  socket: Socket,
  body: Readable,
  chunked: boolean,
  current: () => boolean,
  written: () => void,
  failed: (error: Error) => void,
): void {
  const onDrain = (): void => {
    body.resume();
  };
  body.on('data', (chunk: Buffer) => {
    if (!current() || chunk.length === 0) return;
    let open: boolean;
    if (chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      open = socket.write('\r\n');
      socket.uncork();
    } else {
      open = socket.write(chunk);
    }
    if (!open) {
      body.pause();
      socket.once('drain', onDrain);
    }
  });
  body.once('end', () => {
    if (!current()) return;
    if (chunked) socket.write('0\r\n\r\n');
    written();
  });
  body.once('error', (error: Error) => {
    if (current()) failed(error);
  });
}

export class RequestWriter {
  readonly #socket: Socket;
  /** The backend's `host:port`, for a request that came without a Host header. */
  readonly #host: string;
  /** The whole request has been handed to the socket. */
  written = false;
  #body: Readable | null = null;

  constructor(socket: Socket, host: string) {
    this.#socket = socket;
    this.#host = host;
  }

  /** A body is being streamed. */
  get streaming(): boolean {
    return this.#body !== null;
  }

  /**
   * Writes `request` (`close`: ask the backend to close after it). Returns why it cannot
   * be sent, with nothing written; else null, and `onWritten` follows once the whole
   * request is out, or `onFailed` if the client's side of a streamed body fails (408, 499).
   */
  start(request: UpstreamRequest, close: boolean, onWritten: () => void, onFailed: (error: Error) => void): Error | null {
    if (invalidTarget(request.path)) return new UpstreamFailure('INVALID_REQUEST', 'the request target contains bytes a request line cannot carry', false);
    const { body } = request;
    // The client's side of the body failed (408, 499) while this request waited for a connection.
    if (body !== null && !Buffer.isBuffer(body) && body.destroyed) {
      return body.errored ?? new UpstreamFailure('INVALID_REQUEST', 'the request body was discarded before it could be sent', false);
    }
    const { chunked } = writeRequest(this.#socket, request, this.#host, close);
    if (body === null || Buffer.isBuffer(body)) {
      this.written = true;
      onWritten();
      return null;
    }
    this.#body = body;
    const written = (): void => {
      this.#body = null;
      this.written = true;
      onWritten();
    };
    streamBody(this.#socket, body, chunked, () => this.#body === body, written, onFailed);
    return null;
  }

  /** The request is over (answered, or its connection failed): a body still being sent is
   * dropped (the backend answered early; the connection holding half a request is not reused). */
  reset(): void {
    this.written = false;
    if (this.#body !== null) {
      this.#body.destroy();
      this.#body = null;
    }
  }
}
