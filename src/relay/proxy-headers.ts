/**
 * @module Header rewriting in both directions: hop-by-hop headers removed (RFC 9110
 * section 7.6.1), forwarding headers added. The client's Host header is passed through
 * unchanged, so a backend sees the name the client asked for (virtual hosts, redirects
 * and cookies keep working); X-Forwarded-Host repeats it for frameworks that read that.
 */
import { withoutCookie } from '../routing/sticky-sessions.ts';

/** Headers that describe one connection, never the message, and so never cross a proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers a proxy does not forward for its own reasons: `expect` has been answered by
 * our server already (100 Continue), and the forwarding headers are rebuilt below. */
const REBUILT_REQUEST_HEADERS = new Set(['expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via']);

export const VIA_NAME = 'switchyard';

/** Names listed in Connection headers, lower-cased: those are hop-by-hop too. */
function connectionNamed(values: readonly string[]): Set<string> | null {
  if (values.length === 0) return null;
  // The usual values name no other header: no set to build on the hot path.
  if (values.length === 1) {
    const only = (values[0] as string).trim().toLowerCase();
    if (only === 'keep-alive' || only === 'close') return null;
  }
  const named = new Set<string>();
  for (const value of values) {
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase();
      if (name) named.add(name);
    }
  }
  return named;
}

export interface ForwardingContext {
  /** The client's address as the balancer saw it (the TCP peer). */
  readonly clientAddress: string;
  /** `https` when the client's connection to the balancer is TLS; `http` by default. */
  readonly proto?: 'http' | 'https';
  /** `1.1`, `1.0`: the protocol version between client and balancer, for Via. */
  readonly httpVersion: string;
  /** The sticky-session cookie, which is the balancer's and never reaches a backend. */
  readonly stickyCookie?: string | null;
}

/**
 * Builds the upstream request headers from the client's raw headers (name, value, name,
 * value, ...), keeping order, case and repeated headers as the client sent them.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], context: ForwardingContext): string[] {
  const connection: string[] = [];
  const forwardedFor: string[] = [];
  const via: string[] = [];
  let host: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const value = rawHeaders[i + 1] as string;
    if (name === 'connection') connection.push(value);
    else if (name === 'x-forwarded-for') forwardedFor.push(value);
    else if (name === 'via') via.push(value);
    else if (name === 'host') host ??= value;
  }
  const named = connectionNamed(connection);

  const sticky = context.stickyCookie ?? null;
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || REBUILT_REQUEST_HEADERS.has(lower) || named?.has(lower)) continue;
    if (sticky !== null && lower === 'cookie') {
      const rest = withoutCookie(rawHeaders[i + 1] as string, sticky);
      if (rest !== null) out.push(name, rest);
      continue;
    }
    out.push(name, rawHeaders[i + 1] as string);
  }
  forwardedFor.push(context.clientAddress);
  out.push('x-forwarded-for', forwardedFor.join(', '));
  out.push('x-forwarded-proto', context.proto ?? 'http');
  if (host !== undefined) out.push('x-forwarded-host', host);
  via.push(`${context.httpVersion} ${VIA_NAME}`);
  out.push('via', via.join(', '));
  return out;
}

/**
 * The client's response headers from the upstream's (name, value, name, value, ... as
 * the backend sent them), as the flat list `writeHead` takes: hop-by-hop headers left
 * out, Via appended to the backend's, repeated headers (Set-Cookie) kept as separate
 * lines, names in the backend's case.
 */
export function clientResponseHeaders(raw: readonly string[], setCookie?: string, upstreamVersion = '1.1'): string[] {
  let connection: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 10 && name.toLowerCase() === 'connection') (connection ??= []).push(raw[i + 1] as string);
  }
  const named = connection === null ? null : connectionNamed(connection);
  const out: string[] = [];
  let via: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    if (lower === 'via') via = via === undefined ? value : `${via}, ${value}`;
    else out.push(name, value);
  }
  const ours = `${upstreamVersion} ${VIA_NAME}`;
  out.push('via', via === undefined ? ours : `${via}, ${ours}`);
  // Appended: the backend's own cookies are kept as they are.
  if (setCookie !== undefined) out.push('set-cookie', setCookie);
  return out;
}

/** Fields a trailer section must not carry: framing and routing (RFC 9110 section 6.5.1). */
const NOT_IN_TRAILERS = new Set([...HOP_BY_HOP, 'content-length', 'content-type', 'content-encoding', 'content-range', 'host', 'authorization', 'set-cookie']);

/** The backend's trailers (after a chunked body) as they go on to the client: what may
 * be a trailer, in the order sent. gRPC's `grpc-status` and `grpc-message` travel here. */
export function responseTrailers(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!NOT_IN_TRAILERS.has(name.toLowerCase())) out.push(name, raw[i + 1] as string);
  }
  return out;
}
