/**
 * @module How a flag's value is read and checked, for every command line here (the
 * balancer's and the bench's): whole numbers, durations, sizes, backend URLs, and
 * parseArgs' own errors, each refused with one line naming the flag, the value and what
 * is allowed.
 */

export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** Every problem found, one line each (a config file may have several); the message is the first. */
  readonly problems: readonly string[];

  constructor(message: string, problems: readonly string[] = [message]) {
    super(message);
    this.problems = problems;
  }
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

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, '': 1000 };
export function duration(flag: string, raw: string | undefined, fallback: number, { minMs = 1, maxMs = 24 * 3600 * 1000 } = {}): number {
  if (raw === undefined) return fallback;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|)$/.exec(raw.trim());
  const ms = match ? Math.round(Number(match[1]) * (DURATION_UNITS[match[2] ?? ''] ?? NaN)) : NaN;
  if (!Number.isFinite(ms) || ms < minMs || ms > maxMs) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not allowed: expected a duration from ${spellDuration(minMs)} to ${spellDuration(maxMs)}, like 500ms, 5s, 2m or 1h (a bare number is seconds)`);
  }
  return ms;
}

/** A percentage, `50%` or `50`, from 0 to 100. */
export function percent(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const match = /^(\d+(?:\.\d+)?)%?$/.exec(raw.trim());
  const value = match ? Number(match[1]) : NaN;
  if (!Number.isFinite(value) || value > 100) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not allowed: expected a percentage from 0% to 100%, like 50%`);
  }
  return value;
}

/** A decimal number: 0 (off), or from `min` to `max`. */
export function factor(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isFinite(value) || (value !== 0 && (value < min || value > max))) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not allowed: expected 0 (off) or a number from ${min} to ${max}, like 1.25`);
  }
  return value;
}

/** A duration as the flags write it: `500ms`, `5s`, `2m`, `1h`. */
export function spellDuration(ms: number): string {
  if (ms === 0) return '0';
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

/** `URL[,weight=N]`: a backend and its weight (1 when not given). */
export function backendSpec(raw: string, maxWeight: number, flag = '--backend'): { origin: string; weight: number } {
  const comma = raw.indexOf(',');
  if (comma < 0) return { origin: backendOrigin(raw, raw, flag), weight: 1 };
  const origin = backendOrigin(raw.slice(0, comma), raw, flag);
  const option = raw.slice(comma + 1);
  const match = /^weight=(\d+)$/.exec(option);
  const weight = match ? Number(match[1]) : NaN;
  if (!match) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not allowed: expected URL or URL,weight=N (got ${JSON.stringify(option)} after the comma)`);
  }
  if (!Number.isSafeInteger(weight) || weight < 1 || weight > maxWeight) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not allowed: weight must be a whole number from 1 to ${maxWeight}`);
  }
  return { origin, weight };
}

export function backendOrigin(raw: string, given = raw, flag = '--backend'): string {
  const reject = (why: string): never => {
    throw new UsageError(`${flag} ${JSON.stringify(given)} is not allowed: ${why}`);
  };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return reject('expected an http or https URL like http://127.0.0.1:9001');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') reject(`expected the http or https scheme, got ${url.protocol.replace(':', '')}`);
  if (url.username || url.password) reject('credentials in the URL are not supported');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) reject('expected only scheme, host and port (no path, query or fragment)');
  if (url.port === '0') reject('port 0 cannot be connected to');
  return url.origin;
}
