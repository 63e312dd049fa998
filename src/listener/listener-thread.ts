/**
 * @module Worker-thread entry of one listener: its listening sockets (acceptors.ts, bound
 * with `reusePort` to the balancer's address; the kernel spreads connections across all
 * of them), an optional PROXY protocol header read first, then the HTTP/1.1 server
 * (front/front-server.ts), whose requests go through handle-request.ts. Also its
 * lifecycle: connection limit, drain on shutdown, and errors that must not end the thread.
 */
import type { Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { SwitchyardError } from '../errors.ts';
import type { FrontRequest } from '../front/front-request.ts';
import type { FrontResponse } from '../front/front-response.ts';
import { FrontServer } from '../front/front-server.ts';
import { answerUsageRequests } from '../supervisor/thread-reports.ts';
import type { DrainedMessage, ListenerThreadData, ListeningMessage, StoppedAcceptingMessage, SupervisorMessage } from '../supervisor/messages.ts';
import { SharedState } from '../shared/shared-state.ts';
import { AccessLog } from './access-log.ts';
import { parserRefusal, rejectSocket } from './client-errors.ts';
import { isClosing, markClosing } from './closing-connections.ts';
import { createRequestHandler } from './handle-request.ts';
import { watchEventLoopDelay } from './event-loop-delay.ts';
import { createRelayContext } from './relay-setup.ts';
import { listenAcceptors, type Acceptors } from './acceptors.ts';
import { readProxyHeader } from './proxy-header-reader.ts';
import { terminateTls } from './tls-termination.ts';
import { SniContexts } from '../tls/sni-contexts.ts';

const { config, buffer, listener, port, inheritedFds } = workerData as ListenerThreadData;
const limits = config.client;
const state = new SharedState(buffer);
const context = createRelayContext(config, state, listener);
const { pools } = context;
const log = (line: string): void => console.error(`switchyard: listener ${listener}: ${line}`);
const hashKey = config.routing.algorithm === 'consistent-hash' ? config.routing.hashKey : null;
const accessLog = config.accessLog === null ? null : new AccessLog(config.accessLog, listener, log);
const handleRequest = createRequestHandler({ context, limits, hashKey, log, accessLog });

// Last resort. Every known failure is handled where it happens; an unknown one costs the
// request it hit (its socket is gone with it), never the thread and its other clients.
process.on('uncaughtException', (error) => log(`uncaught: ${error.stack ?? String(error)}`));
process.on('unhandledRejection', (reason) => log(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`));

let draining = false;
/** Responses not yet finished or closed: what a shutdown waits for. */
let active = 0;
const openSockets = new Set<Socket>();
/** Sockets that have sent at least one request; the others are closed at once on shutdown. */
const served = new WeakSet<Socket>();

const front = new FrontServer(limits, {
  onRequest(req: FrontRequest, res: FrontResponse): void {
    if (isClosing(req.socket)) return; // pipelined behind a refusal; never processed
    served.add(req.socket);
    state.listenerBump(listener, 'requests');
    active++;
    res.once('close', onResponseClosed);
    if (draining) res.shouldKeepAlive = false;
    handleRequest(req, res);
  },

  onConnection(socket: Socket): void {
    state.listenerBump(listener, 'connections');
    state.listenerAdd(listener, 'connectionsOpen', 1);
    openSockets.add(socket);
    socket.once('close', () => {
      openSockets.delete(socket);
      state.listenerAdd(listener, 'connectionsOpen', -1);
      // Drained: no socket left after the listening sockets closed.
      if (draining && drained()) finish(0);
    });
    // Dropping the socket silently would leave the client guessing; a 503 tells it why.
    if (openSockets.size > limits.maxConnections) {
      rejectSocket(socket, new SwitchyardError('AT_CONNECTION_LIMIT', `this listener is at its limit of ${limits.maxConnections} connections`), state, accessLog);
    }
  },

  // CONNECT would make us a tunnel to anywhere: refused before it is parsed further.
  onConnect(_req: FrontRequest, socket: Socket): void {
    rejectSocket(socket, new SwitchyardError('METHOD_NOT_ALLOWED', 'CONNECT is not relayed; switchyard is not a forward proxy'), state, accessLog);
  },

  onClientError(code: string, socket: Socket, responding: boolean): void {
    // A socket with a response already under way (often our own refusal, followed by
    // bytes the parser cannot take) must not get a second status line in the middle of
    // it: let what is written flush, then close.
    if (responding || isClosing(socket)) {
      markClosing(socket);
      return void socket.destroySoon();
    }
    rejectSocket(socket, parserRefusal(code), state, accessLog);
  },
});

function onResponseClosed(): void {
  active--;
  if (draining) setImmediate(() => front.closeIdleConnections());
}

/** With --tls-cert: the certificates served, by SNI; replaced on reload. */
const sni = config.tls === null ? null : new SniContexts(config.tls.certificates);
const serve = (socket: Socket): void => front.accept(socket);
/**
 * Counts every accepted TCP connection until it closes: one may still be in its PROXY
 * header or TLS handshake, before the front (and openSockets) knows it; a takeover's
 * drain waits for those too.
 */
function counted(next: (socket: Socket) => void): (socket: Socket) => void {
  return (socket) => {
    acceptedOpen++;
    socket.once('close', () => {
      acceptedOpen--;
      if (draining && drained()) finish(0);
    });
    next(socket);
  };
}
const secure =
  sni === null ? serve : (socket: Socket): void => terminateTls(socket, { contexts: sni, handshakeMs: limits.headersTimeoutMs, onSecure: serve });

/** The listening sockets, once bound; closed first on shutdown. */
let acceptors: Acceptors | null = null;

/** Accepted TCP connections still open (counted()). */
let acceptedOpen = 0;
/** A takeover's drain: see shutdown(). */
let handingOver = false;

function shutdown(timeoutMs: number, handover: boolean): void {
  if (draining) return;
  draining = true;
  handingOver = handover;
  state.listenerStore(listener, 'accepting', 0);
  // Stops accepting at once; the drain ends when the last connection has closed.
  acceptors?.close();
  front.closeIdleConnections();
  // closeIdleConnections() spares connections that have not sent a request yet; they
  // would hold the drain until the head timeout. At a takeover they are clients whose
  // request may be on its way right now (each client connecting anew is one of them):
  // they get their answer, with Connection: close.
  if (!handover) for (const socket of openSockets) if (!served.has(socket)) socket.destroy();
  if (drained()) finish(0);
  const stopped: StoppedAcceptingMessage = { type: 'stopped-accepting', inFlight: active };
  parentPort?.postMessage(stopped);
  const deadline = setTimeout(() => {
    const aborted = active;
    front.closeAllConnections();
    finish(aborted);
  }, timeoutMs);
  deadline.unref();
}

function drained(): boolean {
  return openSockets.size === 0 && (!handingOver || acceptedOpen === 0);
}

let finished = false;
function finish(aborted: number): void {
  if (finished) return;
  finished = true;
  void pools
    .close(aborted > 0)
    // The access log's last lines are out before the thread reports itself drained.
    .then(() => accessLog?.close())
    .then(() => {
      const message: DrainedMessage = { type: 'drained', aborted };
      parentPort?.postMessage(message);
      process.exit(0);
    });
}

parentPort?.on('message', (message: SupervisorMessage) => {
  if (message.type === 'shutdown') shutdown(message.timeoutMs, message.handover === true);
  else if (message.type === 'certificates') sni?.replace(message.certificates);
});
if (parentPort) answerUsageRequests(parentPort);

// Node's default accept queue is 511. A burst of 1,000 new clients overflowed it while the
// event loop was busy (bench/README.md, "Levers measured for #9": TcpExtListenOverflows
// 5-2,900 per run with --threads 1), and each dropped SYN costs its client a 1-3 s
// retransmit. The kernel caps this at net.core.somaxconn (4,096 on the bench machine);
// with it no run overflowed.
const ACCEPT_BACKLOG = 65_535;

listenAcceptors({
  host: config.host,
  port,
  backlog: ACCEPT_BACKLOG,
  inheritedFds,
  // What the acceptors accept (acceptors.ts says why there are several): its PROXY
  // protocol header read, its TLS handshake made, when configured, then served.
  onSocket: counted(
    limits.acceptProxyProtocol
      ? (socket) =>
          readProxyHeader(socket, {
            timeoutMs: limits.headersTimeoutMs,
            onReady: secure,
            onRefused: () => state.headerBump('proxyHeaderRefused'),
          })
      : secure,
  ),
}).then(
  (bound) => {
    acceptors = bound;
    state.listenerStore(listener, 'accepting', 1);
    watchEventLoopDelay(state, listener);
    const message: ListeningMessage = { type: 'listening', port: bound.port, fds: bound.fds };
    parentPort?.postMessage(message);
  },
  (error: unknown) => {
    // Failing to bind ends the thread with that error, so that the supervisor reports
    // it; the uncaught-exception guard above is for serving, not for starting.
    process.removeAllListeners('uncaughtException');
    setImmediate(() => {
      throw error;
    });
  },
);
