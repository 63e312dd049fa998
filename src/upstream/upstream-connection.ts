/**
 * @module One keep-alive connection to a backend, carrying one request at a time: the
 * request head written in one piece (with the body when it is held whole), the response
 * parsed by llhttp and handed on chunk by chunk, and the connection offered again only
 * when the response ended cleanly, its request was written whole, and neither side
 * announced a close. Not undici (which stays the prober's client): its general machinery
 * was half the JavaScript time of a proxied request (bench/README.md, lever 6).
 *
 * Keep-alive safety: bytes that arrive while no request is outstanding, or after a
 * response ended, close the connection (a broken backend or an attack); so does a FIN;
 * `Connection: close`, an HTTP/1.0 answer without keep-alive, a response to HEAD and one
 * that came before its request was written whole close it after the response.
 */
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { Readable } from 'node:stream';
import { now } from '../shared/clock.ts';
import type { Timed } from '../shared/connection-deadlines.ts';
import { connectBackend } from './backend-tls.ts';
import { IdleTimes, mayReuseAfter } from './keep-alive.ts';
import { ResponseParseError, ResponseParser, type ResponseEvents } from '../http1/response-parser.ts';
import { closedFailure, socketFailure, UpstreamFailure } from './upstream-errors.ts';
import { invalidTarget, RequestControl, type ControlTarget, streamBody, writeRequest, type UpstreamHandler, type UpstreamRequest } from './upstream-request.ts';

export interface ConnectionSettings {
  readonly host: string;
  readonly port: number;
  /** For an https:// backend: verification and SNI (backend-tls.ts); null for http://. */
  readonly tls: ConnectionOptions | null;
  readonly connectMs: number;
  readonly headersMs: number;
  readonly bodyIdleMs: number;
  /** Longest idle keep-alive time (shortened by a backend's `Keep-Alive: timeout=`). */
  readonly idleMs: number;
  readonly maxHeaderBytes: number;
}

/** What the connection tells its pool. */
export interface ConnectionOwner {
  /** The response ended cleanly and the connection may carry another request. */
  released(connection: UpstreamConnection): void;
  /** Closed, whatever the reason; it is no longer the pool's. */
  closed(connection: UpstreamConnection): void;
}

type Phase = 'connecting' | 'idle' | 'busy' | 'closed';
/** What the armed deadline waits for. */
const Waiting = { Nothing: 0, Connect: 1, Headers: 2, Body: 3, Idle: 4 } as const;
type Waiting = (typeof Waiting)[keyof typeof Waiting];

export class UpstreamConnection implements ResponseEvents, Timed, ControlTarget {
  readonly #settings: ConnectionSettings;
  readonly #owner: ConnectionOwner;
  readonly #socket: Socket;
  readonly #parser: ResponseParser;
  #phase: Phase = 'connecting';
  deadline = 0;
  #waiting: Waiting = Waiting.Nothing;
  #idleMs: number;
  readonly #idleTimes: IdleTimes;
  /** It has carried a whole response: a close under the next request may be a keep-alive race. */
  #reused = false;
  // The request in progress (`#pending` until it is written).
  #pending: UpstreamRequest | null = null;
  #handler: UpstreamHandler | null = null;
  #control: RequestControl | null = null;
  #body: Readable | null = null;
  #headOnly = false;
  /** The Upgrade token of the request in progress; null for a plain one. */
  #upgrade: string | null = null;
  /** The 101 that switched the connection to the upgraded protocol. */
  #switched: { message: string; raw: string[] } | null = null;
  #requestWritten = false;
  #responseStarted = false;
  #keepAlive = false;
  #paused = false;
  /** The response ended inside this `execute`; after it, the connection is offered again if `#reusable`. */
  #ended = false;
  #reusable = false;

  constructor(settings: ConnectionSettings, owner: ConnectionOwner) {
    this.#settings = settings;
    this.#owner = owner;
    this.#idleMs = settings.idleMs;
    this.#idleTimes = new IdleTimes(settings.idleMs);
    this.#parser = new ResponseParser(this, settings.maxHeaderBytes);
    this.#arm(Waiting.Connect, settings.connectMs);
    const { socket, ready } = connectBackend(settings.host, settings.port, settings.tls);
    this.#socket = socket;
    socket.once(ready, this.#onConnect);
    socket.on('data', this.#onData);
    socket.once('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.once('close', this.#onClose);
  }

  /** Takes `request`; on a connection still connecting, it is written once connected. */
  send(request: UpstreamRequest, handler: UpstreamHandler): void {
    this.#handler = handler;
    this.#control = new RequestControl(this, handler);
    this.#pending = request;
    if (this.#phase === 'idle') this.#write();
  }

  #onConnect = (): void => {
    this.#phase = this.#pending === null ? 'idle' : 'busy';
    this.#arm(Waiting.Nothing, 0);
    if (this.#pending !== null) this.#write();
    else this.#owner.released(this);
  };

  #write(): void {
    const request = this.#pending as UpstreamRequest;
    const handler = this.#handler as UpstreamHandler;
    const control = this.#control as RequestControl;
    this.#pending = null;
    this.#phase = 'busy';
    this.#arm(Waiting.Nothing, 0);
    handler.onRequestStart(control);
    // Aborted before a byte was written: the connection is as clean as before.
    if (this.#handler !== handler) return;
    if (invalidTarget(request.path)) {
      return this.#cancel(new UpstreamFailure('INVALID_REQUEST', `the request target contains bytes a request line cannot carry`, false));
    }
    const { body } = request;
    // The client's side of the body failed (408, 499) while this request waited for a connection.
    if (body !== null && !Buffer.isBuffer(body) && body.destroyed) {
      return this.#cancel(body.errored ?? new UpstreamFailure('INVALID_REQUEST', 'the request body was discarded before it could be sent', false));
    }
    this.#headOnly = request.method === 'HEAD';
    this.#upgrade = request.upgrade;
    const { chunked } = writeRequest(this.#socket, request, `${this.#settings.host}:${this.#settings.port}`, this.#headOnly);
    if (body === null || Buffer.isBuffer(body)) {
      this.#requestWritten = true;
      this.#arm(Waiting.Headers, this.#settings.headersMs);
    } else {
      this.#body = body;
      streamBody(this.#socket, body, chunked, () => this.#body === body, this.#bodyWritten, this.#bodyFailed);
    }
  }

  #bodyWritten = (): void => {
    this.#body = null;
    this.#requestWritten = true;
    if (!this.#responseStarted) this.#arm(Waiting.Headers, this.#settings.headersMs);
  };

  /** A stalled or vanished client (408, 499): the backend has half a request. */
  #bodyFailed = (error: Error): void => {
    this.#destroy(error);
  };

  // Parser events (ResponseEvents), called inside #parser.execute.

  onBegin(): boolean {
    return this.#handler !== null && !this.#responseStarted;
  }

  upgrading(): boolean {
    return this.#upgrade !== null;
  }

  onSwitch(statusMessage: string, raw: string[]): void {
    this.#switched = { message: statusMessage, raw };
  }

  onHeaders(statusCode: number, statusMessage: string, raw: string[], keepAlive: boolean): boolean {
    const handler = this.#handler as UpstreamHandler;
    this.#responseStarted = true;
    // An upgrade request answered without switching: the backend may still expect the
    // other protocol on this connection, so it is not reused.
    this.#keepAlive = keepAlive && this.#upgrade === null && mayReuseAfter(statusCode, raw, this.#headOnly);
    if (this.#keepAlive) this.#idleMs = this.#idleTimes.after(raw);
    this.#arm(Waiting.Body, this.#settings.bodyIdleMs);
    handler.onResponseStart(this.#control as RequestControl, statusCode, raw, statusMessage);
    return this.#headOnly;
  }

  onBody(chunk: Buffer): void {
    const handler = this.#handler;
    if (handler === null) return;
    if (!this.#paused) this.deadline = now() + this.#settings.bodyIdleMs;
    handler.onResponseData(this.#control as RequestControl, chunk);
  }

  onComplete(): void {
    const handler = this.#handler;
    if (handler === null) return;
    this.#reusable = this.#keepAlive && this.#requestWritten && this.#idleMs > 0;
    this.#detach();
    this.#ended = true;
    handler.onResponseEnd();
  }

  // Socket events.

  #onData = (chunk: Buffer): void => {
    if (this.#phase !== 'busy' || this.#handler === null) return this.#destroy(null);
    try {
      this.#parser.execute(chunk);
      const switchedAt = this.#parser.switchedAt;
      if (switchedAt !== null) return this.#handOver(chunk.subarray(switchedAt));
    } catch (error) {
      return this.#destroy(error instanceof ResponseParseError ? new UpstreamFailure(error.code, error.message, this.#reused, error) : (error as Error));
    }
    if (this.#ended) this.#afterResponse();
  };

  #onEnd = (): void => {
    if (this.#handler !== null && this.#responseStarted) {
      // A body delimited by the close ends here; anything else was cut off.
      try {
        this.#parser.finish();
      } catch {
        return this.#destroy(this.#closedError());
      }
    }
    this.#destroy(this.#handler === null ? null : this.#closedError());
  };

  #onError = (error: Error): void => {
    this.#destroy(socketFailure(error, this.#reused));
  };

  #onClose = (): void => {
    this.#destroy(this.#handler === null ? null : this.#closedError());
  };

  // Deadlines (Timed).

  expired(): void {
    switch (this.#waiting) {
      case Waiting.Connect:
        return this.#destroy(new UpstreamFailure('CONNECT_TIMEOUT', `no connection within ${this.#settings.connectMs} ms`, false));
      case Waiting.Headers:
        return this.#destroy(new UpstreamFailure('HEADERS_TIMEOUT', `no response headers within ${this.#settings.headersMs} ms`, this.#reused));
      case Waiting.Body:
        return this.#destroy(new UpstreamFailure('BODY_TIMEOUT', `response body silent for ${this.#settings.bodyIdleMs} ms`, this.#reused));
      default:
        return this.#destroy(null);
    }
  }

  // The request's controller.

  abort(handler: UpstreamHandler, error: Error): void {
    if (this.#handler !== handler) return;
    // Nothing written yet (aborted from onRequestStart): the connection stays clean.
    if (this.#pending === null && !this.#requestWritten && this.#body === null && !this.#responseStarted && this.#phase === 'busy' && !this.#socket.writableLength) {
      return this.#cancel(error);
    }
    this.#destroy(error);
  }

  pause(handler: UpstreamHandler): void {
    if (this.#handler !== handler || this.#paused) return;
    this.#paused = true;
    this.deadline = 0;
    this.#socket.pause();
  }

  resume(handler: UpstreamHandler): void {
    if (this.#handler !== handler || !this.#paused) return;
    this.#paused = false;
    this.#arm(Waiting.Body, this.#settings.bodyIdleMs);
    this.#socket.resume();
  }

  /** Closes the connection; a request on it hears `error`. */
  destroy(error: Error): void {
    this.#destroy(error);
  }

  /** The handler's request is given up before a byte of it was written: it hears
   * `error`, and the connection goes back to the pool untouched. */
  #cancel(error: Error): void {
    const handler = this.#handler as UpstreamHandler;
    const control = this.#control as RequestControl;
    this.#detach();
    handler.onResponseError(control, error);
    this.#phase = 'idle';
    this.#owner.released(this);
  }

  /** After a 101: the socket leaves the pool and this connection's care for the handler's. */
  #handOver(head: Buffer): void {
    const handler = this.#handler as UpstreamHandler;
    const control = this.#control as RequestControl;
    const { message, raw } = this.#switched as { message: string; raw: string[] };
    const socket = this.#socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    this.#handler = null;
    this.#control = null;
    this.#phase = 'closed';
    this.deadline = 0;
    this.#parser.destroy();
    this.#owner.closed(this);
    handler.onSwitchProtocols(control, message, raw, socket, head);
  }

  #afterResponse(): void {
    this.#ended = false;
    if (!this.#reusable || this.#phase !== 'busy' || this.#socket.readableEnded) return this.#destroy(null);
    this.#reused = true;
    this.#phase = 'idle';
    this.#arm(Waiting.Idle, this.#idleMs);
    this.#owner.released(this);
  }

  #detach(): void {
    this.#handler = null;
    this.#control = null;
    this.#pending = null;
    this.#responseStarted = false;
    this.#requestWritten = false;
    if (this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
    // The backend answered before the whole body was sent: the rest is not sent, and
    // the connection (holding half a request) is not reused.
    if (this.#body !== null) {
      this.#body.destroy();
      this.#body = null;
    }
  }

  /** Closes the connection; a request still on it hears `error` (or that the backend closed). */
  #destroy(error: Error | null): void {
    const handler = this.#handler;
    const control = this.#control;
    if (handler !== null) {
      this.#detach();
      handler.onResponseError(control as RequestControl, error ?? this.#closedError());
    }
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    this.deadline = 0;
    this.#parser.destroy();
    this.#socket.destroy();
    this.#owner.closed(this);
  }

  #arm(waiting: Waiting, ms: number): void {
    this.#waiting = waiting;
    this.deadline = waiting === Waiting.Nothing ? 0 : now() + ms;
  }

  #closedError(): UpstreamFailure {
    return closedFailure(this.#reused);
  }
}
