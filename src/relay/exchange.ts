/**
 * @module One proxied request and its response: sends the client's request to the picked
 * backend through that backend's undici pool, and relays the response back as it
 * streams, with backpressure both ways. Every way it can end releases the backend's
 * in-flight count exactly once.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { SharedState } from '../shared/layout.ts';
import type { UpstreamPools } from '../upstream/upstream-pools.ts';
import { upstreamError } from '../upstream/upstream-errors.ts';
import { sendError } from './error-response.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './proxy-headers.ts';

/** What every exchange of one listener thread shares. */
export interface RelayContext {
  readonly state: SharedState;
  readonly listener: number;
  readonly pools: UpstreamPools;
}

/** Methods that may be sent again when a reused upstream connection turns out to be
 * closed before any response byte came back (RFC 9110 section 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Errors that mean "the connection died under the request", not "the backend answered badly". */
const STALE_CONNECTION = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
const MAX_RESENDS = 2;

class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
  readonly code = 'CLIENT_GONE';
}

export class Exchange implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #backend: number;
  readonly #context: RelayContext;
  readonly #options: Dispatcher.DispatchOptions;
  #controller: Dispatcher.DispatchController | null = null;
  #resends = 0;
  #ended = false;
  #clientGone = false;

  constructor(req: IncomingMessage, res: ServerResponse, backend: number, context: RelayContext) {
    this.#req = req;
    this.#res = res;
    this.#backend = backend;
    this.#context = context;
    this.#options = {
      origin: context.pools.origins[backend],
      method: req.method ?? 'GET',
      // Byte for byte as the client sent it: the listener has already turned an
      // absolute-form target into its path, and nothing here normalises it.
      path: req.url ?? '/',
      headers: upstreamRequestHeaders(req.rawHeaders, {
        clientAddress: req.socket.remoteAddress ?? '',
        httpVersion: req.httpVersion,
      }),
      body: hasBody(req) ? detachedBody(req) : null,
    };
  }

  start(): void {
    this.#context.state.requestStarted(this.#context.listener, this.#backend);
    this.#res.once('close', this.#onClientClose);
    this.#dispatch();
  }

  #dispatch(): void {
    this.#context.pools.get(this.#backend).dispatch(this.#options, this);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#clientGone) controller.abort(new ClientGoneError('client closed the connection'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    const res = this.#res;
    if (this.#clientGone) return controller.abort(new ClientGoneError('client closed the connection'));
    if (statusMessage) res.writeHead(statusCode, statusMessage, clientResponseHeaders(headers));
    else res.writeHead(statusCode, clientResponseHeaders(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#res.write(chunk)) {
      controller.pause();
      this.#res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.#res.end();
    this.#finish(false);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.#clientGone || error instanceof ClientGoneError) {
      this.#finish(false);
      return;
    }
    if (this.#mayResend(error)) {
      this.#resends++;
      this.#controller = null;
      this.#dispatch();
      return;
    }
    const failure = upstreamError(error, this.#options.origin as string);
    // Before the response started the client gets a clean error status; after, the
    // only honest signal left is to abort the connection (a truncated body), so that
    // nothing downstream mistakes a partial response for a complete one.
    if (this.#res.headersSent) this.#res.destroy(failure);
    else sendError(this.#res, failure, !this.#req.complete);
    this.#finish(true);
  }

  #mayResend(error: Error): boolean {
    const code = (error as { code?: unknown }).code;
    return (
      this.#resends < MAX_RESENDS &&
      !this.#res.headersSent &&
      this.#options.body === null &&
      IDEMPOTENT.has(this.#options.method) &&
      typeof code === 'string' &&
      STALE_CONNECTION.has(code)
    );
  }

  #onClientClose = (): void => {
    if (this.#ended) return;
    this.#clientGone = true;
    this.#controller?.abort(new ClientGoneError('client closed the connection'));
  };

  #finish(failed: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#context.state.requestEnded(this.#context.listener, this.#backend, failed);
  }
}

/** Whether the request carries a body (RFC 9112 section 6.3): chunked, or a non-zero length. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * The request body as a stream undici may destroy without taking the client's socket
 * with it: undici destroys a body stream when the upstream fails mid-upload, and
 * destroying an unfinished IncomingMessage destroys its socket, which would turn our
 * 502 into a connection reset.
 */
function detachedBody(req: IncomingMessage): Readable {
  const body = new PassThrough();
  req.on('error', (error) => body.destroy(error));
  req.pipe(body);
  return body;
}
