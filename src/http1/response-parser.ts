/**
 * @module The HTTP/1.1 response parser of the upstream side: llhttp in response mode,
 * through the thread's one wasm instance (llhttp.ts). No lenient flag is ever
 * set: a response llhttp refuses is a malformed response.
 */
import { HeaderBlock } from './header-block.ts';
import { LLHTTP, LlhttpParser, type LlhttpHandler } from './llhttp.ts';

/**
 * What a parser reports, in order: per final response `begin`, `headers`, `body`*,
 * `complete`. Interim (1xx) responses are parsed and passed over: the request was sent
 * without `Expect` and without `Upgrade`, so a 100 or a 103 only says "wait", and a 101
 * is refused as a malformed response.
 */
export interface ResponseEvents {
  /** A response begins: false when none is expected (bytes nobody asked for). */
  onBegin(): boolean;
  /** Whether the request asked to switch protocols (Upgrade): a 101 is its answer then. */
  upgrading?(): boolean;
  /** The 101 to an upgrade request: what follows its head is no longer HTTP. */
  onSwitch?(statusMessage: string, raw: string[]): void;
  /** A 103 Early Hints before the final response (other interim responses are passed over). */
  onEarlyHints?(statusMessage: string, raw: string[]): void;
  /** `raw`: name, value, name, value, ... as sent. Returns true when the response has no
   * body whatever its headers say (a response to HEAD). */
  onHeaders(statusCode: number, statusMessage: string, raw: string[], keepAlive: boolean): boolean;
  onBody(chunk: Buffer): void;
  /** `trailers`: the trailer fields after a chunked body (name, value, ...), usually none. */
  onComplete(trailers: string[]): void;
}

/** A response llhttp refused; `code` is llhttp's name (`HPE_INVALID_CONSTANT`, ...). */
export class ResponseParseError extends Error {
  readonly code: string;
  constructor(code: string, reason: string) {
    super(`malformed response: ${reason}`);
    this.code = code;
  }
}

export class ResponseParser implements LlhttpHandler {
  readonly #events: ResponseEvents;
  readonly #maxHeaderBytes: number;
  readonly #parser: LlhttpParser;
  readonly #headers: HeaderBlock;
  #statusMessage = '';
  #failure: ResponseParseError | null = null;
  /** A 101 switched the connection to another protocol: no more HTTP on it. */
  #switched = false;
  /** The response being parsed is an interim (1xx) one. */
  #interim = false;

  constructor(events: ResponseEvents, maxHeaderBytes: number) {
    this.#events = events;
    this.#maxHeaderBytes = maxHeaderBytes;
    this.#headers = new HeaderBlock(maxHeaderBytes);
    this.#parser = new LlhttpParser(LLHTTP.RESPONSE, this);
  }

  /** After an `execute` that met a 101 (onSwitch): where in its chunk the new protocol's
   * bytes begin. null otherwise. */
  switchedAt: number | null = null;

  /** Parses bytes from the socket; throws ResponseParseError when they are not HTTP/1.1. */
  execute(chunk: Buffer): void {
    const errno = this.#parser.execute(chunk);
    if (errno === LLHTTP.PAUSED_UPGRADE && this.#switched) {
      this.switchedAt = this.#parser.stoppedAt;
      return;
    }
    if (errno !== LLHTTP.OK) this.#fail(errno);
  }

  /** The connection ended: completes a close-delimited body, or throws if a response was cut off. */
  finish(): void {
    const errno = this.#parser.finish();
    if (errno !== LLHTTP.OK) this.#fail(errno);
  }

  destroy(): void {
    this.#parser.destroy();
  }

  #fail(errno: number): never {
    if (this.#failure !== null) throw this.#failure;
    const name = this.#parser.errnoName(errno);
    throw new ResponseParseError(name, this.#parser.errorReason() || name);
  }

  // The callbacks below are llhttp's; a non-zero return stops it with an error.

  messageBegin(): number {
    if (!this.#interim && !this.#events.onBegin()) {
      this.#failure = new ResponseParseError('HPE_UNSOLICITED', 'bytes from the backend with no request outstanding');
      return -1;
    }
    this.#interim = false;
    this.#statusMessage = '';
    this.#headers.reset();
    return 0;
  }

  url(): number {
    return 0;
  }

  status(bytes: Buffer): number {
    this.#statusMessage += bytes.toString('latin1');
    return this.#within(this.#headers.count(bytes.length));
  }

  headerField(bytes: Buffer): number {
    return this.#within(this.#headers.field(bytes));
  }

  headerValue(bytes: Buffer): number {
    return this.#within(this.#headers.value(bytes));
  }

  /** 0: a body may follow; 1: none (1xx, or the events say so, as for HEAD). */
  headersComplete(statusCode: number, _upgrade: boolean, keepAlive: boolean): number {
    const raw = this.#headers.lines();
    if (statusCode === 101) {
      if (this.#events.upgrading?.() !== true) {
        this.#failure = new ResponseParseError('HPE_UNEXPECTED_UPGRADE', '101 Switching Protocols to a request that asked for no upgrade');
        return -1;
      }
      this.#switched = true;
      this.#events.onSwitch?.(this.#statusMessage, raw);
      // No body, and llhttp stops after this head (PAUSED_UPGRADE).
      return 2;
    }
    if (statusCode < 200) {
      this.#interim = true;
      if (statusCode === 103) this.#events.onEarlyHints?.(this.#statusMessage, raw);
      return 1;
    }
    const noBody = this.#events.onHeaders(statusCode, this.#statusMessage, raw, keepAlive);
    // Trailers of a chunked body, if any, are parsed (and limited) on their own, into a
    // new list: the array handed on above stays as it was.
    this.#headers.reset();
    return noBody ? 1 : 0;
  }

  body(bytes: Buffer): number {
    this.#events.onBody(bytes);
    return 0;
  }

  messageComplete(): number {
    // An interim response leaves the final one to come: parsing goes on, unannounced. A
    // switch is not a completed response: the connection now carries another protocol.
    if (!this.#interim && !this.#switched) this.#events.onComplete(this.#headers.lines());
    return 0;
  }

  /** 0 while the head is within its size limit; past it, llhttp is stopped with HPE_HEADER_OVERFLOW. */
  #within(ok: boolean): number {
    if (ok) return 0;
    this.#failure = new ResponseParseError('HPE_HEADER_OVERFLOW', `response headers exceed ${this.#maxHeaderBytes} bytes`);
    return -1;
  }
}
