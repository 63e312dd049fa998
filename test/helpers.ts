/**
 * @module Helpers shared by the tests: a real balancer on an ephemeral port, test
 * upstreams, and a raw-socket client. Everything started here registers its cleanup
 * on the test context at once.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { parseCli, UsageError } from '../src/config/cli.ts';
import type { Config } from '../src/config/config.ts';
import { startBalancer, type Balancer } from '../src/supervisor/supervisor.ts';
import { startDemoBackends, type DemoBackends } from '../demo/demo-backends.ts';

type Cleanup = Pick<TestContext, 'after'>;

/** Builds a Config exactly as the CLI would, with `--port 0` and `--admin-port off` unless
 * `args` says otherwise (tests that use the admin listener ask for `--admin-port 0`). */
export function configFrom(args: readonly string[]): Config {
  const port = args.includes('--port') ? [] : ['--port', '0'];
  const admin = args.some((arg) => arg.startsWith('--admin-')) ? [] : ['--admin-port', 'off'];
  const parsed = parseCli([...port, ...admin, ...args]);
  if (parsed.kind !== 'run') throw new Error('expected a runnable config');
  return parsed.config;
}

/** The one-line UsageError message the CLI refuses `args` with (`--admin-port off` added); fails if they are accepted. */
export function usageRefusal(args: readonly string[]): string {
  try {
    parseCli(['--admin-port', 'off', ...args]);
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    return error.message;
  }
  return assert.fail(`accepted: ${args.join(' ')}`);
}

export type TestBalancer = Balancer & {
  readonly url: string;
  /** The demo backends started because `args` named no --backend (as `npm start` does); null otherwise. */
  readonly demo: DemoBackends | null;
  /** Every line the balancer logged (state changes included), in order. */
  readonly logged: string[];
};

/**
 * Starts the real balancer (listener threads, shared state, control plane) in this
 * process. Without --backend (or a DNS name) in `args`, demo backends are started first,
 * as `npm start` does.
 */
export async function startTestBalancer(t: Cleanup, args: readonly string[]): Promise<TestBalancer> {
  let config = configFrom(args);
  let demo: DemoBackends | null = null;
  if (config.backends.length === 0 && config.discovery.names.length === 0) {
    demo = await startDemoBackends({ host: config.host, port: 0, count: config.spawnBackends });
    t.after(() => demo?.stop());
    config = { ...config, backends: demo.origins.map((origin) => ({ origin, weight: 1 })) };
  }
  const logged: string[] = [];
  const balancer = await startBalancer(config, { log: (line) => logged.push(line) });
  t.after(() => balancer.stop(2_000));
  return Object.assign(balancer, { url: `http://127.0.0.1:${balancer.port}`, demo, logged });
}

export interface TestBackend {
  readonly server: Server;
  readonly port: number;
  readonly origin: string;
  /** Every request the backend received, in order of arrival. */
  readonly received: Array<{ method: string; url: string; headers: IncomingMessage['headers']; rawHeaders: string[] }>;
}

/** Where a test server listens: an ephemeral port on 127.0.0.1 unless said otherwise. */
export interface ListenAt {
  /** A loopback address: all of 127/8 reaches this machine on Linux. */
  readonly host?: string;
  readonly port?: number;
}

/** A test backend: an HTTP server on an ephemeral port, running `handler` for each request. */
export async function startBackend(t: Cleanup, handler: (req: IncomingMessage, res: ServerResponse) => void, at: ListenAt = {}): Promise<TestBackend> {
  const received: TestBackend['received'] = [];
  const server = createServer((req, res) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    handler(req, res);
  });
  const port = await listenForTest(t, server, at);
  return { server, port, origin: `http://${at.host ?? '127.0.0.1'}:${port}`, received };
}

/** Listens on an ephemeral loopback port (or `at`) until the test ends (its connections
 * closed then too); resolves with the port, rejects if it cannot listen there. */
export async function listenForTest(t: Cleanup, server: Server | HttpsServer, { host = '127.0.0.1', port = 0 }: ListenAt = {}): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
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

/**
 * Resolves once `condition()` is true, checking every `intervalMs`; rejects naming
 * `what` if it is still false after `timeoutMs`.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  { timeoutMs = 5_000, intervalMs = 5 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `promise`, or a rejection naming `what` if it has not settled within `timeoutMs`. */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A raw HTTP/1.x response text taken apart: status, headers (lower-case names), body. */
export interface RawResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  /** Everything after the blank line that ends the head, as sent (not de-chunked). */
  readonly body: string;
}

export function parseRawResponse(response: string): RawResponse {
  const end = response.indexOf('\r\n\r\n');
  const head = end < 0 ? response : response.slice(0, end);
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: statusOf(response), headers, body: end < 0 ? '' : response.slice(end + 4) };
}

/**
 * Asserts that `exchange` (from `rawExchange`) is one refusal and nothing else: exactly
 * one response, with `status`, `connection: close` and a plain-text body of one line
 * that starts with the status (no stack trace, no HTML, nothing after it), and the
 * balancer closed the connection rather than waiting for more.
 */
export function assertRefusal(exchange: { response: string; timedOut: boolean }, status: number): void {
  const { response, timedOut } = exchange;
  const shown = JSON.stringify(response.length > 800 ? `${response.slice(0, 800)}...` : response);
  assert.equal(statusOf(response), status, `expected status ${status}, got ${shown}`);
  assert.equal(response.match(/HTTP\/1\.[01] \d{3} /g)?.length, 1, `expected exactly one response, got ${shown}`);
  const { headers, body } = parseRawResponse(response);
  assert.match(headers.get('content-type') ?? '', /^text\/plain\b/, `expected a text/plain body, got ${shown}`);
  assert.equal(headers.get('connection')?.toLowerCase(), 'close', `expected connection: close, got ${shown}`);
  assert.match(body, new RegExp(`^${status} [\\x20-\\x7e]+\\n?$`), `expected a one-line body starting with ${status}, got ${shown}`);
  assert.equal(headers.get('content-length'), String(Buffer.byteLength(body, 'latin1')), `content-length does not match the body: ${shown}`);
  assert.equal(timedOut, false, `the balancer kept the connection open after its ${status}: ${shown}`);
}

/** A client connection kept open: write requests, read the server's bytes as they come. */
export interface RawClient {
  /** Everything the server has sent so far (latin1). */
  readonly received: string;
  /** Whether the connection has closed. */
  readonly closed: boolean;
  write(bytes: string | Buffer): void;
  /**
   * Resolves with everything received once `until(received)` holds; rejects naming
   * `what` if the connection closes first or `timeoutMs` passes.
   */
  readUntil(until: (received: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  /** Resolves with everything received once the connection has closed; rejects after `timeoutMs`. */
  untilClosed(timeoutMs?: number): Promise<string>;
  /** Cuts the connection at once, as a client that vanishes would. */
  destroy(): void;
}

/** Opens a TCP connection to `port` on 127.0.0.1; it is destroyed when the test ends. */
export async function openRawClient(t: Cleanup, port: number): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  t.after(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let received = '';
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
    wake();
  });
  // A reset after the server has answered still leaves `received` to be judged.
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    wake();
  });

  const wait = (done: () => boolean, what: string, timeoutMs: number, failOnClose: boolean): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const settle = (error?: Error): void => {
        clearTimeout(timer);
        waiters.delete(check);
        if (error) reject(error);
        else resolve(received);
      };
      const check = (): void => {
        if (done()) settle();
        else if (failOnClose && closed) settle(new Error(`connection closed while waiting for ${what}; received ${JSON.stringify(received)}`));
      };
      const timer = setTimeout(
        () => settle(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${JSON.stringify(received)}`)),
        timeoutMs,
      );
      waiters.add(check);
      check();
    });

  return {
    get received() {
      return received;
    },
    get closed() {
      return closed;
    },
    write: (bytes) => {
      socket.write(bytes);
    },
    readUntil: (until, what, timeoutMs = 5_000) => wait(() => until(received), what, timeoutMs, true),
    untilClosed: (timeoutMs = 5_000) => wait(() => closed, 'the server to close the connection', timeoutMs, false),
    destroy: () => {
      socket.destroy();
    },
  };
}

/**
 * Asserts that the balancer still answers a plain GET `path` with 200 on `count` fresh
 * connections (spread by the kernel over the listener threads) and that no listener
 * thread has died and been restarted.
 */
export async function assertStillServing(balancer: Balancer, path: string, count = 4): Promise<void> {
  const request = `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`;
  const answers = await Promise.all(Array.from({ length: count }, () => rawExchange(balancer.port, request, { timeoutMs: 3_000 })));
  for (const { response } of answers) assert.equal(statusOf(response), 200, `a plain GET after the attack got ${JSON.stringify(response.slice(0, 300))}`);
  assert.deepEqual(
    balancer.listeners.map((thread) => thread.restarts),
    balancer.listeners.map(() => 0),
    'a listener thread died and was restarted',
  );
}
