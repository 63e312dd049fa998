/**
 * @module Client connections the balancer has answered with `connection: close`. Node's
 * parser may already hold requests the client pipelined behind the refused one; those
 * must not be processed (RFC 9112 section 9.6), or a refusal would wave the next request
 * through.
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
