/**
 * @module The balancer's address: whether its port is free to take, and how a host is
 * written in a URL.
 */
import { createServer } from 'node:net';

/**
 * Fails fast when another process holds the port. Without this check a second
 * switchyard (also binding with reusePort as the same user) would silently share the
 * port with the first, and the kernel would split clients between the two.
 */
export function assertPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      reject(new Error(`cannot listen on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is already in use' : error.message}`));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
