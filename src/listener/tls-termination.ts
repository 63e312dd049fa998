/**
 * @module TLS on a connection a listener thread accepted: the handshake (with its
 * certificate chosen by SNI, sni-contexts.ts), bounded by the client head timeout, then
 * the secure socket goes on to HTTP. ALPN offers `h2` (preferred) and `http/1.1`; the
 * caller routes by `socket.alpnProtocol`. A socket that still has
 * bytes buffered in JavaScript (put back after a PROXY protocol header) is bridged as a
 * stream, since TLS over the raw handle would not see them.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { sameClientAs } from '../shared/client-address.ts';
import { transportOf } from './socket-bridge.ts';
import type { SniContexts } from '../tls/sni-contexts.ts';

export interface TlsTerminationOptions {
  readonly contexts: SniContexts;
  readonly handshakeMs: number;
  readonly onSecure: (socket: TLSSocket) => void;
}

export function terminateTls(socket: Socket, { contexts, handshakeMs, onSecure }: TlsTerminationOptions): void {
  const tls = new TLSSocket(transportOf(socket), {
    isServer: true,
    secureContext: contexts.default,
    SNICallback: (servername, callback) => callback(null, contexts.contextFor(servername)),
    ALPNProtocols: ['h2', 'http/1.1'],
  });
  sameClientAs(tls, socket);
  const timer = setTimeout(() => tls.destroy(), handshakeMs);
  tls.once('secure', () => {
    clearTimeout(timer);
    // What tls.Server does for the sockets it makes: the handshake is over. Left true,
    // node:http2 (which reads this) would wait for a 'secureConnect' a server socket never
    // emits, and never read the client's first frames.
    Object.assign(tls, { secureConnecting: false });
    onSecure(tls);
  });
  // A failed handshake (a plain-HTTP client, a bad certificate request) ends the
  // connection; there is no HTTP to answer on.
  tls.once('error', () => {
    clearTimeout(timer);
    tls.destroy();
  });
}
