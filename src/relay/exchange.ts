/**
 * @module One proxied request and its response: sends the client's request to the picked
 * backend through that backend's undici pool, and relays the response back as it
 * streams, with backpressure both ways. Every way it can end releases the backend's
 * in-flight count exactly once.
 */
import type { Readable } from 'node:stream';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { SwitchyardError } from '../errors.ts';
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
/** Errors that mean "the connection died under the request", not "the backend answered badly";
 * resent only on a reused connection (see #mayResend). */
const STALE_CONNECTION = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
const MAX_RESENDS = 2;

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

  /** `body`: how the request body travels (see request-body.ts); null when there is none. */
  constructor(req: IncomingMessage, res: ServerResponse, backend: number, context: RelayContext, body: Readable | Buffer | null) {
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
      body,
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
    if (this.#clientGone) controller.abort(clientGone());
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    const res = this.#res;
    if (this.#clientGone) return controller.abort(clientGone());
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
    if (this.#clientGone) {
      this.#finish(false);
      return;
    }
    if (this.#mayResend(error)) {
      this.#resends++;
      this.#controller = null;
      this.#dispatch();
      return;
    }
    // A SwitchyardError here came from the client's side of the request body (stalled:
    // 408, vanished: 499); anything else is undici's report of the backend.
    const failure = error instanceof SwitchyardError ? error : upstreamError(error, this.#options.origin as string);
    // Before the response started the client gets a clean error status; after, the
    // only honest signal left is to abort the connection (a truncated body), so that
    // nothing downstream mistakes a partial response for a complete one.
    if (this.#res.headersSent) this.#res.destroy(failure);
    else sendError(this.#res, failure, failure.clientCaused || !this.#req.complete);
    this.#finish(!failure.clientCaused);
  }

  #mayResend(error: Error): boolean {
    const { code, socket } = error as { code?: unknown; socket?: { bytesRead?: number } };
    if (
      this.#resends >= MAX_RESENDS ||
      this.#res.headersSent ||
      // A streamed body has been consumed; none, or one read whole (--max-body), can be sent again.
      !(this.#options.body === null || Buffer.isBuffer(this.#options.body)) ||
      !IDEMPOTENT.has(this.#options.method) ||
      typeof code !== 'string' ||
      !STALE_CONNECTION.has(code)
    ) {
      return false;
    }
    // Only a connection that had already carried a response can have been closed by
    // the backend's idle timeout under us. undici reports the socket's bytesRead with
    // its SocketError; a fresh connection that dies is the backend failing, and a
    // resend would deliver the same request to it again. A bare reset carries no
    // such report: it gets one resend, not more.
    return socket ? (socket.bytesRead ?? 0) > 0 : this.#resends === 0;
  }

  #onClientClose = (): void => {
    if (this.#ended) return;
    this.#clientGone = true;
    this.#controller?.abort(clientGone());
  };

  #finish(failed: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#context.state.requestEnded(this.#context.listener, this.#backend, failed);
  }
}

function clientGone(): SwitchyardError {
  return new SwitchyardError('CLIENT_CLOSED_REQUEST', 'client closed the connection');
}
