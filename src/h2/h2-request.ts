/**
 * @module An HTTP/2 stream's request head as the relay reads every request
 * (front/front-request.ts), translated to HTTP/1.1 terms per RFC 9113 section 8.3:
 * `:authority` becomes Host (a different Host beside it is kept, for request-guard.ts to
 * refuse), cookie crumbs are joined into one Cookie header, and a body of unknown length
 * is framed chunked toward the backend. The stream's flow control is the body's: a body
 * reader that falls behind pauses the stream, which stops its WINDOW_UPDATEs.
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { FrontRequest, type BodySource } from '../front/front-request.ts';

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_AUTHORITY, NGHTTP2_FLAG_END_STREAM } = constants;

/** The stream as a BodySource: reading resumes it; its own inactivity timer is the body's idle timer. */
class StreamBodySource implements BodySource {
  readonly #stream: ServerHttp2Stream;
  #onTimeout: (() => void) | null = null;

  constructor(stream: ServerHttp2Stream) {
    this.#stream = stream;
    stream.on('timeout', () => this.#onTimeout?.());
  }

  readMore(): void {
    this.#stream.resume();
  }

  setBodyTimeout(ms: number, onTimeout: (() => void) | null): void {
    this.#onTimeout = ms > 0 ? onTimeout : null;
    this.#stream.setTimeout(ms);
  }
}

/** `raw`: the stream's headers as received (name, value, ..., pseudo-headers included). */
export function streamRequest(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: readonly string[], socket: Socket): FrontRequest {
  const authority = headers[HTTP2_HEADER_AUTHORITY] as string | undefined;
  const out: string[] = [];
  const cookies: string[] = [];
  let host: string | undefined;
  let length = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* : */) continue;
    // (`te` can only say `trailers` here: nghttp2 resets the stream otherwise. It goes on
    // like any header, and proxy-headers.ts drops it as hop-by-hop.)
    if (name === 'cookie') cookies.push(value);
    else {
      if (name === 'host') host = value;
      else if (name === 'content-length') length = true;
      out.push(name, value);
    }
  }
  if (authority !== undefined && host?.toLowerCase() !== authority.toLowerCase()) out.unshift('host', authority);
  if (cookies.length > 0) out.push('cookie', cookies.join('; '));
  const complete = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
  if (!complete && !length) out.push('transfer-encoding', 'chunked');

  const req = new FrontRequest(
    { method: String(headers[HTTP2_HEADER_METHOD]), url: String(headers[HTTP2_HEADER_PATH] ?? ''), versionMajor: 2, versionMinor: 0, raw: out, keepAlive: true, upgrade: false },
    socket,
    new StreamBodySource(stream),
  );
  req.overH2 = true;
  if (complete) {
    req.endBody();
    return req;
  }
  stream.on('data', (chunk: Buffer) => {
    if (!req.pushBody(chunk)) stream.pause();
  });
  stream.once('end', () => req.endBody());
  stream.once('aborted', () => req.abortBody());
  return req;
}
