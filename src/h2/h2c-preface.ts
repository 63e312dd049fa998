/**
 * @module --h2c: HTTP/2 over a plain connection, by prior knowledge (RFC 9113 section
 * 3.3). Such a client opens with the connection preface `PRI * HTTP/2.0`; anything else
 * is HTTP/1.1. The first bytes are read, compared, and put back for whichever side serves
 * the connection. (The Upgrade: h2c dance of RFC 7540 is never honoured: it was dropped
 * from RFC 9113, and relayed it is a request smuggling vector.)
 */
import type { Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface PrefaceRoutes {
  /** The first bytes must arrive within this (--client-header-timeout), else the connection is closed. */
  readonly timeoutMs: number;
  readonly onH2: (socket: Socket) => void;
  readonly onH1: (socket: Socket) => void;
}

/** Routes `socket` by its first bytes: the HTTP/2 preface (or a start of it), or not. */
export function routeByPreface(socket: Socket, { timeoutMs, onH2, onH1 }: PrefaceRoutes): void {
  let received: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  const done = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
  };
  const onData = (chunk: Buffer): void => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const compared = Math.min(received.length, PREFACE.length);
    const h2 = received.subarray(0, compared).equals(PREFACE.subarray(0, compared));
    // A start of the preface: wait for the rest (both sides' head timeouts still apply
    // after routing; a client stuck here holds only its own connection).
    if (h2 && compared < PREFACE.length) return;
    done();
    // Paused while the bytes are put back and the server attaches (as in
    // listener/proxy-header-reader.ts).
    socket.pause();
    socket.unshift(received);
    (h2 ? onH2 : onH1)(socket);
    socket.resume();
  };
  // Closed before a byte: let the HTTP/1.1 side count and close it as it does any other.
  const onEnd = (): void => {
    done();
    onH1(socket);
  };
  const onError = (): void => {
    done();
    socket.destroy();
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('error', onError);
}
