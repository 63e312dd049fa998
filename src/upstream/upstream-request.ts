/**
 * @module A request as it goes to a backend, the callbacks through which its response
 * comes back, the one request head that is written for it, and how a streamed body
 * follows that head.
 *
 * The callbacks keep the shape of undici's dispatch handler (start, response start,
 * data, end, error), which the relay was written against: the exchange does not care
 * which client moves the bytes.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

export interface UpstreamRequest {
  readonly method: string;
  /** The request target, byte for byte as the client sent it. */
  readonly path: string;
  /** name, value, name, value, ...: hop-by-hop headers already removed. */
  readonly headers: readonly string[];
  /** None, held whole (it can be sent again), or streamed as it arrives. */
  readonly body: Readable | Buffer | null;
  /** The Upgrade token asked for (`websocket`); null for a plain request. */
  readonly upgrade: string | null;
}

export interface UpstreamController {
  /** Ends the request with `error` (reported back through onResponseError); a
   * connection that may hold part of it is closed. */
  abort(error: Error): void;
  /** Stops reading the response until resume(): the client is not keeping up. */
  pause(): void;
  resume(): void;
}

export interface UpstreamHandler {
  /** A connection is ready and the request is about to be written; abort() here sends nothing. */
  onRequestStart(controller: UpstreamController): void;
  /** `headers`: name, value, ... as the backend sent them (interim 1xx responses are passed over). */
  onResponseStart(controller: UpstreamController, statusCode: number, headers: string[], statusMessage: string): void;
  onResponseData(controller: UpstreamController, chunk: Buffer): void;
  onResponseEnd(): void;
  /** The backend answered an upgrade request with 101: the connection is the handler's
   * now (`head`: bytes that came after the 101's head), and no other callback follows. */
  onSwitchProtocols(controller: UpstreamController, statusMessage: string, headers: string[], socket: Socket, head: Buffer): void;
  /** Called at most once, instead of onResponseEnd. */
  onResponseError(controller: UpstreamController, error: Error): void;
}

/** What a connection does for the controller of the request it carries. */
export interface ControlTarget {
  abort(handler: UpstreamHandler, error: Error): void;
  pause(handler: UpstreamHandler): void;
  resume(handler: UpstreamHandler): void;
}

/** The handle a request's handler holds: it acts only while that request is the connection's. */
export class RequestControl implements UpstreamController {
  readonly #connection: ControlTarget;
  readonly #handler: UpstreamHandler;
  constructor(connection: ControlTarget, handler: UpstreamHandler) {
    this.#connection = connection;
    this.#handler = handler;
  }
  abort(error: Error): void {
    this.#connection.abort(this.#handler, error);
  }
  pause(): void {
    this.#connection.pause(this.#handler);
  }
  resume(): void {
    this.#connection.resume(this.#handler);
  }
}

/** Methods whose requests carry content by definition: without a body they say `content-length: 0`. */
const EXPECTS_CONTENT = new Set(['POST', 'PUT', 'PATCH']);

/** Bytes a request target may not contain (controls, space, DEL), as undici refuses them too. */
const INVALID_TARGET = /[^\u0021-\u007e\u0080-\u00ff]/;

export function invalidTarget(path: string): boolean {
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
export function writeRequest(socket: Socket, request: UpstreamRequest, host: string, close: boolean): { chunked: boolean } {
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
export function streamBody(
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
