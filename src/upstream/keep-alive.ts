/**
 * @module Whether a response leaves its connection fit for another request, and for how
 * long an idle connection is kept after it.
 */

/**
 * Beyond what llhttp decides from the version and `Connection` (its `keepAlive`): a
 * response to HEAD is never followed by a reuse (a backend may wrongly send the body, as
 * undici guards against too), and neither is a 204 or 304 that declares content, which
 * may follow and would be read as the next response.
 */
export function mayReuseAfter(statusCode: number, raw: readonly string[], headOnly: boolean): boolean {
  if (headOnly) return false;
  if (statusCode !== 204 && statusCode !== 304) return true;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (name === 'transfer-encoding' || (name === 'content-length' && (raw[i + 1] as string).trim() !== '0')) return false;
  }
  return true;
}

/** The idle time after each response of one connection. */
export class IdleTimes {
  readonly #maxMs: number;
  /** The last `Keep-Alive` value seen and the time it gave: a backend sends the same one every time. */
  #value: string | null = null;
  #ms: number;

  constructor(maxMs: number) {
    this.#maxMs = maxMs;
    this.#ms = maxMs;
  }

  /** A second less than a backend's `Keep-Alive: timeout=N`, so that we close first; at
   * most the configured idle time. 0 or less: do not keep the connection. */
  after(raw: readonly string[]): number {
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      if (name.length !== 10 || name.toLowerCase() !== 'keep-alive') continue;
      const value = raw[i + 1] as string;
      if (value !== this.#value) {
        this.#value = value;
        const match = /timeout=(\d+)/i.exec(value);
        this.#ms = match ? Math.min(this.#maxMs, Number(match[1]) * 1000 - 1000) : this.#maxMs;
      }
      return this.#ms;
    }
    return this.#maxMs;
  }
}
