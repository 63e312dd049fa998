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
import { readPrefix } from './connection-prefix.ts';

export interface ProxyHeaderOptions {
  readonly timeoutMs: number;
  /** The connection, its header read. */
  readonly onReady: (socket: Socket) => void;
  /** The connection was closed for want of a valid header. */
  readonly onRefused: (socket: Socket, reason: string) => void;
}

export function readProxyHeader(socket: Socket, { timeoutMs, onReady, onRefused }: ProxyHeaderOptions): void {
  const refuse = (reason: string): void => {
    socket.destroy();
    onRefused(socket, reason);
  };
  readPrefix(socket, {
    timeoutMs,
    decide: (received) => {
      const header = parseProxyHeader(received);
      if (header.kind === 'incomplete') return 'more';
      if (header.kind === 'invalid') {
        refuse(header.reason);
        return 'stopped';
      }
      if (header.client !== null) recordProxiedClient(socket, header.client);
      return { consumed: header.length, then: onReady };
    },
    onTimeout: () => refuse(`no PROXY protocol header within ${timeoutMs} ms`),
    onEnd: () => refuse('the connection ended before its PROXY protocol header'),
    onError: () => refuse('the connection failed before its PROXY protocol header'),
  });
}
