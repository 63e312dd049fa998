/**
 * @module Sticky sessions (--sticky-cookie NAME): a cookie that pins a client to the
 * backend that served it. Its value is HMAC-SHA256(secret, origin), cut to 128 bits and
 * base64url-encoded: it names no address, cannot be forged without the secret, and is
 * the same on every instance that shares the secret and the backend. A value that
 * matches no current backend (forged, stale, or from before a removal) is simply not
 * a pin; it is never an error.
 */
import { createHmac } from 'node:crypto';
import type { Member } from './algorithms/algorithm.ts';

export interface StickyConfig {
  readonly cookie: string;
  readonly secret: string;
}

export class StickySessions {
  readonly cookie: string;
  readonly #secret: string;
  /** Cookie value -> slot, for the current generation. */
  #slotById = new Map<string, number>();
  /** Slot -> the Set-Cookie value that pins to it. */
  #setCookieBySlot = new Map<number, string>();

  constructor({ cookie, secret }: StickyConfig) {
    this.cookie = cookie;
    this.#secret = secret;
  }

  /** Follows a new membership generation. */
  update(members: readonly Member[]): void {
    const slotById = new Map<string, number>();
    const setCookieBySlot = new Map<number, string>();
    for (const { slot, origin } of members) {
      const id = createHmac('sha256', this.#secret).update(origin).digest().subarray(0, 16).toString('base64url');
      slotById.set(id, slot);
      setCookieBySlot.set(slot, `${this.cookie}=${id}; Path=/; HttpOnly; SameSite=Lax`);
    }
    this.#slotById = slotById;
    this.#setCookieBySlot = setCookieBySlot;
  }

  /** The slot the request's cookie pins it to, or -1 (no cookie, or one that names no backend). */
  pinnedSlot(cookieHeaders: string | readonly string[] | undefined): number {
    if (cookieHeaders === undefined) return -1;
    for (const header of typeof cookieHeaders === 'string' ? [cookieHeaders] : cookieHeaders) {
      const value = cookieValue(header, this.cookie);
      if (value !== undefined) return this.#slotById.get(value) ?? -1;
    }
    return -1;
  }

  /** The Set-Cookie header value that pins a client to `slot`. */
  setCookie(slot: number): string | undefined {
    return this.#setCookieBySlot.get(slot);
  }
}

/** The value of cookie `name` in one Cookie header, or undefined. */
export function cookieValue(header: string, name: string): string | undefined {
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    return pair.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

/** A Cookie header without cookie `name`; null when nothing else is left. */
export function withoutCookie(header: string, name: string): string | null {
  const kept = header
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '' && pair.slice(0, Math.max(0, pair.indexOf('='))).trim() !== name);
  return kept.length > 0 ? kept.join('; ') : null;
}
