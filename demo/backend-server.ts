/**
 * @module The demo backend (what `npm start` balances when no --backend is given): an HTTP server that answers any method and path,
 * names itself in the body and in `x-backend`, and reports what it received (method,
 * path, body length and sha256) so that tests and the demo can check what arrived.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';

export function createBackendServer(): Server {
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const name = String(addressPort(server));
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      const body = `hello from backend :${name} (${req.method} ${req.url})\n`;
      // A known length, not chunked: what most real backends send for a small answer.
      res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-backend': name,
        'x-received-method': req.method ?? '',
        'x-received-bytes': String(bytes),
        'x-received-sha256': hash.digest('hex'),
      });
      res.end(body);
    });
    req.on('error', () => res.destroy());
  });
  return server;
}

function addressPort(server: Server): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}
