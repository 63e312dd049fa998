/**
 * @module TLS on a connection a listener thread accepted: the handshake (with its
 * certificate chosen by SNI, sni-contexts.ts), bounded by the client head timeout, then
 * the secure socket goes on to HTTP. ALPN offers `http/1.1` only. A socket that still has
 * bytes buffered in JavaScript (put back after a PROXY protocol header) is bridged as a
 * stream, since TLS over the raw handle would not see them.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { sameClientAs } from '../shared/client-address.ts';
import type { SniContexts } from '../tls/sni-contexts.ts';

export interface TlsTerminationOptions {
  readonly contexts: SniContexts;
  readonly handshakeMs: number;
  readonly onSecure: (socket: TLSSocket) => void;
}

/** A stream view of `socket` that starts with what is buffered in it. */
function bridge(socket: Socket): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.once('end', () => stream.push(null));
  socket.once('close', () => stream.destroy());
  return stream;
}

export function terminateTls(socket: Socket, { contexts, handshakeMs, onSecure }: TlsTerminationOptions): void {
  const tls = new TLSSocket(socket.readableLength > 0 ? bridge(socket) : socket, {
    isServer: true,
    secureContext: contexts.default,
    SNICallback: (servername, callback) => callback(null, contexts.contextFor(servername)),
    ALPNProtocols: ['http/1.1'],
  });
  sameClientAs(tls, socket);
  const timer = setTimeout(() => tls.destroy(), handshakeMs);
  tls.once('secure', () => {
    clearTimeout(timer);
    onSecure(tls);
  });
  // A failed handshake (a plain-HTTP client, a bad certificate request) ends the
  // connection; there is no HTTP to answer on.
  tls.once('error', () => {
    clearTimeout(timer);
    tls.destroy();
  });
}
