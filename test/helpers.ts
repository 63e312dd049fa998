/**
 * @module Helpers shared by the tests: a real balancer on an ephemeral port, test
 * upstreams, and a raw-socket client. Everything started here registers its cleanup
 * on the test context at once.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { parseCli } from '../src/config/cli.ts';
import type { Config } from '../src/config/config.ts';
import { startBalancer, type Balancer } from '../src/supervisor/supervisor.ts';

type Cleanup = Pick<TestContext, 'after'>;

/** Builds a Config exactly as the CLI would, with `--port 0` unless `args` says otherwise. */
export function configFrom(args: readonly string[]): Config {
  const parsed = parseCli(args.includes('--port') ? args : ['--port', '0', ...args]);
  if (parsed.kind !== 'run') throw new Error('expected a runnable config');
  return parsed.config;
}

/** Starts the real balancer (listener threads, shared state) in this process. */
export async function startTestBalancer(t: Cleanup, args: readonly string[]): Promise<Balancer & { url: string }> {
  const balancer = await startBalancer(configFrom(args));
  t.after(() => balancer.stop(2_000));
  return Object.assign(balancer, { url: `http://127.0.0.1:${balancer.port}` });
}

export interface TestUpstream {
  readonly server: Server;
  readonly port: number;
  readonly origin: string;
  /** Every request the upstream received, in order of arrival. */
  readonly received: Array<{ method: string; url: string; headers: IncomingMessage['headers']; rawHeaders: string[] }>;
}

/** An HTTP upstream on an ephemeral port, running `handler` for each request. */
export async function startUpstream(t: Cleanup, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestUpstream> {
  const received: TestUpstream['received'] = [];
  const server = createServer((req, res) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return { server, port, origin: `http://127.0.0.1:${port}`, received };
}

/** A port on which nothing listens (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Writes `request` on a fresh TCP connection and collects everything the server sends
 * until it closes the connection or `timeoutMs` passes (then `timedOut` is true).
 */
export function rawExchange(
  port: number,
  request: string | Buffer,
  { timeoutMs = 5_000 }: { timeoutMs?: number } = {},
): Promise<{ response: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A reset after the server has answered is still an answer.
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ response: Buffer.concat(chunks).toString('latin1'), timedOut });
    });
    socket.write(request);
  });
}

/** The status code of the first response in a raw HTTP/1.x response text, or 0. */
export function statusOf(response: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1] ?? 0);
}
