/**
 * @module The access log (--access-log): one JSON line per request, written by the
 * listener thread that served it, through pino to an asynchronous destination
 * (sonic-boom), so that a slow disk or a full pipe never blocks a thread that serves
 * sockets. A `RequestRecord` is what one request's line says, filled in along the way by
 * handle-request.ts, the exchange and the error responses; it exists only while the log
 * is on, so that the path of a request pays one null check when it is off.
 *
 * Lines never interleave mid-line: pino hands each line whole to sonic-boom, which
 * writes whole lines per write call (it joins lines into one buffer, never splits one).
 * sonic-boom runs in buffer mode, each line handed over as a Buffer: in its string mode it
 * measures its pending string on every line (a rope that it flattens each time), which
 * made a line cost about 40% more.
 *
 * Lines are written in batches, once a few KiB are waiting or every FLUSH_EVERY_MS,
 * whichever comes first (nginx's `buffer=` and `flush=` make the same trade): written as
 * they come, each line cost a system call and a hand-off to libuv's threads, about a
 * tenth of a proxied request's CPU under the bench's load. A graceful stop writes out
 * everything (`close`); a crash loses at most the last FLUSH_EVERY_MS of lines.
 * A file is opened by each thread with O_APPEND, whose writes the kernel appends whole;
 * stdout, stderr or the path itself may be a pipe, where only writes up to PIPE_BUF are
 * atomic, so writes to anything but a regular file are held to that size (a single line
 * longer than that, from an extreme request target, is the one exception).
 */
import { fstatSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';
import type { AccessLogConfig } from '../config/config.ts';
import type { ErrorCode, SwitchyardError } from '../errors.ts';
import type { FrontRequest } from '../front/front-request.ts';
import type { ClientResponse } from '../front/client-response.ts';
import { clientAddress } from '../shared/client-address.ts';
import { now } from '../shared/clock.ts';

/** The largest write a pipe takes whole whatever other writers do (POSIX PIPE_BUF on Linux). */
const PIPE_BUF = 4096;
/** Lines held per thread while the destination is behind; beyond, lines are dropped (and
 * counted) rather than grow the thread's memory without bound. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Bytes that wait for more before they are written: a few dozen lines. On a pipe, less
 * than PIPE_BUF, the most one write may hold there; on a file, writes of up to twice that. */
const BATCH_BYTES = { file: 8 * 1024, pipe: 2 * 1024 } as const;
/** The longest a line waits in memory when traffic is light. */
const FLUSH_EVERY_MS = 200;
/** How long a stopping thread waits for its last lines to reach the destination. */
const CLOSE_TIMEOUT_MS = 2_000;

/** sonic-boom in buffer mode: it takes Buffers, which its types do not say. */
type Destination = Omit<ReturnType<typeof pino.destination>, 'write'> & { write(line: Buffer): boolean };

/** What one request's line says, filled in while the request runs. */
export class RequestRecord {
  readonly startedAt = now();
  readonly client: string | null;
  /** Request body bytes read from the client. */
  bytesIn = 0;
  /** Response body bytes handed to the client's response. */
  bytesOut = 0;
  /** Origin of the last backend tried; null while none was. */
  backend: string | null = null;
  /** Backends picked for this request: a resend on a keep-alive connection the backend
   * closed under us is not another (the same count as `switchyard_backend_requests_total`). */
  attempts = 0;
  /** Milliseconds to the response head from the backend that answered. */
  upstreamMs: number | null = null;
  /** The code of the balancer's own answer, or of the failure that cut a relayed response short. */
  error: ErrorCode | null = null;

  constructor(client: string | null) {
    this.client = client;
  }

  /** Counts the request body as it is read. Only once the body is going to be read:
   * listening for data starts the flow of a body nobody meant to read. */
  countBody(req: FrontRequest): void {
    req.body.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length;
    });
  }
}

export class AccessLog {
  readonly #destination: Destination;
  readonly #logger: pino.Logger;
  readonly #log: (line: string) => void;
  #closed = false;
  /** Requests begun and not yet written. */
  #open = 0;
  #retired = false;
  #dropped = 0;
  #lastError: string | null = null;

  /**
   * Opens the destination. A file is opened here, synchronously, before the thread
   * listens: a path that cannot be written fails the thread's start with that reason,
   * rather than every request later.
   */
  constructor(target: AccessLogConfig, listener: number, log: (line: string) => void) {
    this.#log = log;
    this.#destination = openDestination(target);
    this.#destination.on('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code ?? error.message;
      if (reason === this.#lastError) return;
      this.#lastError = reason;
      log(`access log: cannot write (${error.message}); lines are kept and written once it can`);
    });
    this.#destination.on('drop', () => {
      if (this.#dropped++ === 0) log(`access log: the destination is ${MAX_BUFFERED_BYTES / 1024 / 1024} MiB behind; dropping lines until it catches up`);
    });
    const destination = this.#destination;
    // No pid or hostname on every line; the listener's index is serialized once, by pino.
    this.#logger = pino({ base: { listener } }, { write: (line: string) => destination.write(Buffer.from(line)) });
  }

  /** Starts the record of a request; its line is written when the response closes. */
  begin(req: FrontRequest, res: ClientResponse): RequestRecord {
    const record = new RequestRecord(clientAddress(req.socket));
    this.#open++;
    res.once('close', () => {
      this.#requestLine(req, res, record);
      if (--this.#open === 0 && this.#retired) void this.close();
    });
    return record;
  }

  /** Replaced by a config reload: the requests begun here still write their lines here,
   * then it closes. */
  retire(): void {
    this.#retired = true;
    if (this.#open === 0) void this.close();
  }

  /** A refusal written on the raw socket (client-errors.ts): no request was parsed, so
   * the line has no method or path. */
  refusal(client: string | null, error: SwitchyardError, bytesOut: number): void {
    if (this.#closed) return;
    this.#logger.info({
      client,
      status: error.status,
      bytes_in: 0,
      bytes_out: bytesOut,
      backend: null,
      attempts: 0,
      upstream_ms: null,
      total_ms: null,
      error: error.code,
    });
  }

  /**
   * Writes out what is still buffered, then closes the file. sonic-boom's `end()` waits
   * for a write already under way before it writes the rest; a `flushSync()` at that
   * moment would write newer lines first, and an exit right after could lose the write
   * in flight. Bounded, so that a hung disk does not hold the thread's exit.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    if (this.#dropped > 0) this.#log(`access log: ${this.#dropped} lines were dropped while the destination was behind`);
    const destination = this.#destination;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#log(`access log: the last lines were not confirmed written within ${CLOSE_TIMEOUT_MS} ms; some may be lost`);
        resolve();
      }, CLOSE_TIMEOUT_MS);
      destination.once('close', done);
      destination.once('error', done);
      destination.end();
    });
  }

  #requestLine(req: FrontRequest, res: ClientResponse, record: RequestRecord): void {
    // A response closing after the log (a request aborted at the shutdown deadline).
    if (this.#closed) return;
    // A client that leaves before the head is sent gets no status: nginx's 499 says so.
    const answered = res.headersSent;
    this.#logger.info({
      client: record.client,
      method: req.method,
      path: req.url,
      status: answered ? res.statusCode : 499,
      bytes_in: record.bytesIn,
      bytes_out: record.bytesOut,
      backend: record.backend,
      attempts: record.attempts,
      upstream_ms: record.upstreamMs === null ? null : roundToMicros(record.upstreamMs),
      total_ms: roundToMicros(now() - record.startedAt),
      error: record.error ?? (answered ? null : 'CLIENT_CLOSED_REQUEST'),
    });
  }
}

function openDestination(target: AccessLogConfig): Destination {
  let fd: number;
  if (target.to !== 'file') fd = target.to === 'stdout' ? 1 : 2;
  else {
    try {
      mkdirSync(dirname(target.path), { recursive: true });
      fd = openSync(target.path, 'a');
    } catch (error) {
      throw new Error(`--access-log ${target.path}: cannot open it for appending (${(error as Error).message})`, { cause: error });
    }
  }
  // A regular file takes any write whole; anything else (a pipe, a named pipe given as
  // the path, a terminal) only up to PIPE_BUF.
  const batch = fstatSync(fd).isFile() ? { minLength: BATCH_BYTES.file, maxWrite: 2 * BATCH_BYTES.file } : { minLength: BATCH_BYTES.pipe, maxWrite: PIPE_BUF };
  const options = { dest: fd, sync: false, contentMode: 'buffer', maxLength: MAX_BUFFERED_BYTES, periodicFlush: FLUSH_EVERY_MS, ...batch } as const;
  return pino.destination(options) as unknown as Destination;
}

/** Milliseconds, to the microsecond. */
function roundToMicros(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
