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
import { now } from '../shared/clock.ts';
import type { Timed } from '../shared/deadlines.ts';
import { connectBackend, type ConnectionSettings } from './backend-tls.ts';
import { IdleTimes, mayReuseAfter } from './keep-alive.ts';
import { ResponseParseError, ResponseParser, type ResponseEvents } from '../http1/response-parser.ts';
import { closedFailure, socketFailure, timedOut, UpstreamFailure, type TimeoutKind } from './upstream-errors.ts';
import { RequestWriter } from './request-writer.ts';
import { RequestControl, type ControlTarget, type UpstreamHandler, type UpstreamRequest } from './upstream-request.ts';


/** What the connection tells its pool. */
export interface ConnectionOwner {
  /** The response ended cleanly and the connection may carry another request. */
  released(connection: UpstreamConnection): void;
  /** Closed, whatever the reason; it is no longer the pool's. */
  closed(connection: UpstreamConnection): void;
}

type Phase = 'connecting' | 'idle' | 'busy' | 'closed';
/** What the armed deadline waits for. */
type Waiting = TimeoutKind | 'idle' | null;

export class UpstreamConnection implements ResponseEvents, Timed, ControlTarget {
  readonly #settings: ConnectionSettings;
  readonly #owner: ConnectionOwner;
  readonly #socket: Socket;
  readonly #parser: ResponseParser;
  #phase: Phase = 'connecting';
  deadline = 0;
  #waiting: Waiting = null;
  #idleMs: number;
  readonly #idleTimes: IdleTimes;
  /** It has carried a whole response: a close under the next request may be a keep-alive race. */
  #reused = false;
  // The request in progress (`#pending` until it is written).
  #pending: UpstreamRequest | null = null;
  #handler: UpstreamHandler | null = null;
  #control: RequestControl | null = null;
  readonly #writer: RequestWriter;
  #headOnly = false;
  /** The Upgrade token of the request in progress; null for a plain one. */
  #upgrade: string | null = null;
  /** The 101 that switched the connection to the upgraded protocol. */
  #switched: { message: string; raw: string[] } | null = null;
  #responseStarted = false;
  #keepAlive = false;
  #paused = false;
  /** The response ended inside this `execute`; after it, the connection is offered again if `#reusable`. */
  #ended = false;
  #reusable = false;

  /** With --send-proxy-protocol: the client connection this one belongs to (it serves no other). */
  readonly privateTo: Socket | null;
  /** Written first once connected: the PROXY header naming the client. */
  readonly #preface: Buffer | null;

  constructor(settings: ConnectionSettings, owner: ConnectionOwner, privateTo: Socket | null = null, preface: Buffer | null = null) {
    this.privateTo = privateTo;
    this.#preface = preface;
    this.#settings = settings;
    this.#owner = owner;
    this.#idleMs = settings.idleMs;
    this.#idleTimes = new IdleTimes(settings.idleMs);
    this.#parser = new ResponseParser(this, settings.maxHeaderBytes);
    this.#arm('connect', settings.connectMs);
    const { socket, ready } = connectBackend(settings.host, settings.port, settings.tls);
    this.#socket = socket;
    this.#writer = new RequestWriter(socket, `${settings.host}:${settings.port}`);
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
    if (this.#preface !== null) this.#socket.write(this.#preface);
    // Its request was given up while it connected: idle, under the idle timeout.
    if (this.#pending === null) return this.#release();
    this.#phase = 'busy';
    this.#arm(null, 0);
    this.#write();
  };

  #write(): void {
    const request = this.#pending as UpstreamRequest;
    const handler = this.#handler as UpstreamHandler;
    const control = this.#control as RequestControl;
    this.#pending = null;
    this.#phase = 'busy';
    this.#arm(null, 0);
    handler.onRequestStart(control);
    // Aborted before a byte was written: the connection is as clean as before.
    if (this.#handler !== handler) return;
    this.#headOnly = request.method === 'HEAD';
    this.#upgrade = request.upgrade;
    const refusal = this.#writer.start(request, this.#headOnly, this.#requestOut, this.#bodyFailed);
    if (refusal !== null) this.#cancel(refusal);
  }

  /** The whole request is out: the wait for the response's head begins. */
  #requestOut = (): void => {
    if (!this.#responseStarted) this.#arm('headers', this.#settings.headersMs);
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

  onEarlyHints(statusMessage: string, raw: string[]): void {
    this.#handler?.onEarlyHints(this.#control as RequestControl, statusMessage, raw);
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
    this.#arm('body', this.#settings.bodyIdleMs);
    handler.onResponseStart(this.#control as RequestControl, statusCode, raw, statusMessage);
    return this.#headOnly;
  }

  onBody(chunk: Buffer): void {
    const handler = this.#handler;
    if (handler === null) return;
    if (!this.#paused) this.deadline = now() + this.#settings.bodyIdleMs;
    handler.onResponseData(this.#control as RequestControl, chunk);
  }

  onComplete(trailers: string[]): void {
    const handler = this.#handler;
    if (handler === null) return;
    this.#reusable = this.#keepAlive && this.#writer.written && this.#idleMs > 0;
    this.#detach();
    this.#ended = true;
    handler.onResponseEnd(trailers);
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
    const waiting = this.#waiting;
    this.#destroy(waiting === null || waiting === 'idle' ? null : timedOut(waiting, this.#settings, this.#reused));
  }

  // The request's controller.

  abort(handler: UpstreamHandler, error: Error): void {
    if (this.#handler !== handler) return;
    // Nothing written yet (aborted from onRequestStart): the connection stays clean.
    if (this.#pending === null && !this.#writer.written && !this.#writer.streaming && !this.#responseStarted && this.#phase === 'busy' && !this.#socket.writableLength) {
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
    this.#arm('body', this.#settings.bodyIdleMs);
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
    this.#release();
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
    this.#release();
  }

  /** Idle again, closed by our own idle timeout before the backend's, and back to the pool. */
  #release(): void {
    this.#phase = 'idle';
    this.#arm('idle', this.#idleMs);
    this.#owner.released(this);
  }

  #detach(): void {
    this.#handler = null;
    this.#control = null;
    this.#pending = null;
    this.#responseStarted = false;
    // A body still being sent (the backend answered early) is dropped.
    this.#writer.reset();
    if (this.#paused) {
      this.#paused = false;
      this.#socket.resume();
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
    this.deadline = waiting === null ? 0 : now() + ms;
  }

  #closedError(): UpstreamFailure {
    return closedFailure(this.#reused);
  }
}
