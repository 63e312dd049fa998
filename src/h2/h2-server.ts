/**
 * @module The HTTP/2 server of a listener thread: connections that chose `h2` by ALPN (or
 * sent the cleartext preface, with --h2c) become node:http2 sessions, and each stream is
 * one request through the same handler as an HTTP/1.1 request (listener/handle-request.ts),
 * so routing, retries, limits, metrics and the access log are the same. Backends are still
 * spoken to in HTTP/1.1.
 *
 * Limits: SETTINGS_MAX_CONCURRENT_STREAMS (--h2-max-streams; more are refused by nghttp2),
 * SETTINGS_MAX_HEADER_LIST_SIZE (--max-header-size; a larger list resets the stream), and
 * Rapid Reset (CVE-2023-44487), in two places. A stream reset before it reaches
 * JavaScript makes no request; nghttp2 bounds how fast those may come (see the
 * constructor). A stream reset while its request is under way has cost a backend
 * request: a client whose such resets reach RESET_FLOOD_STREAMS and outnumber the streams
 * it let finish is sent GOAWAY (ENHANCE_YOUR_CALM) and closed, as Envoy does with its
 * premature-reset bound.
 */
import { constants, createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ClientLimits } from '../config/config.ts';
import type { ClientResponse } from '../front/client-response.ts';
import type { FrontRequest } from '../front/front-request.ts';
import { H2Response } from './h2-response.ts';
import { streamRequest } from './h2-request.ts';

/** Premature resets (the client reset a stream before its response was complete) a
 * connection may make before the ratio is checked (Envoy's premature_reset_total_stream_count is 500;
 * lower here since nothing legitimate comes close). */
export const RESET_FLOOD_STREAMS = 100;

export interface H2ServerHandlers {
  onRequest(req: FrontRequest, res: ClientResponse): void;
  /** A client was closed for resetting streams too fast. */
  onResetFlood(socket: Socket): void;
}

/** What the server keeps per session. */
interface SessionState {
  readonly socket: Socket;
  /** Streams open now. */
  open: number;
  /** Streams the client opened, and those it reset before their response was complete. */
  opened: number;
  resets: number;
}

export class H2Server {
  readonly #server: Http2Server;
  readonly #handlers: H2ServerHandlers;
  readonly #sessions = new Map<ServerHttp2Session, SessionState>();
  /** The socket being handed to the server, for the 'session' it makes of it. */
  #accepting: Socket | null = null;
  /** A session idle this long gets GOAWAY (--keep-alive-timeout). */
  #keepAliveMs: number;

  constructor(limits: ClientLimits, handlers: H2ServerHandlers) {
    this.#handlers = handlers;
    this.#server = createServer({
      settings: { maxConcurrentStreams: limits.h2MaxStreams, maxHeaderListSize: limits.maxHeaderBytes, enablePush: false },
      // Streams the client resets before they reach JavaScript (a HEADERS and its
      // RST_STREAM in one read: the attack's usual shape) cost no request, and are
      // bounded by nghttp2's own limit on received RST_STREAM frames: past this burst,
      // refilled at 33 a second (Node's default rate), the connection gets GOAWAY.
      streamResetBurst: Math.max(2 * limits.h2MaxStreams, 2 * RESET_FLOOD_STREAMS),
      streamResetRate: 33,
    });
    this.#server.on('session', (session: ServerHttp2Session) => this.#onSession(session));
    this.#server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]) => this.#onStream(stream, headers, flags, raw));
    this.#server.setTimeout(0);
    this.#keepAliveMs = limits.keepAliveMs;
  }

  /** A config reload: new sessions get the new keep-alive timeout and header list size
   * (the streams limit needs a restart: the RST_STREAM burst is sized by it). */
  setLimits(limits: ClientLimits): void {
    this.#keepAliveMs = limits.keepAliveMs;
    this.#server.updateSettings({ maxHeaderListSize: limits.maxHeaderBytes });
  }

  /** Serves a connection that speaks HTTP/2 from its first byte. `transport`: what to
   * read it from when that is not the socket itself (listener/socket-bridge.ts). */
  accept(socket: Socket, transport: Duplex = socket): void {
    this.#accepting = socket;
    try {
      this.#server.emit('connection', transport);
    } finally {
      this.#accepting = null;
    }
  }

  /** Drain: GOAWAY to every client; each connection closes once its streams are done. */
  closeIdleConnections(): void {
    for (const session of this.#sessions.keys()) if (!session.closed) session.close();
  }

  closeAllConnections(): void {
    for (const session of this.#sessions.keys()) session.destroy();
  }

  #onSession(session: ServerHttp2Session): void {
    const socket = this.#accepting;
    if (socket === null) return void session.destroy();
    const state: SessionState = { socket, open: 0, opened: 0, resets: 0 };
    this.#sessions.set(session, state);
    session.once('close', () => this.#sessions.delete(session));
    // Errors end the session; there is no one to report them to but its streams.
    session.on('error', () => {});
    // Idle (no stream open) for the keep-alive timeout: GOAWAY, as an HTTP/1.1
    // connection idle that long is closed.
    session.setTimeout(this.#keepAliveMs, () => {
      if (state.open === 0) session.close();
    });
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]): void {
    const session = stream.session as ServerHttp2Session;
    const state = this.#sessions.get(session);
    stream.on('error', () => {});
    if (state === undefined) return void stream.close(constants.NGHTTP2_REFUSED_STREAM);
    state.opened++;
    // Reset by the client before it reached us (the HEADERS and RST_STREAM of a Rapid
    // Reset arrive together): no request to make, one more reset to count.
    if (stream.closed || stream.destroyed) {
      if (stream.rstCode !== constants.NGHTTP2_NO_ERROR) this.#onReset(session, state);
      return;
    }
    state.open++;
    const req = streamRequest(stream, headers, flags, raw, state.socket);
    const te = headers.te;
    const res = new H2Response(req, stream, typeof te === 'string' && te.includes('trailers'));
    stream.once('close', () => {
      state.open--;
      // Closed before the response was complete, and not by us: a reset by the client.
      if (!res.ended && !res.resetHere && stream.rstCode !== constants.NGHTTP2_NO_ERROR) this.#onReset(session, state);
    });
    this.#handlers.onRequest(req, res);
  }

  #onReset(session: ServerHttp2Session, state: SessionState): void {
    state.resets++;
    if (state.resets < RESET_FLOOD_STREAMS || state.resets * 2 <= state.opened || session.destroyed) return;
    this.#handlers.onResetFlood(state.socket);
    // GOAWAY with the reason, then the connection closes; its streams are cut (their
    // exchanges see the close and abort their upstream requests).
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    setImmediate(() => session.destroy());
  }
}
