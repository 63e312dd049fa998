/**
 * @module One response on an HTTP/2 stream, behind the same interface as the HTTP/1.1
 * connection's (front/client-response.ts), so the relay does not know which it writes to.
 * The head is held until the first body bytes or the end, so that a response without a
 * body is one HEADERS frame with END_STREAM. Status messages and connection-specific
 * headers do not exist in HTTP/2 (RFC 9113 section 8.2.2) and are dropped; trailers go
 * out when the client asked for them (`te: trailers`, as gRPC does).
 */
import { EventEmitter } from 'node:events';
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { ClientResponse, OutgoingHeaders } from '../front/client-response.ts';
import type { FrontRequest } from '../front/front-request.ts';

/** Headers that describe an HTTP/1.1 connection; Node refuses them on a stream. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** A header list (name, value, ...) as an HTTP/2 header object: lower-case names, repeats as arrays. */
export function h2Headers(headers: OutgoingHeaders | readonly string[] | undefined, into: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  const add = (rawName: string, value: string): void => {
    const name = rawName.toLowerCase();
    if (CONNECTION_SPECIFIC.has(name) || name.startsWith(':')) return;
    const previous = into[name];
    if (previous === undefined) into[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else into[name] = [String(previous), value];
  };
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) add(headers[i] as string, headers[i + 1] as string);
  } else if (headers !== undefined) {
    for (const [name, value] of Object.entries(headers as Record<string, string | number>)) add(name, String(value));
  }
  return into;
}

export class H2Response extends EventEmitter implements ClientResponse {
  readonly req: FrontRequest;
  statusCode = 200;
  /** No meaning on a stream; kept for the shared interface. */
  shouldKeepAlive = true;
  headersSent = false;
  /** This side reset the stream (destroy()): not a reset by the client. */
  resetHere = false;
  readonly #stream: ServerHttp2Stream;
  /** The client sent `te: trailers`: the stream waits for them after the body. */
  readonly #takesTrailers: boolean;
  #head: OutgoingHttpHeaders | null = null;
  #hasBody: boolean;
  #trailers: OutgoingHttpHeaders = {};
  #ended = false;
  #closed = false;
  #awaitingDrain = false;

  constructor(req: FrontRequest, stream: ServerHttp2Stream, takesTrailers: boolean) {
    super();
    this.req = req;
    this.#stream = stream;
    this.#takesTrailers = takesTrailers;
    this.#hasBody = req.method !== 'HEAD';
    stream.once('close', () => {
      if (this.#closed) return;
      this.#closed = true;
      this.emit('close');
    });
    if (takesTrailers) stream.on('wantTrailers', () => stream.sendTrailers(this.#trailers));
  }

  /** The whole response has been handed to the stream. */
  get ended(): boolean {
    return this.#ended;
  }

  get destroyed(): boolean {
    return this.#stream.destroyed || (this.#stream.closed && !this.#ended);
  }

  writeHead(statusCode: number, messageOrHeaders?: string | OutgoingHeaders, maybeHeaders?: OutgoingHeaders): this {
    if (this.headersSent) return this;
    const headers = typeof messageOrHeaders === 'string' ? maybeHeaders : messageOrHeaders;
    this.statusCode = statusCode;
    if (statusCode === 204 || statusCode === 304) this.#hasBody = false;
    this.#head = h2Headers(headers, { [constants.HTTP2_HEADER_STATUS]: statusCode });
    this.headersSent = true;
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (this.#ended || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.#respond(false);
    if (!this.#hasBody) return true;
    const ok = this.#stream.write(chunk);
    if (!ok && !this.#awaitingDrain) {
      this.#awaitingDrain = true;
      this.#stream.once('drain', () => {
        this.#awaitingDrain = false;
        this.emit('drain');
      });
    }
    return ok;
  }

  end(chunk?: Buffer | string, trailers?: readonly string[]): void {
    if (this.#ended || this.destroyed) return;
    if (!this.headersSent) this.writeHead(this.statusCode);
    if (trailers !== undefined && trailers.length > 0) this.#trailers = h2Headers(trailers);
    const empty = chunk === undefined || chunk.length === 0 || !this.#hasBody;
    this.#respond(empty && !this.#takesTrailers);
    this.#ended = true;
    if (!this.#stream.writableEnded) {
      if (empty) this.#stream.end();
      else this.#stream.end(chunk);
    }
    // The client may still be sending a body nobody will read: stop it, without error,
    // once the response is out (RFC 9113 section 8.1).
    if (!this.req.complete) this.#stream.once('finish', () => this.#stream.close(constants.NGHTTP2_NO_ERROR));
  }

  /** 103 Early Hints, as a HEADERS frame before the response's own. */
  writeInterim(statusCode: number, _message: string, headers: readonly string[]): void {
    if (this.headersSent || this.destroyed) return;
    this.#stream.additionalHeaders(h2Headers(headers, { [constants.HTTP2_HEADER_STATUS]: statusCode }));
  }

  /** Never asked for: an HTTP/2 request carries no Upgrade (request-guard refuses none here,
   * the stream builder leaves `upgrade` null), so a 101 cannot arrive for it. */
  switchProtocols(_message: string, _headers: readonly string[], upstream: Socket): void {
    upstream.destroy();
    this.destroy();
  }

  /** Resets the stream (INTERNAL_ERROR): a response that cannot be completed must not look complete. */
  destroy(_error?: Error): void {
    if (this.#stream.destroyed) return;
    this.resetHere = true;
    this.#stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  /** Sends the held head; `endStream` when nothing follows it. */
  #respond(endStream: boolean): void {
    const head = this.#head;
    if (head === null) return;
    this.#head = null;
    this.#stream.respond(head, { endStream: endStream || !this.#hasBody, waitForTrailers: this.#takesTrailers && this.#hasBody && !endStream });
  }
}
