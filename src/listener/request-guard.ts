/**
 * @module What a listener refuses before any backend is picked: requests that would make
 * the balancer an open proxy, methods it will not relay, and targets it cannot forward.
 * Each refusal is a `SwitchyardError` with its status; `null` means go ahead.
 */
import type { IncomingMessage } from 'node:http';
import type { ClientLimits } from '../config/config.ts';
import { SwitchyardError } from '../errors.ts';

/**
 * Checks `req` and, for an absolute-form target that names this very host
 * (`GET http://h/p` with `Host: h`), rewrites `req.url` to its origin form (`/p`) so
 * that only a path ever reaches a backend.
 */
export function guardRequest(req: IncomingMessage, limits: ClientLimits): SwitchyardError | null {
  const target = req.url ?? '';
  if (target.length > limits.maxUrlBytes) {
    return new SwitchyardError('URI_TOO_LONG', `request target is ${target.length} bytes; the limit is ${limits.maxUrlBytes}`);
  }
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
