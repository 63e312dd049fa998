/**
 * @module The consistent-hash key of a request (--hash-key): the client's address, the
 * path, or the value of a header, cookie or query parameter. A request without it
 * (no such header, say) has no key: consistent-hash then places it by the round-robin
 * ticket, as HAProxy does for a missing hash input.
 */
import type { HashKeySpec } from '../config/config.ts';
import { clientAddress } from '../shared/client-address.ts';
import { cookieValue } from './sticky-sessions.ts';

/** What a key is read from: a client request (the listener's FrontRequest, or anything shaped like it). */
export interface KeySource {
  readonly url?: string | undefined;
  readonly headers: { readonly cookie?: string | undefined; readonly [name: string]: string | readonly string[] | undefined };
  readonly socket: { readonly remoteAddress?: string | undefined };
}

export function hashKeyOf(req: KeySource, spec: HashKeySpec): string | null {
  switch (spec.from) {
    case 'ip':
      return clientAddress(req.socket);
    case 'path': {
      const url = req.url ?? '/';
      const query = url.indexOf('?');
      return query < 0 ? url : url.slice(0, query);
    }
    case 'header': {
      const value = req.headers[spec.name];
      if (value === undefined) return null;
      return typeof value === 'string' ? value : value.join(', ');
    }
    case 'cookie': {
      const header = req.headers.cookie;
      return header === undefined ? null : (cookieValue(header, spec.name) ?? null);
    }
    case 'query': {
      const url = req.url ?? '/';
      const query = url.indexOf('?');
      if (query < 0) return null;
      return new URLSearchParams(url.slice(query + 1)).get(spec.name);
    }
  }
}
