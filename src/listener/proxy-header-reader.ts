/**
 * @module --accept-proxy-protocol: each new connection must begin with a PROXY protocol
 * header (proxy-protocol.ts), read before anything else, within the client head timeout.
 * The client it names is recorded for the connection (client-address.ts), the bytes
 * after it are put back, and the connection goes on to HTTP. A connection without a valid
 * header is closed without an answer: it did not come through the balancer in front,
 * and the bytes it sent are not HTTP to us.
 */
import type { Socket } from 'node:net';
import { recordProxiedClient } from '../shared/client-address.ts';
import { parseProxyHeader } from '../shared/proxy-protocol.ts';

export interface ProxyHeaderOptions {
  readonly timeoutMs: number;
  /** The connection, its header read. */
  readonly onReady: (socket: Socket) => void;
  /** The connection was closed for want of a valid header. */
  readonly onRefused: (socket: Socket, reason: string) => void;
}

export function readProxyHeader(socket: Socket, { timeoutMs, onReady, onRefused }: ProxyHeaderOptions): void {
  let received: Buffer = Buffer.alloc(0);
  const done = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
  };
  const refuse = (reason: string): void => {
    done();
    socket.destroy();
    onRefused(socket, reason);
  };
  const onData = (chunk: Buffer): void => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const header = parseProxyHeader(received);
    if (header.kind === 'incomplete') return;
    if (header.kind === 'invalid') return refuse(header.reason);
    done();
    // Paused while the bytes after the header are put back and the HTTP side attaches:
    // nothing is emitted to nobody. Resumed after, the put-back bytes flow first (in this
    // tick), before the socket reads anything new.
    socket.pause();
    if (header.client !== null) recordProxiedClient(socket, header.client);
    if (received.length > header.length) socket.unshift(received.subarray(header.length));
    onReady(socket);
    socket.resume();
  };
  const onEnd = (): void => refuse('the connection ended before its PROXY protocol header');
  const onError = (): void => refuse('the connection failed before its PROXY protocol header');
  const timer = setTimeout(() => refuse(`no PROXY protocol header within ${timeoutMs} ms`), timeoutMs);
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('error', onError);
}
