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
  readonly remotePort?: number | undefined;
}

const proxied = new WeakMap<Peer, ProxiedAddress>();
/** A connection layered over another (TLS over TCP): the inner one knows the client. */
const inner = new WeakMap<Peer, Peer>();

export function sameClientAs(outer: Peer, under: Peer): void {
  inner.set(outer, under);
}

export function recordProxiedClient(socket: Peer, client: ProxiedAddress): void {
  proxied.set(socket, client);
}

/** The TCP connection under `socket` (itself when nothing is layered on it). */
function transport(socket: Peer): Peer {
  let peer = socket;
  for (let under = inner.get(peer); under !== undefined; under = inner.get(peer)) peer = under;
  return peer;
}

export function clientAddress(socket: Peer): string | null {
  const peer = transport(socket);
  return proxied.get(peer)?.address ?? peer.remoteAddress ?? null;
}

/** The client's port, as clientAddress's address. */
export function clientPort(socket: Peer): number {
  const peer = transport(socket);
  return proxied.get(peer)?.port ?? peer.remotePort ?? 0;
}
