/**
 * @module Who the client of a connection is: the TCP peer, or, behind an L4 balancer
 * speaking the PROXY protocol (--accept-proxy-protocol), the client its header named.
 * X-Forwarded-For, hashing by `ip` and the access log all ask here.
 */
import type { Socket } from 'node:net';

/** A client as a PROXY protocol header names it. */
export interface ProxiedAddress {
  readonly address: string;
  readonly port: number;
}

const proxied = new WeakMap<Socket, ProxiedAddress>();

export function recordProxiedClient(socket: Socket, client: ProxiedAddress): void {
  proxied.set(socket, client);
}

export function clientAddress(socket: Socket): string | null {
  return proxied.get(socket)?.address ?? socket.remoteAddress ?? null;
}
