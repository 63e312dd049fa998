/**
 * @module Client connections the balancer has answered with `connection: close`,
 * including refusals written on the raw socket (client-errors.ts), which the connection
 * (front/client-connection.ts) does not see written. What the client pipelined behind the
 * refused request must not be processed (RFC 9112 section 9.6), or a refusal would wave
 * the next request through: the connection reads no request from a socket marked here.
 */
import type { Socket } from 'node:net';

const closing = new WeakSet<Socket>();

export function markClosing(socket: Socket): void {
  closing.add(socket);
}

/** Whether requests arriving on `socket` must be ignored: it is closing or gone. */
export function isClosing(socket: Socket): boolean {
  return socket.destroyed || closing.has(socket);
}
