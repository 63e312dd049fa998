/**
 * @module The admin listener: a plain HTTP server on its own port, in the main thread,
 * so that a slow scrape or an open dashboard never delays a proxied request. Checks the
 * bearer token (when one is set) in constant time, then hands the request to the first
 * route that claims its path (routes.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { AdminConfig } from '../config/config.ts';
import type { AdminContext, AdminRoute } from './admin-context.ts';
import { sendRefusal } from './respond.ts';

export interface AdminServer {
  readonly host: string;
  readonly port: number;
  /** Stops accepting and closes every admin connection (event streams included). */
  close(): Promise<void>;
}

export async function startAdminServer(config: AdminConfig, routes: readonly AdminRoute[], context: AdminContext): Promise<AdminServer> {
  const expected = config.token === null ? null : digest(config.token);
  const sockets = new Set<Socket>();
  const server: Server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    void serve(req, res).catch((error: unknown) => {
      context.logEvent(`admin: ${req.method} ${req.url} failed: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) sendRefusal(res, 500, 'the admin request failed; see the balancer log');
      else res.destroy();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (expected !== null && !authorized(req.headers.authorization, expected)) {
      return sendRefusal(res, 401, 'this admin listener needs Authorization: Bearer <token> (--admin-token)', { 'www-authenticate': 'Bearer realm="switchyard"' });
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      return sendRefusal(res, 400, 'malformed request target');
    }
    for (const route of routes) if (await route(req, res, url, context)) return;
    sendRefusal(res, 404, `no admin route ${req.method} ${url.pathname}; see / (dashboard), /metrics, /status, /healthz, /backends`);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'the port is already in use (--admin-port; off disables it)' : error.message;
      reject(new Error(`cannot listen for admin on ${config.host}:${config.port}: ${why}`));
    });
    server.listen({ host: config.host, port: config.port, exclusive: true }, () => resolve());
  });
  return {
    host: config.host,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Compares digests, so that neither the token's length nor its content leaks through timing. */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer ([\x21-\x7e]+)$/.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1] as string), expected);
}
