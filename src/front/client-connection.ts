/**
 * @module One client connection of a listener thread: its bytes parsed by llhttp (strict)
 * one request at a time, each request handed over once its head is parsed, its response
 * written before the next pipelined request is even parsed. A response that says
 * `Connection: close`, and a refusal written on the raw socket, end the connection: what
 * the client sent behind them is never processed (RFC 9112 section 9.6).
 *
 * Every wait is bounded, by deadlines that one coarse timer per thread checks
 * (deadlines.ts): the head (--client-header-timeout, from the first byte of a
 * request or from the accept), the silence inside a body (--client-body-timeout, once
 * the relay arms it), and an idle kept-alive connection (--keep-alive-timeout).
 */
import type { Socket } from 'node:net';
import type { ClientLimits } from '../config/config.ts';
import { isExecuting, LLHTTP } from '../http1/llhttp.ts';
import { RequestParser, type RequestEvents, type RequestHead } from '../http1/request-parser.ts';
import { isClosing } from '../listener/closing-connections.ts';
import { now } from '../shared/clock.ts';
import type { Deadlines, Timed } from '../shared/deadlines.ts';
import { FrontRequest, type BodySource } from './front-request.ts';
import { FrontResponse, type ResponseOwner } from './front-response.ts';
import { joinTunnel, relayedUpgrade } from './tunnel.ts';


/** What the server does with a connection's requests and failures. */
export interface ConnectionHandlers {
  readonly limits: ClientLimits;
  readonly deadlines: Deadlines;
  onRequest(req: FrontRequest, res: FrontResponse): void;
  /** A CONNECT request: refused by the listener (no body is read, nothing follows it). */
  onConnect(req: FrontRequest, socket: Socket): void;
  /** The parser refused the bytes (`code`: `HPE_...`), or the head timed out
   * (`ERR_HTTP_REQUEST_TIMEOUT`); `responding`: a response head is already out. */
  onClientError(code: string, socket: Socket, responding: boolean): void;
}

/** Bytes held behind a complete request (pipelined) before the socket stops being read. */
const MAX_PIPELINED_BYTES = 64 * 1024;

const EXPECT_CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

type Phase = 'head' | 'request' | 'idle';

export class ClientConnection implements Timed, ResponseOwner, BodySource, RequestEvents {
  readonly socket: Socket;
  readonly keepAliveSeconds: number;
  readonly #handlers: ConnectionHandlers;
  readonly #parser: RequestParser;
  /** head: waiting for (the rest of) a request head; request: one is being served;
   * idle: kept alive between requests. */
  #phase: Phase = 'head';
  /** When the head phase (or the idle phase) began. */
  #phaseSince = now();
  #request: FrontRequest | null = null;
  #response: FrontResponse | null = null;
  #keepAlive = false;
  /** A head was parsed by the running `execute`: dispatched once it has returned. */
  #dispatchDue = false;
  /** The parser is paused after a complete request; `#pending` holds what followed it. */
  #paused = false;
  #pending: Buffer | null = null;
  /** The response ended before its request did: the rest of the body is read and dropped. */
  #dumping = false;
  /** The socket is not read: the body's reader is behind, or too much is pipelined. */
  #readingPaused = false;
  #bodyTimeoutMs = 0;
  #onBodyTimeout: (() => void) | null = null;
  #lastReadAt = 0;
  /** Nothing more is processed: a refusal or a last response was written. */
  #closing = false;
  /** Bytes of a request head have arrived in the current head phase. */
  #headStarted = false;
  /** At least one request was parsed on this connection. */
  served = false;

  constructor(socket: Socket, handlers: ConnectionHandlers) {
    this.socket = socket;
    this.#handlers = handlers;
    this.keepAliveSeconds = Math.floor(handlers.limits.keepAliveMs / 1000);
    this.#parser = new RequestParser(this, handlers.limits.maxHeaderBytes);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', () => {}); // 'close' follows and does the cleanup
    socket.on('close', () => this.#onClose());
    handlers.deadlines.add(this);
  }

  /** Whether the connection waits between requests, with nothing of the next one read. */
  get idle(): boolean {
    return this.#phase === 'idle' || (this.#phase === 'head' && !this.#headStarted && this.served);
  }

  get open(): boolean {
    return !this.#closing && this.socket.writable;
  }

  get deadline(): number {
    if (this.#closing) return 0;
    const { limits } = this.#handlers;
    if (this.#phase === 'head') return this.#phaseSince + limits.headersTimeoutMs;
    if (this.#phase === 'idle') return this.#phaseSince + limits.keepAliveMs;
    if (this.#bodyTimeoutMs === 0 || this.#readingPaused) return 0;
    return this.#lastReadAt + this.#bodyTimeoutMs;
  }

  expired(): void {
    if (this.#closing || isClosing(this.socket)) return;
    if (this.#phase === 'head') {
      this.#closing = true;
      this.#handlers.onClientError('ERR_HTTP_REQUEST_TIMEOUT', this.socket, false);
    } else if (this.#phase === 'idle') {
      this.socket.destroy();
    } else {
      const onTimeout = this.#onBodyTimeout;
      this.setBodyTimeout(0, null);
      if (onTimeout !== null) onTimeout();
      else this.socket.destroy();
    }
  }

  // BodySource: the request's view of this connection.

  readMore(): void {
    if (!this.#readingPaused || this.#pending !== null) return;
    this.#readingPaused = false;
    this.#lastReadAt = now();
    this.socket.resume();
  }

  setBodyTimeout(ms: number, onTimeout: (() => void) | null): void {
    this.#bodyTimeoutMs = ms;
    this.#onBodyTimeout = onTimeout;
    this.#lastReadAt = now();
  }

  // ResponseOwner: the response's view.

  responseFinished(last: boolean): void {
    // Destroyed but not yet closed: no further request is read from it.
    if (this.socket.destroyed) return;
    if (last || this.#closing) {
      this.#closing = true;
      this.socket.destroySoon();
      return;
    }
    const request = this.#request;
    if (request === null || request.complete) return this.#next();
    // The answer came before the whole body (a backend may answer early): the rest is
    // read and dropped, and the next request follows it, unless the body stalls.
    this.#dumping = true;
    this.setBodyTimeout(this.#handlers.limits.bodyIdleMs, null);
    this.readMore();
  }

  // RequestEvents: the parser's reports, from inside llhttp.

  onHead(head: RequestHead): void {
    this.served = true;
    this.#phase = 'request';
    this.#keepAlive = head.keepAlive;
    const raw = head.raw;
    this.#request = new FrontRequest(head, this.socket, this);
    // Only a head llhttp found asking to switch is looked at again, for its token.
    if (head.upgrade) this.#request.upgrade = relayedUpgrade(raw, this.#handlers.limits.upgrades);
    this.#dispatchDue = true;
  }

  onBody(chunk: Buffer): void {
    if (this.#dumping) return;
    if (!(this.#request as FrontRequest).pushBody(chunk) && !this.#readingPaused) {
      this.#readingPaused = true;
      this.socket.pause();
    }
  }

  onComplete(): void {
    this.#bodyTimeoutMs = 0;
    this.#onBodyTimeout = null;
    (this.#request as FrontRequest).endBody();
  }

  // The socket's events.

  #onData(chunk: Buffer): void {
    if (this.#closing || isClosing(this.socket)) return; // behind a refusal: never processed
    if (this.#paused) {
      this.#pending = this.#pending === null ? chunk : Buffer.concat([this.#pending, chunk]);
      if (this.#pending.length > MAX_PIPELINED_BYTES && !this.#readingPaused) {
        this.#readingPaused = true;
        this.socket.pause();
      }
      return;
    }
    if (this.#bodyTimeoutMs !== 0) this.#lastReadAt = now();
    if (this.#phase === 'idle') this.#startHead();
    this.#headStarted = true;
    this.#parse(chunk);
  }

  #onEnd(): void {
    if (this.#closing) return;
    if (this.#phase === 'request') return void this.socket.destroy(); // the client is gone
    if (this.#phase === 'head' && this.#headStarted) {
      // A head cut off by the end of the input is refused, as node:http refuses it.
      const errno = this.#parser.finish();
      if (errno !== LLHTTP.OK) return this.#parseError(this.#parser.errorCode(errno));
    }
    this.#closing = true;
    this.socket.end();
  }

  #onClose(): void {
    this.#closing = true;
    this.#handlers.deadlines.delete(this);
    this.#request?.abortBody();
    this.#response?.socketClosed();
    this.#parser.destroy();
  }

  #startHead(): void {
    this.#phase = 'head';
    this.#phaseSince = now();
    this.#headStarted = false;
  }

  #parse(input: Buffer): void {
    let chunk = input;
    for (;;) {
      const errno = this.#parser.execute(chunk);
      if (errno === LLHTTP.OK) break;
      if (errno === LLHTTP.PAUSED) {
        // A request is complete; what follows waits for its response.
        const rest = chunk.subarray(this.#parser.stoppedAt);
        this.#pending = rest.length > 0 ? rest : null;
        this.#paused = true;
        break;
      }
      if (errno === LLHTTP.PAUSED_UPGRADE) {
        if (this.#request?.upgrade != null) {
          // An upgrade the balancer relays: what follows is the new protocol's (or, if
          // the backend declines, nothing more is read: the connection closes after).
          const rest = chunk.subarray(this.#parser.stoppedAt);
          this.#pending = rest.length > 0 ? rest : null;
          this.#paused = true;
          break;
        }
        // After a request with an Upgrade we do not relay (dropped, the request relayed
        // as plain HTTP), the connection carries on in HTTP/1.1.
        this.#parser.resume(true);
        chunk = chunk.subarray(this.#parser.stoppedAt);
        if (chunk.length === 0) break;
        continue;
      }
      return this.#parseError(this.#parser.errorCode(errno));
    }
    if (this.#dispatchDue) {
      this.#dispatchDue = false;
      this.#dispatch();
    }
    // An early answer that was waiting for the rest of the body to be dropped.
    if (this.#paused && this.#dumping) this.#next();
  }

  #parseError(code: string): void {
    this.#dispatchDue = false;
    this.#request?.abortBody();
    const responding = this.#response?.headersSent === true;
    this.#closing = true;
    this.#handlers.onClientError(code, this.socket, responding);
  }

  #dispatch(): void {
    const request = this.#request as FrontRequest;
    if (request.method === 'CONNECT') {
      this.#closing = true;
      return this.#handlers.onConnect(request, this.socket);
    }
    const response = new FrontResponse(request, this, this.#keepAlive);
    this.#response = response;
    // The headers object is built here once; the request guard reads it next anyway.
    const expect = request.headers.expect;
    if (expect !== undefined && request.httpVersionMajor === 1 && request.httpVersionMinor === 1) {
      if (!EXPECT_CONTINUE.test(expect)) {
        // node:http's answer to an expectation it cannot meet.
        response.writeHead(417);
        return response.end();
      }
      this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    }
    this.#handlers.onRequest(request, response);
  }

  /** The backend switched protocols: the 101 goes to the client, then the two sockets
   * are joined (tunnel.ts) and this connection parses nothing more. */
  tunnel(head: string, upstream: Socket, upstreamHead: Buffer, onClose: () => void): void {
    this.#closing = true;
    this.#handlers.deadlines.delete(this);
    const clientHead = this.#pending;
    this.#pending = null;
    this.socket.write(head, 'latin1');
    joinTunnel({ client: this.socket, upstream, clientHead, upstreamHead, idleMs: this.#handlers.limits.tunnelIdleMs, onClose });
  }

  /** The exchange is over (response written, request read): on to the next request. */
  #next(): void {
    this.#request = null;
    this.#response = null;
    this.#dumping = false;
    this.#bodyTimeoutMs = 0;
    this.#onBodyTimeout = null;
    this.#paused = false;
    this.#parser.resume();
    const pending = this.#pending;
    this.#pending = null;
    if (this.#readingPaused) {
      this.#readingPaused = false;
      this.socket.resume();
    }
    if (pending === null) {
      this.#phase = 'idle';
      this.#phaseSince = now();
      return;
    }
    this.#startHead();
    this.#headStarted = true;
    if (isExecuting()) queueMicrotask(() => this.#closing || this.#parse(pending));
    else this.#parse(pending);
  }
}
