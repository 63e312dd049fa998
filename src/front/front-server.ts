/**
 * @module The HTTP/1.1 server of a listener thread: the connections its listening sockets
 * accept (listener/acceptors.ts) become ClientConnections (llhttp-parsed, one request at a time), in place of node:http, whose
 * IncomingMessage, ServerResponse and stream machinery had become the largest JavaScript
 * cost of a proxied request (bench/README.md, "prototype"). Also what a shutdown needs:
 * stop accepting, close the idle connections, or all of them.
 */
import type { Socket } from 'node:net';
import type { ClientLimits } from '../config/config.ts';
import { Deadlines } from '../shared/deadlines.ts';
import { ClientConnection, type ConnectionHandlers } from './client-connection.ts';
import type { FrontRequest } from './front-request.ts';
import type { FrontResponse } from './front-response.ts';

export interface FrontServerHandlers {
  onRequest(req: FrontRequest, res: FrontResponse): void;
  /** A new connection, before any of its bytes are read. */
  onConnection(socket: Socket): void;
  onConnect(req: FrontRequest, socket: Socket): void;
  onClientError(code: string, socket: Socket, responding: boolean): void;
}

export class FrontServer {
  readonly #handlers: FrontServerHandlers;
  #connectionHandlers: ConnectionHandlers;
  readonly #connections = new Set<ClientConnection>();

  constructor(limits: ClientLimits, handlers: FrontServerHandlers) {
    this.#handlers = handlers;
    this.#connectionHandlers = this.#connectionHandlersFor(limits);
  }

  /** New limits (a config reload) for the connections accepted from now on; those open
   * go on with the limits they started with, and their own sweeper. */
  setLimits(limits: ClientLimits): void {
    this.#connectionHandlers = this.#connectionHandlersFor(limits);
  }

  #connectionHandlersFor(limits: ClientLimits): ConnectionHandlers {
    const handlers = this.#handlers;
    const shortest = Math.min(limits.headersTimeoutMs, limits.bodyIdleMs, limits.keepAliveMs);
    return {
      limits,
      deadlines: new Deadlines(Math.max(1, shortest)),
      onRequest: handlers.onRequest,
      onConnect: handlers.onConnect,
      onClientError: handlers.onClientError,
    };
  }

  /** Serves a connection the listening sockets accepted (listener/acceptors.ts). */
  accept(socket: Socket): void {
    const connection = new ClientConnection(socket, this.#connectionHandlers);
    this.#connections.add(connection);
    socket.once('close', () => this.#connections.delete(connection));
    this.#handlers.onConnection(socket);
  }

  /** Closes the connections that wait between requests (kept alive, nothing pending). */
  closeIdleConnections(): void {
    for (const connection of this.#connections) if (connection.idle) connection.socket.destroy();
  }

  closeAllConnections(): void {
    for (const connection of this.#connections) connection.socket.destroy();
  }
}
