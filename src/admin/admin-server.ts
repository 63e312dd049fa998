/**
 * @module The admin listener: a plain HTTP server on its own port, in the main thread,
 * so that a slow scrape or an open dashboard never delays a proxied request. Checks the
 * token (when one is set) in constant time, then hands the request to the first route
 * that claims its path (routes.ts).
 *
 * The token travels as `Authorization: Bearer <token>`. A browser cannot send that
 * header for a page or an EventSource, so `GET /?token=<token>` trades it once for an
 * HttpOnly, SameSite=Strict cookie and redirects to the URL without it; the cookie opens
 * only reads (GET, HEAD). Changes (drain, weight, add, remove) always need the header,
 * so that no page elsewhere can make a logged-in browser send them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { AdminConfig } from '../config/config.ts';
import type { AdminContext, AdminRoute } from './admin-context.ts';
import { sendRefusal } from './respond.ts';
import { listeningFd } from '../takeover/listening-fd.ts';

export interface AdminServer {
  readonly host: string;
  readonly port: number;
  /** Its listening socket's descriptor, for a takeover to hand over. */
  readonly fd: number;
  /** Accepts no more connections (a takeover's successor accepts them); those open are
   * answered, so that POST /takeover gets its answer from here. */
  stopAccepting(): void;
  /** Stops accepting and closes every admin connection (event streams included). */
  close(): Promise<void>;
}

/** `inheritedFd`: the listening socket handed over at a takeover, adopted instead of binding. */
export async function startAdminServer(config: AdminConfig, routes: readonly AdminRoute[], context: AdminContext, inheritedFd: number | null = null): Promise<AdminServer> {
  const expected = config.token === null ? null : { bearer: digest(config.token), cookie: digest(encodeURIComponent(config.token)) };
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
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      return sendRefusal(res, 400, 'malformed request target');
    }
    if (expected !== null) {
      const offered = url.searchParams.get('token');
      if (offered !== null && (req.method === 'GET' || req.method === 'HEAD') && matches(offered, expected.bearer)) return tradeForCookie(res, url, offered);
      if (!authorized(req, expected)) {
        return sendRefusal(res, 401, 'this admin listener needs Authorization: Bearer <token> (--admin-token); in a browser, open /?token=<token>', {
          'www-authenticate': 'Bearer realm="switchyard"',
        });
      }
    }
    for (const route of routes) if (await route(req, res, url, context)) return;
    sendRefusal(res, 404, `no admin route ${req.method} ${url.pathname}; see / (dashboard), /metrics, /status, /healthz, /backends`);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'the port is already in use (--admin-port; off disables it)' : error.message;
      reject(new Error(`cannot listen for admin on ${config.host}:${config.port}: ${why}`));
    });
    server.listen(inheritedFd === null ? { host: config.host, port: config.port, exclusive: true } : { fd: inheritedFd }, () => resolve());
  });
  return {
    host: config.host,
    port: (server.address() as AddressInfo).port,
    fd: listeningFd(server),
    stopAccepting: () => void server.close(),
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

const COOKIE = 'switchyard_admin';

/** Compares digests, so that neither the token's length nor its content leaks through timing. */
function matches(token: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(token), expected);
}

/** The bearer header for anything; the cookie for reads only (see the module comment). */
function authorized(req: IncomingMessage, expected: { readonly bearer: Buffer; readonly cookie: Buffer }): boolean {
  const bearer = /^Bearer ([\x21-\x7e]+)$/.exec(req.headers.authorization ?? '');
  if (bearer !== null) return matches(bearer[1] as string, expected.bearer);
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  for (const pair of (req.headers.cookie ?? '').split(';')) {
    const [name, value] = pair.trim().split('=', 2);
    // The cookie holds the token URI-encoded (tradeForCookie); compared as such.
    if (name === COOKIE && value !== undefined) return matches(value, expected.cookie);
  }
  return false;
}

function tradeForCookie(res: ServerResponse, url: URL, token: string): void {
  url.searchParams.delete('token');
  res.writeHead(303, {
    location: `${url.pathname}${url.search}`,
    'set-cookie': `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
    'cache-control': 'no-store',
    'content-length': 0,
  });
  res.end();
}
