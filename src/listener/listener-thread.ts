/**
 * @module Worker-thread entry of one listener: an HTTP server bound with `reusePort` to
 * the balancer's address (the kernel spreads connections across listeners), which picks
 * a backend from shared state for every request and relays it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { SwitchyardError } from '../errors.ts';
import { createPicker } from '../picker/picker.ts';
import { sendError } from '../relay/error-response.ts';
import { Exchange, type RelayContext } from '../relay/exchange.ts';
import { SharedState } from '../shared/layout.ts';
import { answerUsageRequests } from '../supervisor/thread-reports.ts';
import type { DrainedMessage, ListenerThreadData, ListeningMessage, SupervisorMessage } from '../supervisor/messages.ts';
import { UpstreamPools } from '../upstream/upstream-pools.ts';
import { clientErrorResponse, rejectSocket } from './client-errors.ts';
import { guardRequest } from './request-guard.ts';

const { config, buffer, listener, port, origins } = workerData as ListenerThreadData;
const state = new SharedState(buffer);
const picker = createPicker(config.algorithm, state);
const pools = new UpstreamPools(origins, config.upstream);
const context: RelayContext = { state, listener, pools };
const limits = config.client;

let draining = false;
/** Responses not yet finished or closed: what a shutdown waits for. */
let active = 0;

const server = createServer(
  {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    // The whole-request timeout would cut long uploads and slow backends alike; the
    // head, body-idle and upstream timeouts bound every wait instead.
    requestTimeout: 0,
    keepAliveTimeout: limits.keepAliveMs,
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  },
  onRequest,
);
server.maxConnections = limits.maxConnections;

server.on('connection', () => state.connectionAccepted(listener));

// CONNECT would make us a tunnel to anywhere: refused before it is parsed further.
server.on('connect', (_req: IncomingMessage, socket: Socket) => {
  rejectSocket(socket, 405, '405 Method Not Allowed: CONNECT is not relayed; switchyard is not a forward proxy\n');
});

server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
  // A reset peer cannot be answered; a socket with a response already under way must
  // not get a second status line in the middle of it.
  const responding = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (error.code === 'ECONNRESET' || responding) {
    socket.destroy();
    return;
  }
  const { status, body } = clientErrorResponse(error.code);
  rejectSocket(socket, status, body);
});

function onRequest(req: IncomingMessage, res: ServerResponse): void {
  state.requestReceived(listener);
  active++;
  res.once('close', onResponseClosed);
  if (draining) res.shouldKeepAlive = false;

  const refusal = guardRequest(req, limits);
  if (refusal) return sendError(res, refusal, true);
  const backend = picker.pick();
  if (backend < 0) return sendError(res, new SwitchyardError('NO_BACKEND', 'no backend is available'), !req.complete);
  new Exchange(req, res, backend, context).start();
}

function onResponseClosed(): void {
  active--;
  if (draining) setImmediate(() => server.closeIdleConnections());
}

function shutdown(timeoutMs: number): void {
  if (draining) return;
  draining = true;
  // Stops accepting at once; the callback runs when the last connection has closed.
  server.close(() => finish(0));
  server.closeIdleConnections();
  const deadline = setTimeout(() => {
    const aborted = active;
    server.closeAllConnections();
    void pools.close(true).then(() => finish(aborted));
  }, timeoutMs);
  deadline.unref();
}

let finished = false;
function finish(aborted: number): void {
  if (finished) return;
  finished = true;
  void pools.close(aborted > 0).then(() => {
    const message: DrainedMessage = { type: 'drained', aborted };
    parentPort?.postMessage(message);
    process.exit(0);
  });
}

parentPort?.on('message', (message: SupervisorMessage) => {
  if (message.type === 'shutdown') shutdown(message.timeoutMs);
});
if (parentPort) answerUsageRequests(parentPort);

server.listen({ host: config.host, port, reusePort: true }, () => {
  const address = server.address();
  const message: ListeningMessage = { type: 'listening', port: typeof address === 'object' && address ? address.port : port };
  parentPort?.postMessage(message);
});
