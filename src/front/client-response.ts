/**
 * @module What the relay writes a response to, whatever the client speaks: the HTTP/1.1
 * connection's FrontResponse (front-response.ts) or one HTTP/2 stream's (h2/h2-response.ts).
 * Events: 'drain' after a write returned false, 'close' once the response is done with
 * (finished, or cut because the client went away).
 */
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { FrontRequest } from './front-request.ts';

/** Headers as writeHead takes them: a flat list (name, value, ...) or an object. */
export type OutgoingHeaders = readonly string[] | Readonly<Record<string, string | number>>;

export interface ClientResponse extends EventEmitter {
  readonly req: FrontRequest;
  readonly statusCode: number;
  /** Whether the connection may serve another request after this one (HTTP/1.1). */
  shouldKeepAlive: boolean;
  readonly headersSent: boolean;
  /** Cut, or its client is gone: nothing more reaches the client. */
  readonly destroyed: boolean;
  writeHead(statusCode: number, messageOrHeaders?: string | OutgoingHeaders, maybeHeaders?: OutgoingHeaders): this;
  /** A chunk of the body; false when the client is behind ('drain' follows). */
  write(chunk: Buffer | string): boolean;
  /** Ends the response; `trailers` (name, value, ...) follow the body where the client takes them. */
  end(chunk?: Buffer | string, trailers?: readonly string[]): void;
  /** An interim response (103 Early Hints) ahead of the final one. */
  writeInterim(statusCode: number, message: string, headers: readonly string[]): void;
  /** The backend switched protocols (101): join the client to `upstream` (HTTP/1.1 only). */
  switchProtocols(message: string, headers: readonly string[], upstream: Socket, upstreamHead: Buffer, onClose: () => void): void;
  /** Cuts the response: one that cannot be completed must not look complete. */
  destroy(error?: Error): void;
}
