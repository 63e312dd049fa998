/**
 * @module The first bytes of a new connection, read before HTTP starts: a PROXY protocol
 * header (proxy-header-reader.ts) or the HTTP/2 preface (h2/h2c-preface.ts). Bytes are
 * gathered until `decide` can tell, within `timeoutMs`; then what it did not consume is
 * put back and the socket handed on. The socket is paused meanwhile, so those bytes flow
 * first (in this tick) to whoever attaches, before anything new is read.
 */
import type { Socket } from 'node:net';

/** What the bytes so far say: wait for more, stop (the socket was dealt with), or go on
 * with the first `consumed` bytes taken. */
export type PrefixDecision = 'more' | 'stopped' | { readonly consumed: number; readonly then: (socket: Socket) => void };

export interface PrefixReading {
  readonly timeoutMs: number;
  readonly decide: (received: Buffer) => PrefixDecision;
  readonly onTimeout: () => void;
  /** The client ended or failed before `decide` went on. */
  readonly onEnd: () => void;
  readonly onError: () => void;
}

export function readPrefix(socket: Socket, { timeoutMs, decide, onTimeout, onEnd, onError }: PrefixReading): void {
  let received: Buffer = Buffer.alloc(0);
  const done = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', ended);
    socket.off('error', failed);
  };
  const onData = (chunk: Buffer): void => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const decision = decide(received);
    if (decision === 'more') return;
    done();
    if (decision === 'stopped') return;
    socket.pause();
    if (received.length > decision.consumed) socket.unshift(received.subarray(decision.consumed));
    decision.then(socket);
    socket.resume();
  };
  const ended = (): void => {
    done();
    onEnd();
  };
  const failed = (): void => {
    done();
    onError();
  };
  const timer = setTimeout(() => {
    done();
    onTimeout();
  }, timeoutMs);
  socket.on('data', onData);
  socket.once('end', ended);
  socket.once('error', failed);
}
