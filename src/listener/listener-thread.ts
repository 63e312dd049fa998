/**
 * @module Worker-thread entry of one listener: its listening sockets (acceptors.ts, bound
 * with `reusePort` to the balancer's address; the kernel spreads connections across all
 * of them), an optional PROXY protocol header read first, then the HTTP/1.1 server
 * (front/front-server.ts), whose requests go through handle-request.ts. Also its
 * lifecycle: connection limit, drain on shutdown, and errors that must not end the thread.
 */
import type { Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import type { Config, HashKeySpec } from '../config/config.ts';
import { SwitchyardError } from '../errors.ts';
import type { FrontRequest } from '../front/front-request.ts';
import type { ClientResponse } from '../front/client-response.ts';
import { H2Server, RESET_FLOOD_STREAMS } from '../h2/h2-server.ts';
import { routeByPreface } from '../h2/h2c-preface.ts';
import { clientAddress } from '../shared/client-address.ts';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { transportOf } from './socket-bridge.ts';
import { FrontServer } from '../front/front-server.ts';
import { answerUsageRequests } from '../supervisor/thread-reports.ts';
import type { DrainedMessage, ListenerThreadData, ListeningMessage, StoppedAcceptingMessage, SupervisorMessage } from '../supervisor/messages.ts';
import { SharedState } from '../shared/shared-state.ts';
import { AccessLog } from './access-log.ts';
import { parserRefusal, rejectSocket } from './client-errors.ts';
import { isClosing, markClosing } from './closing-connections.ts';
import { createRequestHandler } from './handle-request.ts';
import { connectRefusal } from './request-guard.ts';
import { watchEventLoopDelay } from './event-loop-delay.ts';
import { createRelayContext } from './relay-setup.ts';
import { listenAcceptors, type Acceptors } from './acceptors.ts';
import { readProxyHeader } from './proxy-header-reader.ts';
import { terminateTls } from './tls-termination.ts';
import { SniContexts } from '../tls/sni-contexts.ts';

const { config, buffer, listener, port, inheritedFds } = workerData as ListenerThreadData;
/** The settings of new connections and requests; a config reload replaces them (reconfigure). */
let limits = config.client;
const state = new SharedState(buffer);
const relay = createRelayContext(config, state, listener);
const { context } = relay;
const { pools } = context;
const log = (line: string): void => console.error(`switchyard: listener ${listener}: ${line}`);
const hashKeySpec = (settings: Config): HashKeySpec | null => (settings.routing.algorithm === 'consistent-hash' ? settings.routing.hashKey : null);
let accessLog = config.accessLog === null ? null : new AccessLog(config.accessLog, listener, log);
let handleRequest = createRequestHandler({ context, limits, hashKey: hashKeySpec(config), log, accessLog });
let currentAccessLog = JSON.stringify(config.accessLog);

/** A config reload: what comes next uses the new settings; what is in flight goes on. */
function reconfigure(next: Config): void {
  limits = next.client;
  front.setLimits(limits);
  h2.setLimits(limits);
  relay.reconfigure(next);
  const nextAccessLog = JSON.stringify(next.accessLog);
  if (nextAccessLog !== currentAccessLog) {
    try {
      const opened = next.accessLog === null ? null : new AccessLog(next.accessLog, listener, log);
      accessLog?.retire();
      accessLog = opened;
      currentAccessLog = nextAccessLog;
    } catch (error) {
      log(`access log not changed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  handleRequest = createRequestHandler({ context, limits, hashKey: hashKeySpec(next), log, accessLog });
}

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

/** Counts a new connection; false when it is over --max-connections. */
function trackConnection(socket: Socket): boolean {
  state.listenerBump(listener, 'connections');
  state.listenerAdd(listener, 'connectionsOpen', 1);
  openSockets.add(socket);
  socket.once('close', () => {
    openSockets.delete(socket);
    state.listenerAdd(listener, 'connectionsOpen', -1);
    // Drained: no socket left after the listening sockets closed.
    if (draining && drained()) finish(0);
  });
  return openSockets.size <= limits.maxConnections;
}

/** Every request, HTTP/1.1 or an HTTP/2 stream. */
function onRequest(req: FrontRequest, res: ClientResponse): void {
  if (isClosing(req.socket)) return; // pipelined behind a refusal; never processed
  served.add(req.socket);
  state.listenerBump(listener, 'requests');
  active++;
  res.once('close', onResponseClosed);
  if (draining) res.shouldKeepAlive = false;
  handleRequest(req, res);
}

const front = new FrontServer(limits, {
  onRequest,

  onConnection(socket: Socket): void {
    // Dropping the socket silently would leave the client guessing; a 503 tells it why.
    if (!trackConnection(socket)) {
      rejectSocket(socket, new SwitchyardError('AT_CONNECTION_LIMIT', `this listener is at its limit of ${limits.maxConnections} connections`), state, accessLog);
    }
  },

  // CONNECT would make us a tunnel to anywhere: refused before it is parsed further.
  onConnect(_req: FrontRequest, socket: Socket): void {
    rejectSocket(socket, connectRefusal(), state, accessLog);
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

const h2 = new H2Server(limits, {
  onRequest,
  onResetFlood(socket: Socket): void {
    state.headerBump('h2ResetFloods');
    log(`HTTP/2 client ${clientAddress(socket) ?? 'unknown'} reset ${RESET_FLOOD_STREAMS}+ streams before their responses (Rapid Reset): GOAWAY, closed`);
  },
});

/** A connection that speaks HTTP/2 (ALPN h2, or the --h2c preface, read through a
 * bridge since it was read once already). */
function serveH2(socket: Socket, transport: Duplex = socket): void {
  // Over the limit: no HTTP/1.1 503 on an HTTP/2 connection; it is closed.
  if (!trackConnection(socket)) return void socket.destroy();
  h2.accept(socket, transport);
}

function onResponseClosed(): void {
  active--;
  if (draining) setImmediate(() => front.closeIdleConnections());
}

/** With --tls-cert: the certificates served, by SNI; replaced on reload. */
const sni = config.tls === null ? null : new SniContexts(config.tls.certificates);
const serveH1 = (socket: Socket): void => front.accept(socket);
const serve = limits.h2c ? (socket: Socket): void => routeByPreface(socket, { timeoutMs: limits.headersTimeoutMs, onH2: (sniffed) => serveH2(sniffed, transportOf(sniffed)), onH1: serveH1 }) : serveH1;
const serveTls = (socket: TLSSocket): void => (socket.alpnProtocol === 'h2' ? serveH2(socket) : serveH1(socket));
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
  sni === null ? serve : (socket: Socket): void => terminateTls(socket, { contexts: sni, handshakeMs: limits.headersTimeoutMs, onSecure: serveTls });

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
  h2.closeIdleConnections();
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
    h2.closeAllConnections();
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
  else if (message.type === 'config') reconfigure(message.config);
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
  // The limits in effect when the connection arrives (a reload may turn it on or off).
  onSocket: counted((socket) =>
    limits.acceptProxyProtocol
      ? readProxyHeader(socket, {
          timeoutMs: limits.headersTimeoutMs,
          onReady: secure,
          onRefused: () => state.headerBump('proxyHeaderRefused'),
        })
      : secure(socket),
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
