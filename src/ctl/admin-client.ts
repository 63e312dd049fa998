/**
 * @module How `switchyard ctl` talks to the admin listener: one HTTP request with global
 * fetch, the bearer token when there is one, and every way it can go wrong turned into
 * a CtlError with the exit code and the one line to show (the admin's own refusal, or
 * which URL could not be reached and why that may be).
 */

/** Exit codes of `switchyard ctl`. */
export const CTL_EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** What ends a ctl command: the exit code (FAILED or USAGE) and one line for stderr. */
export class CtlError extends Error {
  override readonly name = 'CtlError';
  readonly exitCode: 1 | 2;

  constructor(exitCode: CtlError['exitCode'], message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface AdminClient {
  /** The admin listener's base URL, as given (no trailing slash). */
  readonly base: string;
  /** Sends `body` (as JSON) and resolves with the answer's JSON; rejects with a CtlError. */
  request(method: string, path: string, body?: unknown): Promise<unknown>;
  /** GET `path` and resolves with the answer's first line of text (/healthz); rejects with a CtlError. */
  line(path: string): Promise<string>;
}

export function adminClient(base: string, token: string | null): AdminClient {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const client: AdminClient = {
    base,
    async line(path) {
      return (await send('GET', path, undefined)).text.split('\n', 1)[0]?.trim() ?? '';
    },
    async request(method, path, body) {
      const { status, text } = await send(method, path, body);
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new CtlError(
          CTL_EXIT.FAILED,
          `${method} ${base}${path} answered ${status} but not with JSON: is ${base} the admin listener (--admin-port), not the balancer's own port?`,
        );
      }
    },
  };
  return client;

  /** The answer when it is a success; a CtlError with its one line otherwise. */
  async function send(method: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
      });
    } catch (error) {
      throw new CtlError(
        CTL_EXIT.FAILED,
        `cannot reach the admin listener at ${base} (${causeOf(error)}): is the balancer running, with its admin listener there? ` +
          'It may be off (--admin-port off) or on another port: pass --admin URL or set SWITCHYARD_ADMIN',
      );
    }
    const text = await res.text();
    if (!res.ok) {
      const line = text.split('\n', 1)[0]?.trim();
      throw new CtlError(CTL_EXIT.FAILED, line ? line : `${res.status} ${res.statusText} from ${method} ${base}${path}`);
    }
    return { status: res.status, text };
  }
}

/** The code of the socket error under fetch's generic "fetch failed". */
function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}
