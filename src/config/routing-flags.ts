/**
 * @module The flags of routing and health (algorithm, hash key, sticky sessions, active
 * checks, ejection), read and cross-checked. A flag that would have no effect with the
 * others given (a hash key without consistent hashing, a probe interval without a probe
 * path) is refused rather than silently ignored.
 */
import { randomBytes } from 'node:crypto';
import { ALGORITHMS, type AlgorithmName } from '../routing/algorithms/names.ts';
import { MAX_EJECTION_MS } from '../routing/passive-health.ts';
import { DEFAULTS, type EjectionConfig, type HashKeySpec, type HealthCheckConfig, type RoutingConfig } from './config.ts';
import { duration, factor, integer, percent, UsageError } from './flag-values.ts';

/** RFC 9110 token: what a header, cookie or query name may be made of here. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const MIN_SECRET_LENGTH = 16;

export type FlagValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

const text = (values: FlagValues, name: string): string | undefined => {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
};

export function routingConfig(values: FlagValues, env: NodeJS.ProcessEnv): RoutingConfig {
  const algorithm = algorithmName(text(values, 'algorithm'));
  const hashing = algorithm === 'consistent-hash';
  for (const flag of ['hash-key', 'hash-balance-factor']) {
    if (!hashing && values[flag] !== undefined) {
      throw new UsageError(`--${flag} ${JSON.stringify(text(values, flag))} is not allowed with --algorithm ${algorithm}: it applies to consistent-hash only`);
    }
  }
  return {
    algorithm,
    hashKey: hashKey(text(values, 'hash-key')),
    hashBalanceFactor: factor('--hash-balance-factor', text(values, 'hash-balance-factor'), DEFAULTS.routing.hashBalanceFactor, 1, 100),
    sticky: sticky(text(values, 'sticky-cookie'), text(values, 'sticky-secret'), env),
    retries: integer('--retries', text(values, 'retries'), DEFAULTS.routing.retries, 0, 10),
    slowStartMs: duration('--slow-start', text(values, 'slow-start'), DEFAULTS.routing.slowStartMs, { minMs: 0, maxMs: 3_600_000 }),
  };
}

export function healthConfig(values: FlagValues): HealthCheckConfig | null {
  const path = text(values, 'health-path');
  if (path === undefined) {
    const stray = ['health-interval', 'health-timeout', 'health-fall', 'health-rise'].find((flag) => values[flag] !== undefined);
    if (stray) throw new UsageError(`--${stray} ${JSON.stringify(text(values, stray))} has no effect without --health-path (active checks are off)`);
    return null;
  }
  if (!/^\/[\x21-\x7e]*$/.test(path)) {
    throw new UsageError(`--health-path ${JSON.stringify(path)} is not allowed: expected a path starting with / (no spaces), like /healthz`);
  }
  const intervalMs = duration('--health-interval', text(values, 'health-interval'), DEFAULTS.health.intervalMs, { minMs: 10, maxMs: 3_600_000 });
  const timeoutMs = duration('--health-timeout', text(values, 'health-timeout'), Math.min(DEFAULTS.health.timeoutMs, intervalMs), { minMs: 1, maxMs: 3_600_000 });
  if (timeoutMs > intervalMs) {
    throw new UsageError(`--health-timeout ${timeoutMs}ms is not allowed with --health-interval ${intervalMs}ms: a probe must end before the next one is due`);
  }
  return {
    path,
    intervalMs,
    timeoutMs,
    fall: integer('--health-fall', text(values, 'health-fall'), DEFAULTS.health.fall, 1, 100),
    rise: integer('--health-rise', text(values, 'health-rise'), DEFAULTS.health.rise, 1, 100),
  };
}

export function ejectionConfig(values: FlagValues): EjectionConfig {
  return {
    after: integer('--eject-after', text(values, 'eject-after'), DEFAULTS.ejection.after, 0, 1000),
    on5xx: values['eject-on-5xx'] === true,
    timeMs: duration('--eject-time', text(values, 'eject-time'), DEFAULTS.ejection.timeMs, { minMs: 1, maxMs: MAX_EJECTION_MS }),
    maxPercent: percent('--max-ejected', text(values, 'max-ejected'), DEFAULTS.ejection.maxPercent),
  };
}

function algorithmName(raw: string | undefined): AlgorithmName {
  if (raw === undefined) return DEFAULTS.routing.algorithm;
  const known = ALGORITHMS.find((name) => name === raw);
  if (known) return known;
  throw new UsageError(`--algorithm ${JSON.stringify(raw)} is not allowed: expected one of ${ALGORITHMS.join(', ')}`);
}

function hashKey(raw: string | undefined): HashKeySpec {
  if (raw === undefined) return DEFAULTS.routing.hashKey;
  if (raw === 'ip' || raw === 'path') return { from: raw };
  const match = /^(header|cookie|query):(.+)$/.exec(raw);
  const from = match?.[1];
  const name = match?.[2] ?? '';
  if ((from === 'header' || from === 'cookie' || from === 'query') && TOKEN.test(name)) {
    return { from, name: from === 'header' ? name.toLowerCase() : name };
  }
  throw new UsageError(`--hash-key ${JSON.stringify(raw)} is not allowed: expected ip, path, header:NAME, cookie:NAME or query:NAME`);
}

function sticky(cookie: string | undefined, secret: string | undefined, env: NodeJS.ProcessEnv): RoutingConfig['sticky'] {
  if (cookie === undefined) {
    if (secret !== undefined) throw new UsageError('--sticky-secret has no effect without --sticky-cookie NAME');
    return null;
  }
  if (!TOKEN.test(cookie)) {
    throw new UsageError(`--sticky-cookie ${JSON.stringify(cookie)} is not allowed: expected a cookie name (letters, digits and !#$%&'*+-.^_\`|~)`);
  }
  const given = secret ?? env.SWITCHYARD_STICKY_SECRET;
  const source = secret !== undefined ? '--sticky-secret' : 'SWITCHYARD_STICKY_SECRET';
  if (given !== undefined && given.length < MIN_SECRET_LENGTH) {
    throw new UsageError(`${source} is not allowed: it has ${given.length} characters; use at least ${MIN_SECRET_LENGTH}`);
  }
  // Random per start: cookies then stay valid across this process's threads only.
  return { cookie, secret: given ?? randomBytes(32).toString('base64url') };
}
