/**
 * @module Worker-thread entry of one backend of the load scenarios (slow-backend.ts,
 * dead-backend.ts): answers every request like the demo backend (200, Content-Length,
 * `x-backend: <port>`), after `delayMs` if given; on `kill` it stops listening and
 * drops every connection at once (a crashed process: connections reset, new ones
 * refused); on `revive` it listens on the same port again. Every answer to the main
 * thread carries the wall-clock time at which it happened.
 */
import { createServer, type Server } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface ScenarioBackendData {
  readonly host: string;
  /** Ports to try in turn: below the ephemeral range, so that no outgoing connection
   * takes the port while the backend is dead. */
  readonly ports: readonly number[];
  readonly delayMs: number;
}

export type ScenarioBackendRequest = { readonly type: 'kill' } | { readonly type: 'revive' } | { readonly type: 'stop' };

export type ScenarioBackendReport =
  | { readonly type: 'listening'; readonly port: number; readonly at: number }
  | { readonly type: 'killed'; readonly at: number }
  | { readonly type: 'failed'; readonly message: string };

const { host, ports, delayMs } = workerData as ScenarioBackendData;
const wallClock = (): number => performance.timeOrigin + performance.now();
const send = (report: ScenarioBackendReport): void => parentPort?.postMessage(report);

function answer(server: Server): Server {
  return server.on('request', (req, res) => {
    req.resume();
    const reply = (): void => {
      const body = `hello from :${port}\n`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-backend': String(port) });
      res.end(body);
    };
    if (delayMs > 0) setTimeout(reply, delayMs);
    else reply();
  });
}

function listen(server: Server, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const failed = (): void => resolve(false);
    server.once('error', failed);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', failed);
      resolve(true);
    });
  });
}

let server = answer(createServer({ keepAliveTimeout: 65_000 }));
let port = 0;
for (const candidate of ports) {
  if (await listen(server, candidate)) {
    port = candidate;
    break;
  }
}
if (port === 0) send({ type: 'failed', message: `none of ${ports.length} ports was free` });
else send({ type: 'listening', port, at: wallClock() });

parentPort?.on('message', (request: ScenarioBackendRequest) => {
  if (request.type === 'kill') {
    server.close();
    server.closeAllConnections();
    send({ type: 'killed', at: wallClock() });
  } else if (request.type === 'revive') {
    server = answer(createServer({ keepAliveTimeout: 65_000 }));
    void listen(server, port).then((ok) => send(ok ? { type: 'listening', port, at: wallClock() } : { type: 'failed', message: `port ${port} was taken while the backend was dead` }));
  } else {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  }
});
