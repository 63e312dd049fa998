/**
 * @module Who the client of a connection is: the TCP peer, or, behind an L4 balancer
 * speaking the PROXY protocol (--accept-proxy-protocol), the client its header named.
 * X-Forwarded-For, hashing by `ip` and the access log all ask here.
 */
/** A client as a PROXY protocol header names it. */
export interface ProxiedAddress {
  readonly address: string;
  readonly port: number;
}

/** A connection: anything with the peer address a socket has. */
export interface Peer {
  readonly remoteAddress?: string | undefined;
}

const proxied = new WeakMap<Peer, ProxiedAddress>();

export function recordProxiedClient(socket: Peer, client: ProxiedAddress): void {
  proxied.set(socket, client);
}

export function clientAddress(socket: Peer): string | null {
  return proxied.get(socket)?.address ?? socket.remoteAddress ?? null;
}
