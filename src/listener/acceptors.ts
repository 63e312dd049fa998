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
 *
 * At a takeover (src/takeover/) the sockets pass to the new process as open descriptors:
 * it adopts every one it inherited (closing any would reset the connections queued on
 * it) and binds more beside them when it wants more than it got.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { listeningFd } from '../takeover/listening-fd.ts';

/** Listening sockets per listener thread. */
export const ACCEPTORS_PER_THREAD = 64;

export interface AcceptorOptions {
  readonly host: string;
  /** 0: an ephemeral port, chosen by the first socket and shared by the rest. */
  readonly port: number;
  readonly backlog: number;
  /** Listening sockets inherited from the process this one took over from: adopted, all of
   * them, before any is bound anew. */
  readonly inheritedFds?: readonly number[];
  /** Each accepted connection. */
  readonly onSocket: (socket: Socket) => void;
}

export interface Acceptors {
  readonly port: number;
  /** The descriptors of the listening sockets, for a takeover to hand over. */
  readonly fds: readonly number[];
  /** Stops accepting: every listening socket closes; accepted connections stay. */
  close(): void;
}

/** Where one socket listens: bound anew on the port, or an inherited descriptor adopted. */
type Binding = { readonly port: number } | { readonly fd: number };

function listen(options: AcceptorOptions, binding: Binding): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Half-open is the front's to handle (a client that stops sending mid-request is
    // gone); small responses go out at once.
    const server = createServer({ allowHalfOpen: true, noDelay: true }, options.onSocket);
    server.once('error', reject);
    const where = 'fd' in binding ? { fd: binding.fd } : { host: options.host, port: binding.port, reusePort: true };
    server.listen({ ...where, backlog: options.backlog }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * Adopts the inherited sockets and binds the rest; rejects (closing those bound) when any
 * cannot be bound. An inherited socket that is not listening on `options.port` (when that
 * is not 0) is refused: the takeover handed over the wrong descriptor.
 */
export async function listenAcceptors(options: AcceptorOptions): Promise<Acceptors> {
  const inherited = options.inheritedFds ?? [];
  const count = ACCEPTORS_PER_THREAD;
  const [firstBinding, ...adopted]: Binding[] = inherited.length > 0 ? inherited.map((fd) => ({ fd })) : [{ port: options.port }];
  const first = await listen(options, firstBinding as Binding);
  const port = (first.address() as { port: number }).port;
  const fresh = Array.from({ length: Math.max(0, count - 1 - adopted.length) }, (): Binding => ({ port }));
  const rest = await Promise.allSettled([...adopted, ...fresh].map((binding) => listen(options, binding)));
  const servers = [first, ...rest.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))];
  const close = (): void => {
    for (const server of servers) server.close();
  };
  const failed = rest.find((result) => result.status === 'rejected');
  const strayPort = servers.map((server) => (server.address() as { port: number }).port).find((bound) => bound !== port || (options.port !== 0 && bound !== options.port));
  if (failed || strayPort !== undefined) {
    close();
    throw failed ? failed.reason : new Error(`an inherited listening socket is on port ${strayPort}, not ${options.port || port}`);
  }
  return { port, fds: servers.map(listeningFd), close };
}

