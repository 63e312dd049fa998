/**
 * @module llhttp, the HTTP/1.1 parser inside Node and undici, in the WebAssembly build
 * that undici ships (pinned with undici in package.json and package-lock.json;
 * test/http1/response-parser.test.ts and the listener suites cover it). One instance
 * per thread, shared by the client side's request parsers and the upstream side's
 * response parsers. No lenient flag is ever set.
 *
 * llhttp's callbacks are imports of the instance, so `execute` records which parser and
 * which input are current, and the callbacks find them there. The bytes are copied once
 * into wasm memory; spans (URL, header names and values, body) are handed to the parser
 * as views of our own chunk, never of wasm memory, which may move when it grows.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The part of the WebAssembly API used here (TypeScript declares it only with the DOM library). */
interface WebAssemblyApi {
  Module: new (bytes: Buffer) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const { WebAssembly } = globalThis as unknown as { WebAssembly: WebAssemblyApi };

/** llhttp's parser types and the error numbers that are not failures. */
export const LLHTTP = {
  REQUEST: 1,
  RESPONSE: 2,
  OK: 0,
  PAUSED: 21,
  PAUSED_UPGRADE: 22,
} as const;

interface Exports {
  readonly memory: { readonly buffer: ArrayBuffer };
  llhttp_alloc(type: number): number;
  llhttp_free(parser: number): void;
  llhttp_execute(parser: number, data: number, length: number): number;
  llhttp_finish(parser: number): number;
  llhttp_resume(parser: number): void;
  llhttp_resume_after_upgrade(parser: number): void;
  llhttp_get_errno(parser: number): number;
  llhttp_get_error_reason(parser: number): number;
  llhttp_get_error_pos(parser: number): number;
  llhttp_errno_name(errno: number): number;
  llhttp_get_method(parser: number): number;
  llhttp_method_name(method: number): number;
  llhttp_get_http_major(parser: number): number;
  llhttp_get_http_minor(parser: number): number;
  llhttp_should_keep_alive(parser: number): number;
  malloc(bytes: number): number;
  free(pointer: number): void;
}

/** What one parser does with llhttp's callbacks; a non-zero return stops llhttp (an
 * error, or `LLHTTP.PAUSED`). Spans are views of the chunk being parsed. */
export interface LlhttpHandler {
  messageBegin(): number;
  url(bytes: Buffer): number;
  status(bytes: Buffer): number;
  headerField(bytes: Buffer): number;
  headerValue(bytes: Buffer): number;
  /** 0: a body may follow; 1: none; 2: upgrade. */
  headersComplete(statusCode: number, upgrade: boolean, keepAlive: boolean): number;
  body(bytes: Buffer): number;
  messageComplete(): number;
}

let wasm: Exports | null = null;
let current: LlhttpHandler | null = null;
/** The chunk being parsed, and where its copy starts in wasm memory. */
let input: Buffer = Buffer.alloc(0);
let inputAt = 0;
let scratch = 0;
let scratchBytes = 0;
const methodNames = new Map<number, string>();

/** A view of our copy of the bytes llhttp points at (`at` is an address in wasm memory). */
function slice(at: number, length: number): Buffer {
  const start = at - inputAt;
  return input.subarray(start, start + length);
}

function handler(): LlhttpHandler {
  return current as LlhttpHandler;
}

function instantiate(): Exports {
  let module: object;
  try {
    module = new WebAssembly.Module(require('undici/lib/llhttp/llhttp_simd-wasm.js') as Buffer);
  } catch {
    // A CPU without wasm SIMD: the plain build of the same parser.
    module = new WebAssembly.Module(require('undici/lib/llhttp/llhttp-wasm.js') as Buffer);
  }
  const instance = new WebAssembly.Instance(module, {
    env: {
      wasm_on_message_begin: () => handler().messageBegin(),
      wasm_on_url: (_p: number, at: number, length: number) => handler().url(slice(at, length)),
      wasm_on_status: (_p: number, at: number, length: number) => handler().status(slice(at, length)),
      wasm_on_header_field: (_p: number, at: number, length: number) => handler().headerField(slice(at, length)),
      wasm_on_header_value: (_p: number, at: number, length: number) => handler().headerValue(slice(at, length)),
      wasm_on_headers_complete: (_p: number, statusCode: number, upgrade: number, keepAlive: number) =>
        handler().headersComplete(statusCode, upgrade === 1, keepAlive === 1),
      wasm_on_body: (_p: number, at: number, length: number) => handler().body(slice(at, length)),
      wasm_on_message_complete: () => handler().messageComplete(),
    },
  });
  return instance.exports as unknown as Exports;
}

function cString(pointer: number): string {
  if (pointer === 0) return '';
  const bytes = new Uint8Array((wasm as Exports).memory.buffer, pointer);
  return Buffer.from(bytes.subarray(0, bytes.indexOf(0))).toString('latin1');
}

/** Whether some parser of this thread is inside llhttp right now: a callback must not
 * start another `execute` (the instance's input would be overwritten under it). */
export function isExecuting(): boolean {
  return current !== null;
}

/** One llhttp parser in the shared instance. */
export class LlhttpParser {
  readonly #handler: LlhttpHandler;
  #pointer: number;
  /** Where parsing stopped in the last chunk (a pause or an error), as an offset into it. */
  stoppedAt = 0;
  /** destroy() was called from inside a callback: free once llhttp has returned. */
  #freeAfterExecute = false;

  constructor(type: number, handler: LlhttpHandler) {
    wasm ??= instantiate();
    this.#handler = handler;
    this.#pointer = wasm.llhttp_alloc(type);
  }

  /** Parses `chunk`; returns llhttp's error number (`LLHTTP.OK`, `LLHTTP.PAUSED`, ...). */
  execute(chunk: Buffer): number {
    const llhttp = wasm as Exports;
    if (chunk.length > scratchBytes) {
      if (scratch !== 0) llhttp.free(scratch);
      scratchBytes = Math.ceil(chunk.length / 4096) * 4096;
      scratch = llhttp.malloc(scratchBytes);
    }
    new Uint8Array(llhttp.memory.buffer, scratch, chunk.length).set(chunk);
    current = this.#handler;
    input = chunk;
    inputAt = scratch;
    let errno: number;
    try {
      errno = llhttp.llhttp_execute(this.#pointer, scratch, chunk.length);
      this.stoppedAt = errno === LLHTTP.OK ? chunk.length : llhttp.llhttp_get_error_pos(this.#pointer) - scratch;
    } finally {
      current = null;
      if (this.#freeAfterExecute) this.destroy();
    }
    return errno;
  }

  /** The input ended: completes a message delimited by the close, or reports one cut off. */
  finish(): number {
    current = this.#handler;
    try {
      return (wasm as Exports).llhttp_finish(this.#pointer);
    } finally {
      current = null;
    }
  }

  /** Continues after a pause (`upgrade`: after `LLHTTP.PAUSED_UPGRADE`). */
  resume(upgrade = false): void {
    if (upgrade) (wasm as Exports).llhttp_resume_after_upgrade(this.#pointer);
    else (wasm as Exports).llhttp_resume(this.#pointer);
  }

  /** llhttp's name for an error number (`HPE_INVALID_CONSTANT`, ...). */
  errnoName(errno: number): string {
    if (errno === LLHTTP.PAUSED) return 'HPE_PAUSED';
    return cString((wasm as Exports).llhttp_errno_name(errno));
  }

  /** llhttp's reason for the error it stopped with. */
  errorReason(): string {
    return cString((wasm as Exports).llhttp_get_error_reason(this.#pointer));
  }

  /** The request's method, after its head (request parsers only). */
  method(): string {
    const number = (wasm as Exports).llhttp_get_method(this.#pointer);
    let name = methodNames.get(number);
    if (name === undefined) {
      name = cString((wasm as Exports).llhttp_method_name(number));
      methodNames.set(number, name);
    }
    return name;
  }

  versionMajor(): number {
    return (wasm as Exports).llhttp_get_http_major(this.#pointer);
  }

  versionMinor(): number {
    return (wasm as Exports).llhttp_get_http_minor(this.#pointer);
  }

  shouldKeepAlive(): boolean {
    return (wasm as Exports).llhttp_should_keep_alive(this.#pointer) === 1;
  }

  destroy(): void {
    if (this.#pointer === 0) return;
    if (current === this.#handler) {
      this.#freeAfterExecute = true;
      return;
    }
    (wasm as Exports).llhttp_free(this.#pointer);
    this.#pointer = 0;
  }
}
