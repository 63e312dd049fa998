/**
 * @module --redirect-http PORT: a plain-HTTP listener on the main thread that answers
 * every request with 308 to the same path on the balancer's https:// port (308 keeps the
 * method and body, where 301 lets clients turn a POST into a GET), so that `http://` links
 * and typed addresses end up on TLS. No request is relayed from it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listeningFd } from '../takeover/listening-fd.ts';

export interface RedirectServer {
  readonly port: number;
  /** Its listening socket's descriptor, for a takeover to hand over. */
  readonly fd: number;
  /** Accepts no more connections (a takeover's successor accepts them); those open stay. */
  stopAccepting(): void;
  close(): Promise<void>;
}

/** `inheritedFd`: a listening socket handed over at a takeover, adopted instead of binding. */
export async function startRedirectServer(host: string, port: number, httpsPort: number, inheritedFd: number | null = null): Promise<RedirectServer> {
  const server: Server = createServer((req, res) => {
    // The name the client used, without its port; the address we listen on otherwise.
    const name = (req.headers.host ?? host).replace(/:\d+$/, '');
    const location = `https://${name}${httpsPort === 443 ? '' : `:${httpsPort}`}${req.url?.startsWith('/') ? req.url : '/'}`;
    const body = `308 Permanent Redirect: ${location}\n`;
    res.writeHead(308, { location, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(inheritedFd === null ? { host, port } : { fd: inheritedFd }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    fd: listeningFd(server),
    stopAccepting: () => void server.close(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
