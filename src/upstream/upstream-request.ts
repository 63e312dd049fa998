/**
 * @module A request as it goes to a backend, and the callbacks through which its
 * response comes back (request-writer.ts writes it).
 *
 * The callbacks keep the shape of undici's dispatch handler (start, response start,
 * data, end, error), which the relay was written against: the exchange does not care
 * which client moves the bytes.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ProxyEndpoints } from '../shared/proxy-protocol.ts';

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
  /** With --send-proxy-protocol: who the client is, and its connection, to which the
   * upstream connection then belongs. null otherwise. */
  readonly proxy: ProxiedRequest | null;
}

export interface ProxiedRequest extends ProxyEndpoints {
  /** The client's connection: upstream connections opened for it serve only it, and close with it. */
  readonly connection: Socket;
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
  /** `trailers`: what followed a chunked body (name, value, ...); usually empty. */
  onResponseEnd(trailers: readonly string[]): void;
  /** A 103 Early Hints came before the response (`headers` as the backend sent them). */
  onEarlyHints(controller: UpstreamController, statusMessage: string, headers: string[]): void;
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
