/**
 * @module The HTTP/1.1 request parser of the client side: llhttp in request mode, strict,
 * through the thread's one wasm instance (llhttp.ts). It stops (pauses) after each
 * request, so that a request pipelined behind it is parsed only once the connection has
 * answered this one: a request behind a refusal is never even parsed.
 */
import { HeaderBlock } from './header-block.ts';
import { LLHTTP, LlhttpParser, type LlhttpHandler } from './llhttp.ts';

/** A parsed request head. */
export interface RequestHead {
  readonly method: string;
  readonly url: string;
  readonly versionMajor: number;
  readonly versionMinor: number;
  /** name, value, name, value, ... as sent (latin1). */
  readonly raw: string[];
  /** llhttp's verdict from the version and Connection header. */
  readonly keepAlive: boolean;
  /** llhttp saw `Connection: upgrade` with an `Upgrade` header (or CONNECT). */
  readonly upgrade: boolean;
}

/** What a parser reports, in order: `head`, `body`*, `complete`. */
export interface RequestEvents {
  onHead(head: RequestHead): void;
  onBody(chunk: Buffer): void;
  onComplete(): void;
}

export class RequestParser implements LlhttpHandler {
  readonly #events: RequestEvents;
  readonly #parser: LlhttpParser;
  readonly #headers: HeaderBlock;
  #url = '';
  /** Set by a callback that stopped llhttp on purpose (a head over the size limit). */
  #failure: string | null = null;

  constructor(events: RequestEvents, maxHeaderBytes: number) {
    this.#events = events;
    this.#headers = new HeaderBlock(maxHeaderBytes);
    this.#parser = new LlhttpParser(LLHTTP.REQUEST, this);
  }

  /** Parses `chunk`; returns llhttp's error number. After `LLHTTP.PAUSED` (a request
   * is complete), the bytes from `stoppedAt` on are the next request's. */
  execute(chunk: Buffer): number {
    return this.#parser.execute(chunk);
  }

  /** Where the last `execute` stopped, as an offset into its chunk. */
  get stoppedAt(): number {
    return this.#parser.stoppedAt;
  }

  resume(upgrade = false): void {
    this.#parser.resume(upgrade);
  }

  /** The input ended; returns llhttp's error number (non-zero when a request was cut off). */
  finish(): number {
    return this.#parser.finish();
  }

  /** The parser error code for `errno` (`HPE_HEADER_OVERFLOW`, `HPE_INVALID_METHOD`, ...). */
  errorCode(errno: number): string {
    return this.#failure ?? this.#parser.errnoName(errno);
  }

  destroy(): void {
    this.#parser.destroy();
  }

  // The callbacks below are llhttp's; a non-zero return stops it.

  messageBegin(): number {
    this.#url = '';
    this.#headers.reset();
    return 0;
  }

  url(bytes: Buffer): number {
    this.#url += bytes.toString('latin1');
    return this.#within(this.#headers.count(bytes.length));
  }

  status(): number {
    return 0;
  }

  headerField(bytes: Buffer): number {
    return this.#within(this.#headers.field(bytes));
  }

  headerValue(bytes: Buffer): number {
    return this.#within(this.#headers.value(bytes));
  }

  headersComplete(_statusCode: number, upgrade: boolean): number {
    const parser = this.#parser;
    this.#events.onHead({
      method: parser.method(),
      url: this.#url,
      versionMajor: parser.versionMajor(),
      versionMinor: parser.versionMinor(),
      raw: this.#headers.lines(),
      keepAlive: parser.shouldKeepAlive(),
      upgrade,
    });
    // Trailers of a chunked body, if any, are parsed (and limited) on their own.
    this.#headers.reset();
    return 0;
  }

  body(bytes: Buffer): number {
    this.#events.onBody(bytes);
    return 0;
  }

  messageComplete(): number {
    this.#events.onComplete();
    return LLHTTP.PAUSED;
  }

  /** 0 while the head is within its size limit; past it, llhttp is stopped with HPE_HEADER_OVERFLOW. */
  #within(ok: boolean): number {
    if (ok) return 0;
    this.#failure = 'HPE_HEADER_OVERFLOW';
    return -1;
  }
}
