/**
 * @module --redirect-http PORT: a plain-HTTP listener on the main thread that answers
 * every request with 308 to the same path on the balancer's https:// port (308 keeps the
 * method and body, where 301 lets clients turn a POST into a GET), so that `http://` links
 * and typed addresses end up on TLS. No request is relayed from it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RedirectServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startRedirectServer(host: string, port: number, httpsPort: number): Promise<RedirectServer> {
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
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
