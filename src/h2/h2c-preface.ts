/**
 * @module --h2c: HTTP/2 over a plain connection, by prior knowledge (RFC 9113 section
 * 3.3). Such a client opens with the connection preface `PRI * HTTP/2.0`; anything else
 * is HTTP/1.1. The first bytes are read, compared, and put back for whichever side serves
 * the connection. (The Upgrade: h2c dance of RFC 7540 is never honoured: it was dropped
 * from RFC 9113, and relayed it is a request smuggling vector.)
 */
import type { Socket } from 'node:net';
import { readPrefix } from '../listener/connection-prefix.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface PrefaceRoutes {
  /** The first bytes must arrive within this (--client-header-timeout), else the connection is closed. */
  readonly timeoutMs: number;
  readonly onH2: (socket: Socket) => void;
  readonly onH1: (socket: Socket) => void;
}

/** Routes `socket` by its first bytes: the HTTP/2 preface (or a start of it), or not. */
export function routeByPreface(socket: Socket, { timeoutMs, onH2, onH1 }: PrefaceRoutes): void {
  readPrefix(socket, {
    timeoutMs,
    decide: (received) => {
      const compared = Math.min(received.length, PREFACE.length);
      const h2 = received.subarray(0, compared).equals(PREFACE.subarray(0, compared));
      // A start of the preface: wait for the rest (both sides' head timeouts still apply
      // after routing; a client stuck here holds only its own connection).
      if (h2 && compared < PREFACE.length) return 'more';
      return { consumed: 0, then: h2 ? onH2 : onH1 };
    },
    onTimeout: () => socket.destroy(),
    // Closed before a byte: let the HTTP/1.1 side count and close it as it does any other.
    onEnd: () => onH1(socket),
    onError: () => socket.destroy(),
  });
}
