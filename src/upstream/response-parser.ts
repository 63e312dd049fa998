/**
 * @module The HTTP/1.1 response parser of the upstream side: llhttp, the parser inside
 * Node and undici, in the WebAssembly build that undici ships (pinned with undici in
 * package.json and package-lock.json; test/upstream/response-parser.test.ts covers it).
 * No lenient flag is ever set: a response llhttp refuses is a malformed response.
 *
 * One wasm instance per thread, shared by every connection's parser: llhttp's callbacks
 * are imports of the instance, so `execute` records which parser and which input buffer
 * are current, and the callbacks find them there. The bytes are copied once into wasm
 * memory; header names and values are decoded from our own chunk (`latin1`, as on the
 * wire), never from wasm memory, which may move when it grows.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The part of the WebAssembly API used here (TypeScript declares it only with the DOM library). */
interface WebAssemblyApi {
  Module: new (bytes: Buffer) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const { WebAssembly } = globalThis as unknown as { WebAssembly: WebAssemblyApi };

/** llhttp's error numbers that are not failures. */
const OK = 0;
const PAUSED = 21;
const RESPONSE = 2;

interface Llhttp {
  readonly memory: { readonly buffer: ArrayBuffer };
  llhttp_alloc(type: number): number;
  llhttp_free(parser: number): void;
  llhttp_execute(parser: number, data: number, length: number): number;
  llhttp_finish(parser: number): number;
  llhttp_resume(parser: number): void;
  llhttp_get_errno(parser: number): number;
  llhttp_get_error_reason(parser: number): number;
  llhttp_errno_name(errno: number): number;
  malloc(bytes: number): number;
  free(pointer: number): void;
}

/**
 * What a parser reports, in order: per final response `begin`, `headers`, `body`*,
 * `complete`. Interim (1xx) responses are parsed and passed over: the request was sent
 * without `Expect` and without `Upgrade`, so a 100 or a 103 only says "wait", and a 101
 * is refused as a malformed response.
 */
export interface ResponseEvents {
  /** A response begins: false when none is expected (bytes nobody asked for). */
  onBegin(): boolean;
  /** `raw`: name, value, name, value, ... as sent. Returns true when the response has no
   * body whatever its headers say (a response to HEAD). */
  onHeaders(statusCode: number, statusMessage: string, raw: string[], keepAlive: boolean): boolean;
  onBody(chunk: Buffer): void;
  onComplete(): void;
}

/** A response llhttp refused; `code` is llhttp's name (`HPE_INVALID_CONSTANT`, ...). */
export class ResponseParseError extends Error {
  readonly code: string;
  constructor(code: string, reason: string) {
    super(`malformed response: ${reason}`);
    this.code = code;
  }
}

let llhttp: Llhttp | null = null;
let current: ResponseParser | null = null;
/** The chunk being parsed, and where its copy starts in wasm memory. */
let input: Buffer = Buffer.alloc(0);
let inputAt = 0;
let scratch = 0;
let scratchBytes = 0;

/** A view of our copy of the bytes llhttp points at (`at` is an address in wasm memory). */
function slice(at: number, length: number): Buffer {
  const start = at - inputAt;
  return input.subarray(start, start + length);
}

function instantiate(): Llhttp {
  let module: object;
  try {
    module = new WebAssembly.Module(require('undici/lib/llhttp/llhttp_simd-wasm.js') as Buffer);
  } catch {
    // A CPU without wasm SIMD: the plain build of the same parser.
    module = new WebAssembly.Module(require('undici/lib/llhttp/llhttp-wasm.js') as Buffer);
  }
  const instance = new WebAssembly.Instance(module, {
    env: {
      wasm_on_url: () => 0,
      wasm_on_message_begin: () => (current as ResponseParser).messageBegin(),
      wasm_on_status: (_p: number, at: number, length: number) => (current as ResponseParser).status(slice(at, length)),
      wasm_on_header_field: (_p: number, at: number, length: number) => (current as ResponseParser).headerField(slice(at, length)),
      wasm_on_header_value: (_p: number, at: number, length: number) => (current as ResponseParser).headerValue(slice(at, length)),
      wasm_on_headers_complete: (_p: number, statusCode: number, _upgrade: number, keepAlive: number) =>
        (current as ResponseParser).headersComplete(statusCode, keepAlive === 1),
      wasm_on_body: (_p: number, at: number, length: number) => (current as ResponseParser).body(slice(at, length)),
      wasm_on_message_complete: () => (current as ResponseParser).messageComplete(),
    },
  });
  return instance.exports as unknown as Llhttp;
}

function cString(wasm: Llhttp, pointer: number): string {
  if (pointer === 0) return '';
  const bytes = new Uint8Array(wasm.memory.buffer, pointer);
  return Buffer.from(bytes.subarray(0, bytes.indexOf(0))).toString('latin1');
}

export class ResponseParser {
  readonly #events: ResponseEvents;
  readonly #maxHeaderBytes: number;
  #pointer: number;
  #statusMessage = '';
  #raw: string[] = [];
  #headerBytes = 0;
  /** The next header callback continues the last field (true) or value (false). */
  #inField = false;
  #inValue = false;
  #failure: ResponseParseError | null = null;
  /** The response being parsed is an interim (1xx) one. */
  #interim = false;
  /** destroy() was called from inside a callback: free once llhttp has returned. */
  #freeAfterExecute = false;

  constructor(events: ResponseEvents, maxHeaderBytes: number) {
    llhttp ??= instantiate();
    this.#events = events;
    this.#maxHeaderBytes = maxHeaderBytes;
    this.#pointer = llhttp.llhttp_alloc(RESPONSE);
  }

  /** Parses bytes from the socket; throws ResponseParseError when they are not HTTP/1.1. */
  execute(chunk: Buffer): void {
    const wasm = llhttp as Llhttp;
    if (chunk.length > scratchBytes) {
      if (scratch !== 0) wasm.free(scratch);
      scratchBytes = Math.ceil(chunk.length / 4096) * 4096;
      scratch = wasm.malloc(scratchBytes);
    }
    new Uint8Array(wasm.memory.buffer, scratch, chunk.length).set(chunk);
    current = this;
    input = chunk;
    inputAt = scratch;
    let errno: number;
    try {
      errno = wasm.llhttp_execute(this.#pointer, scratch, chunk.length);
    } finally {
      current = null;
      if (this.#freeAfterExecute) this.destroy();
    }
    if (errno !== OK) this.#fail(errno);
  }

  /** The connection ended: completes a close-delimited body, or throws if a response was cut off. */
  finish(): void {
    current = this;
    let errno: number;
    try {
      errno = (llhttp as Llhttp).llhttp_finish(this.#pointer);
    } finally {
      current = null;
    }
    if (errno !== OK) this.#fail(errno);
  }

  destroy(): void {
    if (this.#pointer === 0) return;
    if (current === this) {
      this.#freeAfterExecute = true;
      return;
    }
    (llhttp as Llhttp).llhttp_free(this.#pointer);
    this.#pointer = 0;
  }

  #fail(errno: number): never {
    const wasm = llhttp as Llhttp;
    if (this.#failure !== null) throw this.#failure;
    const name = errno === PAUSED ? 'HPE_PAUSED' : cString(wasm, wasm.llhttp_errno_name(errno));
    throw new ResponseParseError(name, cString(wasm, wasm.llhttp_get_error_reason(this.#pointer)) || name);
  }

  // The callbacks below are llhttp's; a non-zero return stops it with an error.

  messageBegin(): number {
    if (!this.#interim && !this.#events.onBegin()) {
      this.#failure = new ResponseParseError('HPE_UNSOLICITED', 'bytes from the backend with no request outstanding');
      return -1;
    }
    this.#interim = false;
    this.#statusMessage = '';
    this.#raw = [];
    this.#headerBytes = 0;
    this.#inField = false;
    this.#inValue = false;
    return 0;
  }

  status(bytes: Buffer): number {
    this.#statusMessage += bytes.toString('latin1');
    return this.#count(bytes.length);
  }

  headerField(bytes: Buffer): number {
    const raw = this.#raw;
    if (this.#inField) raw[raw.length - 1] += bytes.toString('latin1');
    else raw.push(bytes.toString('latin1'));
    this.#inField = true;
    this.#inValue = false;
    return this.#count(bytes.length);
  }

  headerValue(bytes: Buffer): number {
    const raw = this.#raw;
    if (this.#inValue) raw[raw.length - 1] += bytes.toString('latin1');
    else raw.push(bytes.toString('latin1'));
    this.#inValue = true;
    this.#inField = false;
    return this.#count(bytes.length);
  }

  /** 0: a body may follow; 1: none (1xx, or the events say so, as for HEAD). */
  headersComplete(statusCode: number, keepAlive: boolean): number {
    // A field with no value (`Name:` then the end of the line) gets an empty one.
    if (this.#raw.length % 2 === 1) this.#raw.push('');
    if (statusCode === 101) {
      this.#failure = new ResponseParseError('HPE_UNEXPECTED_UPGRADE', '101 Switching Protocols to a request that asked for no upgrade');
      return -1;
    }
    if (statusCode < 200) {
      this.#interim = true;
      return 1;
    }
    const noBody = this.#events.onHeaders(statusCode, this.#statusMessage, this.#raw, keepAlive);
    // Trailers of a chunked body, if any, are parsed (and limited) on their own and not
    // relayed: the array handed on above stays as it was.
    this.#raw = [];
    this.#headerBytes = 0;
    this.#inField = false;
    this.#inValue = false;
    return noBody ? 1 : 0;
  }

  body(bytes: Buffer): number {
    this.#events.onBody(bytes);
    return 0;
  }

  messageComplete(): number {
    // An interim response leaves the final one to come: parsing goes on, unannounced.
    if (!this.#interim) this.#events.onComplete();
    return 0;
  }

  #count(bytes: number): number {
    this.#headerBytes += bytes;
    if (this.#headerBytes <= this.#maxHeaderBytes) return 0;
    this.#failure = new ResponseParseError('HPE_HEADER_OVERFLOW', `response headers exceed ${this.#maxHeaderBytes} bytes`);
    return -1;
  }
}
