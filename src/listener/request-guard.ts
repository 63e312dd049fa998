/**
 * @module What a listener refuses before any backend is picked: requests that would make
 * the balancer an open proxy, methods it will not relay, and targets it cannot forward.
 * Each refusal is a `SwitchyardError` with its status; `null` means go ahead.
 */
import type { ClientLimits } from '../config/config.ts';
import { SwitchyardError } from '../errors.ts';
import type { FrontRequest } from '../front/front-request.ts';

/**
 * Checks `req` and, for an absolute-form target that names this very host
 * (`GET http://h/p` with `Host: h`), rewrites `req.url` to its origin form (`/p`) so
 * that only a path ever reaches a backend.
 */
export function guardRequest(req: FrontRequest, limits: ClientLimits): SwitchyardError | null {
  // llhttp takes a request line without a version as HTTP/0.9 (so a bare LF in a
  // target would end the line and smuggle the rest in as a header) and accepts any
  // 1-digit version: only HTTP/1.0 and 1.1 are relayed, and HTTP/2 streams, which never
  // come from a request line (h2/h2-request.ts).
  if (req.httpVersionMajor !== 1 && !req.overH2) {
    return new SwitchyardError('BAD_REQUEST', `HTTP/${req.httpVersion} is not served; use HTTP/1.1`);
  }
  const hostRefusal = checkHost(req);
  if (hostRefusal) return hostRefusal;
  const transferEncoding = req.headers['transfer-encoding'];
  // Stripped as hop-by-hop, so any coding besides chunked would be silently lost, and
  // odd spellings are the raw material of smuggling: only exactly `chunked` passes.
  if (transferEncoding !== undefined && transferEncoding.trim().toLowerCase() !== 'chunked') {
    return new SwitchyardError('BAD_REQUEST', 'Transfer-Encoding other than "chunked" is not accepted');
  }
  const target = req.url ?? '';
  if (target.length > limits.maxUrlBytes) {
    return new SwitchyardError('URI_TOO_LONG', `request target is ${target.length} bytes; the limit is ${limits.maxUrlBytes}`);
  }
  // On HTTP/1.1, CONNECT is refused before it is parsed further (listener-thread.ts).
  if (req.method === 'CONNECT') return connectRefusal();
  if (req.method === 'TRACE') {
    return new SwitchyardError('METHOD_NOT_ALLOWED', 'TRACE is not relayed (it would echo credentials back across origins)');
  }
  if (target.startsWith('/')) return null;
  if (target === '*') {
    return new SwitchyardError('BAD_REQUEST', 'asterisk-form targets (OPTIONS *) are answered by no backend');
  }
  const absolute = /^http:\/\/([^/?#]+)([^#]*)$/i.exec(target);
  if (!absolute) {
    return new SwitchyardError('MISDIRECTED_REQUEST', 'request target is not a path on this host; switchyard is not a forward proxy');
  }
  const authority = absolute[1] ?? '';
  const host = req.headers.host ?? '';
  if (authority.toLowerCase() !== host.toLowerCase()) {
    return new SwitchyardError('MISDIRECTED_REQUEST', `request target names host ${authority}, not this one; switchyard is not a forward proxy`);
  }
  const rest = absolute[2] ?? '';
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  return null;
}

/** CONNECT would make the balancer a tunnel to anywhere. */
export function connectRefusal(): SwitchyardError {
  return new SwitchyardError('METHOD_NOT_ALLOWED', 'CONNECT is not relayed; switchyard is not a forward proxy');
}

/** RFC 3986 host (reg-name, IPv4, or a bracketed IPv6 literal) with an optional port. */
const VALID_HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{0,5})?$/;

/** RFC 9112 section 3.2: exactly one valid Host in HTTP/1.1 (at most one in 1.0), else 400. */
function checkHost(req: FrontRequest): SwitchyardError | null {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if ((req.rawHeaders[i] as string).toLowerCase() === 'host') count++;
  }
  if (count > 1) return new SwitchyardError('BAD_REQUEST', req.overH2 ? ':authority and Host name different hosts' : 'more than one Host header');
  const host = req.headers.host;
  if (host === undefined) {
    if (req.overH2) return new SwitchyardError('BAD_REQUEST', 'HTTP/2 request without :authority or Host');
    return req.httpVersionMinor >= 1 ? new SwitchyardError('BAD_REQUEST', 'HTTP/1.1 request without a Host header') : null;
  }
  if (!VALID_HOST.test(host)) return new SwitchyardError('BAD_REQUEST', 'invalid Host header');
  return null;
}
