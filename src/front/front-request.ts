/**
 * @module One client request as the relay reads it: the subset of node:http's
 * IncomingMessage the listener uses (method, settable url, version, raw and lower-cased
 * headers, socket, complete), with the body as a separate Readable that exists only
 * when the request has one, so that a GET costs no stream at all.
 */
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { RequestHead } from '../http1/request-parser.ts';

/** Lower-cased headers, repeated ones joined as node:http joins them. */
export interface FrontHeaders {
  host?: string;
  cookie?: string;
  'content-length'?: string;
  'transfer-encoding'?: string;
  expect?: string;
  'set-cookie'?: string[];
  [name: string]: string | string[] | undefined;
}

/** Headers of which a repeat is dropped (the first one counts), as in node:http. */
const FIRST_WINS = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after',
  'server', 'user-agent',
]);

/** What a request needs from its connection: flow control of the body and its idle timer. */
export interface BodySource {
  /** The body's reader wants more: read from the socket again. */
  readMore(): void;
  /** Arms (ms > 0) or disarms (0) the body-idle timer; `onTimeout` runs when it fires. */
  setBodyTimeout(ms: number, onTimeout: (() => void) | null): void;
}

/** The body of a request: chunks pushed by the connection as llhttp parses them. */
class RequestBody extends Readable {
  readonly #source: BodySource;
  constructor(source: BodySource) {
    super();
    this.#source = source;
    // A body nobody reads (its request was refused, say) may still be aborted by a
    // client that leaves: that must not become an uncaught error of the thread.
    this.on('error', () => {});
  }
  override _read(): void {
    this.#source.readMore();
  }
}

export class FrontRequest {
  readonly method: string;
  /** The target; request-guard.ts turns an absolute-form target into its path here. */
  url: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  /** The Upgrade token this request asks for, when it is one the balancer relays
   * (--allow-upgrade; `websocket` always); null otherwise (any Upgrade header is then
   * dropped as hop-by-hop and the request relayed as plain HTTP). */
  upgrade: string | null = null;
  readonly rawHeaders: string[];
  readonly socket: Socket;
  /** The whole request (head and body) has been read. */
  complete = false;
  /** An HTTP/2 stream's request (h2/h2-request.ts), not one parsed from HTTP/1.x. */
  overH2 = false;
  readonly #source: BodySource;
  #headers: FrontHeaders | null = null;
  #body: RequestBody | null = null;

  constructor(head: RequestHead, socket: Socket, source: BodySource) {
    this.method = head.method;
    this.url = head.url;
    this.httpVersionMajor = head.versionMajor;
    this.httpVersionMinor = head.versionMinor;
    this.rawHeaders = head.raw;
    this.socket = socket;
    this.#source = source;
  }

  get httpVersion(): string {
    return `${this.httpVersionMajor}.${this.httpVersionMinor}`;
  }

  /** Built once, on first use (the connection and the request guard read it); the relay itself works from `rawHeaders`. */
  get headers(): FrontHeaders {
    return (this.#headers ??= headersOf(this.rawHeaders));
  }

  /** The body as a stream (an ended one when there is none). */
  get body(): Readable {
    if (this.#body === null) {
      this.#body = new RequestBody(this.#source);
      if (this.complete) this.#body.push(null);
    }
    return this.#body;
  }

  /** Bounds the silence between two chunks of the body (0: unbounded); `onTimeout` runs
   * when the body stalls that long. */
  setTimeout(ms: number, onTimeout?: () => void): void {
    this.#source.setBodyTimeout(ms, onTimeout ?? null);
  }

  /** From the connection: a chunk of the body. Returns false when the reader is behind. */
  pushBody(chunk: Buffer): boolean {
    return this.body.push(chunk);
  }

  /** From the connection: the body has ended. */
  endBody(): void {
    this.complete = true;
    this.#body?.push(null);
  }

  /** From the connection: the client went away before the body ended. */
  abortBody(): void {
    if (this.complete || this.#body === null || this.#body.destroyed) return;
    this.#body.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  }
}

function headersOf(raw: readonly string[]): FrontHeaders {
  const headers: FrontHeaders = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const previous = headers[name];
    if (previous === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (name === 'set-cookie') (previous as string[]).push(value);
    else if (FIRST_WINS.has(name)) continue;
    else headers[name] = `${previous as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return headers;
}
