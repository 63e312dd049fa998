/**
 * @module How a flag's value is read and checked, for every command line here (the
 * balancer's and the bench's): whole numbers, durations, sizes, backend URLs, and
 * parseArgs' own errors, each refused with one line naming the flag, the value and what
 * is allowed.
 */

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? /(--?[\w-]+)/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag ?? message}; see --help for the flags there are`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (flag && /argument missing/.test(message)) return `${flag} needs a value; see --help`;
      if (flag && /ambiguous/.test(message)) return `${flag} got a value that looks like a flag; write ${flag}=VALUE if that is meant (see --help)`;
      return `${message.split('\n')[0]}; see --help`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? ''}: every setting is a --flag; see --help`;
    default:
      return message.split('\n')[0] ?? 'bad command line';
  }
}

export function integer(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not allowed: expected a whole number from ${min} to ${max}`);
  }
  return value;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, '': 1000 };
export function duration(flag: string, raw: string | undefined, fallback: number, { minMs = 1, maxMs = 24 * 3600 * 1000 } = {}): number {
  if (raw === undefined) return fallback;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|)$/.exec(raw.trim());
  const ms = match ? Math.round(Number(match[1]) * (DURATION_UNITS[match[2] ?? ''] ?? NaN)) : NaN;
  if (!Number.isFinite(ms) || ms < minMs || ms > maxMs) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not allowed: expected a duration from ${spell(minMs)} to ${spell(maxMs)}, like 500ms, 5s or 2m (a bare number is seconds)`);
  }
  return ms;
}

function spell(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

export function size(flag: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(raw.trim());
  const bytes = match ? Math.floor(Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] ?? NaN)) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < min) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not allowed: expected a size of at least ${min} bytes, like 16384, 16k or 1m`);
  }
  return bytes;
}

export function backendOrigin(raw: string): string {
  const reject = (why: string): never => {
    throw new UsageError(`--backend ${JSON.stringify(raw)} is not allowed: ${why}`);
  };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return reject('expected an http URL like http://127.0.0.1:9001');
  }
  if (url.protocol !== 'http:') reject(`expected the http scheme, got ${url.protocol.replace(':', '')}`);
  if (url.username || url.password) reject('credentials in the URL are not supported');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) reject('expected only scheme, host and port (no path, query or fragment)');
  if (url.port === '0') reject('port 0 cannot be connected to');
  return url.origin;
}
