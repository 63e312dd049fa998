/**
 * @module The listening sockets of one listener thread: several, all bound with
 * `reusePort` to the balancer's address, each handing what it accepts to the thread's
 * HTTP/1.1 server (front/front-server.ts).
 *
 * Why several: since libuv 1.45 a listening socket accepts one connection per turn of
 * the event loop (libuv #3696; it relies on level-triggered polling for the next). A
 * listener thread under load turns its loop every few tens of milliseconds, so a burst
 * of new clients waited in the kernel's accept queue for seconds: 1,000 clients against
 * one saturated thread left 200 of them unaccepted for over 5 s (`ss -lnt` Recv-Q
 * 204 → 69 in 5 s), which was the multi-second p99 of bench/README.md's 1,000-connection
 * runs. Each socket accepts one per turn, so N sockets accept up to N per turn; the kernel
 * spreads new connections over all sockets of all threads by hash, as it did over one
 * per thread. bench/README.md, "Levers measured for #9", lever 8, has the numbers.
 */
import { createServer, type Server, type Socket } from 'node:net';

/** Listening sockets per listener thread. */
export const ACCEPTORS_PER_THREAD = 64;

export interface AcceptorOptions {
  readonly host: string;
  /** 0: an ephemeral port, chosen by the first socket and shared by the rest. */
  readonly port: number;
  readonly backlog: number;
  readonly count?: number;
  /** Each accepted connection. */
  readonly onSocket: (socket: Socket) => void;
}

export interface Acceptors {
  readonly port: number;
  /** Stops accepting: every listening socket closes; accepted connections stay. */
  close(): void;
}

function listen(options: AcceptorOptions, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Half-open is the front's to handle (a client that stops sending mid-request is
    // gone); small responses go out at once.
    const server = createServer({ allowHalfOpen: true, noDelay: true }, options.onSocket);
    server.once('error', reject);
    server.listen({ host: options.host, port, reusePort: true, backlog: options.backlog }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Binds the sockets; rejects (closing those bound) when any cannot be bound. */
export async function listenAcceptors(options: AcceptorOptions): Promise<Acceptors> {
  const first = await listen(options, options.port);
  const port = (first.address() as { port: number }).port;
  const rest = await Promise.allSettled(Array.from({ length: (options.count ?? ACCEPTORS_PER_THREAD) - 1 }, () => listen(options, port)));
  const servers = [first, ...rest.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))];
  const close = (): void => {
    for (const server of servers) server.close();
  };
  const failed = rest.find((result) => result.status === 'rejected');
  if (failed) {
    close();
    throw failed.reason;
  }
  return { port, close };
}
