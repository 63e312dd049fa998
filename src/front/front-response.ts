/**
 * @module One response to a client: the subset of node:http's ServerResponse the relay
 * uses (writeHead, write with backpressure, end, destroy, headersSent, statusCode,
 * shouldKeepAlive; 'drain' and 'close'), written straight onto the socket. The head is
 * held until the first body bytes or the end, so that a head and a small body leave in
 * one write.
 *
 * Framing and connection headers follow node:http, which the tests pin down: a
 * Content-Length from the caller is kept; otherwise an HTTP/1.1 client gets a chunked
 * body and an HTTP/1.0 client a body delimited by the close; HEAD, 204 and 304 carry no
 * body. Unless the caller sets Connection, a kept-alive connection says
 * `Connection: keep-alive` and `Keep-Alive: timeout=N`, any other `Connection: close`.
 */
import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientResponse, OutgoingHeaders } from './client-response.ts';
import type { FrontRequest } from './front-request.ts';

export type { OutgoingHeaders };

/** What a response needs from its connection. */
export interface ResponseOwner {
  readonly socket: Socket;
  /** Seconds announced in Keep-Alive (the connection's idle timeout). */
  readonly keepAliveSeconds: number;
  /** Whether bytes may still be written (not closing after a refusal, not gone). */
  readonly open: boolean;
  /** The response has been written whole; `last`: the connection closes after it. */
  responseFinished(last: boolean): void;
  /** Writes the 101 `head`, then joins the client's socket to `upstream`. */
  tunnel(head: string, upstream: Socket, upstreamHead: Buffer, onClose: () => void): void;
}

/** Bodies up to this size are copied next to their head or chunk framing (one write);
 * larger ones go out in a corked writev instead of being copied. */
const COPY_LIMIT = 16 * 1024;

let dateSecond = 0;
let dateValue = '';
/** The Date header value, computed at most once a second. */
function utcDate(): string {
  const ms = Date.now();
  const second = Math.floor(ms / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(ms).toUTCString();
  }
  return dateValue;
}

/** A head written as the backend sent it (an interim response, a 101): no framing or
 * connection headers of ours. */
function asSent(statusCode: number, message: string, headers: readonly string[]): string {
  let head = `HTTP/1.1 ${statusCode} ${message || (STATUS_CODES[statusCode] ?? '')}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i] as string}: ${headers[i + 1] as string}\r\n`;
  return `${head}\r\n`;
}

/** The last chunk of a chunked body, with its trailer section. */
function lastChunk(trailers: readonly string[]): string {
  let out = '0\r\n';
  for (let i = 0; i < trailers.length; i += 2) out += `${trailers[i] as string}: ${trailers[i + 1] as string}\r\n`;
  return `${out}\r\n`;
}

export class FrontResponse extends EventEmitter implements ClientResponse {
  readonly req: FrontRequest;
  statusCode = 200;
  /** Whether the connection may serve another request after this one. */
  shouldKeepAlive: boolean;
  headersSent = false;
  readonly #owner: ResponseOwner;
  /** The head, built by writeHead and not yet written. */
  #head: string | null = null;
  #hasBody: boolean;
  #chunked = false;
  /** The connection closes after this response. */
  #last = false;
  #ended = false;
  #destroyed = false;
  #closed = false;
  #awaitingDrain = false;
  /** Trailer fields for the last chunk (name, value, ...); null: none. */
  #trailers: readonly string[] | null = null;

  constructor(req: FrontRequest, owner: ResponseOwner, keepAlive: boolean) {
    super();
    this.req = req;
    this.#owner = owner;
    this.shouldKeepAlive = keepAlive;
    this.#hasBody = req.method !== 'HEAD';
  }

  get destroyed(): boolean {
    return this.#destroyed || this.#owner.socket.destroyed;
  }

  writeHead(statusCode: number, messageOrHeaders?: string | OutgoingHeaders, maybeHeaders?: OutgoingHeaders): this {
    if (this.headersSent) return this;
    const message = typeof messageOrHeaders === 'string' ? messageOrHeaders : (STATUS_CODES[statusCode] ?? 'unknown');
    const headers = typeof messageOrHeaders === 'string' ? maybeHeaders : messageOrHeaders;
    this.statusCode = statusCode;
    if (statusCode === 204 || statusCode === 304 || statusCode < 200) this.#hasBody = false;
    let head = `HTTP/1.1 ${statusCode} ${message}\r\n`;
    let length = false;
    let date = false;
    let connection: string | null = null;
    const add = (name: string, value: string): void => {
      head += `${name}: ${value}\r\n`;
      if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
      else if (name.length === 4 && name.toLowerCase() === 'date') date = true;
      else if (name.length === 10 && name.toLowerCase() === 'connection') connection = value;
    };
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) add(headers[i] as string, headers[i + 1] as string);
    } else if (headers !== undefined) {
      for (const name in headers) add(name, String((headers as Record<string, string | number>)[name]));
    }
    if (!date) head += `Date: ${utcDate()}\r\n`;
    const http11 = this.req.httpVersionMajor === 1 && this.req.httpVersionMinor >= 1;
    if (connection !== null) {
      if (/(?:^|\W)close(?:$|\W)/i.test(connection)) this.#last = true;
    } else if (this.shouldKeepAlive && (length || http11)) {
      head += 'Connection: keep-alive\r\n';
      const seconds = this.#owner.keepAliveSeconds;
      if (seconds >= 0) head += `Keep-Alive: timeout=${seconds}\r\n`;
    } else {
      this.#last = true;
      head += 'Connection: close\r\n';
    }
    if (!this.shouldKeepAlive) this.#last = true;
    if (!length && this.#hasBody) {
      if (http11) {
        head += 'Transfer-Encoding: chunked\r\n';
        this.#chunked = true;
      } else {
        // An HTTP/1.0 client learns where the body ends from the close.
        this.#last = true;
      }
    }
    this.#head = `${head}\r\n`;
    this.headersSent = true;
    return this;
  }

  /** Writes a chunk of the body; false when the socket is behind ('drain' follows). */
  write(chunk: Buffer | string): boolean {
    if (this.#ended) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const ok = this.#send(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, false);
    if (!ok && !this.#awaitingDrain && this.#owner.open) {
      this.#awaitingDrain = true;
      this.#owner.socket.once('drain', () => {
        this.#awaitingDrain = false;
        this.emit('drain');
      });
    }
    return ok;
  }

  /** Ends the response (with a last chunk, and `trailers` after it when the body is
   * chunked); 'close' follows once it is handed to the socket. */
  end(chunk?: Buffer | string, trailers?: readonly string[]): void {
    if (this.#ended) return;
    if (!this.headersSent) this.writeHead(this.statusCode);
    if (trailers !== undefined && this.#chunked) this.#trailers = trailers;
    this.#send(chunk === undefined ? null : typeof chunk === 'string' ? Buffer.from(chunk) : chunk, true);
    this.#ended = true;
    process.nextTick(() => {
      if (this.#closed) return;
      this.emit('finish');
      this.#owner.responseFinished(this.#last);
      this.#close();
    });
  }

  /** An interim response (103 Early Hints) ahead of the final one; nothing once that has begun. */
  writeInterim(statusCode: number, message: string, headers: readonly string[]): void {
    if (this.headersSent || !this.#owner.open) return;
    this.#owner.socket.write(asSent(statusCode, message, headers), 'latin1');
  }

  /**
   * The backend switched protocols (101): the head goes to the client as the backend
   * wrote it (Upgrade, Connection, Sec-WebSocket-* included), then both sockets are
   * joined. 'close' follows when the tunnel closes; `onClose` runs first.
   */
  switchProtocols(message: string, headers: readonly string[], upstream: Socket, upstreamHead: Buffer, onClose: () => void): void {
    if (this.headersSent) return;
    this.statusCode = 101;
    this.headersSent = true;
    this.#ended = true;
    this.#owner.tunnel(asSent(101, message, headers), upstream, upstreamHead, onClose);
  }

  /** Cuts the connection: a response that cannot be completed must not look complete. */
  destroy(_error?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#owner.socket.destroy();
  }

  /** From the connection: the socket has closed. */
  socketClosed(): void {
    if (!this.#ended) this.#destroyed = true;
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('close');
  }

  /** Writes what is due: the head if not yet written, the chunk in its framing, the last chunk. */
  #send(chunk: Buffer | null, final: boolean): boolean {
    if (!this.#owner.open) return false;
    const body = chunk !== null && chunk.length > 0 && this.#hasBody ? chunk : null;
    let before = this.#head ?? '';
    this.#head = null;
    let after = '';
    if (this.#chunked) {
      if (body !== null) {
        before += `${body.length.toString(16)}\r\n`;
        after = '\r\n';
      }
      if (final) after += this.#trailers === null ? '0\r\n\r\n' : lastChunk(this.#trailers);
    }
    const socket = this.#owner.socket;
    if (body === null) return before === '' && after === '' ? true : socket.write(before + after, 'latin1');
    if (before === '' && after === '') return socket.write(body);
    if (body.length <= COPY_LIMIT) {
      const out = Buffer.allocUnsafe(before.length + body.length + after.length);
      out.write(before, 0, 'latin1');
      body.copy(out, before.length);
      if (after !== '') out.write(after, before.length + body.length, 'latin1');
      return socket.write(out);
    }
    socket.cork();
    if (before !== '') socket.write(before, 'latin1');
    let ok = socket.write(body);
    if (after !== '') ok = socket.write(after, 'latin1');
    socket.uncork();
    return ok;
  }
}
