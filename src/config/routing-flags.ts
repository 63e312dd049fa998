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
import type { SettingValues } from './setting-values.ts';

/** RFC 9110 token: what a header, cookie or query name may be made of here. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const MIN_SECRET_LENGTH = 16;

/** `previousSecret`: at a reload, the secret in use, kept when none is given (a random one
 * would void every cookie handed out). */
export function routingConfig(values: SettingValues, env: NodeJS.ProcessEnv, previousSecret: string | null = null): RoutingConfig {
  const algorithm = values.attempt('algorithm', () => algorithmName(values), DEFAULTS.routing.algorithm);
  const hashing = algorithm === 'consistent-hash';
  for (const flag of ['hash-key', 'hash-balance-factor']) {
    if (!hashing && values.has(flag)) {
      values.problem(flag, `${values.name(flag)} ${JSON.stringify(values.text(flag))} is not allowed with ${values.name('algorithm')} ${algorithm}: it applies to consistent-hash only`);
    }
  }
  return {
    algorithm,
    hashKey: values.attempt('hash-key', () => hashKey(values), DEFAULTS.routing.hashKey),
    hashBalanceFactor: values.attempt('hash-balance-factor', () => factor(values.name('hash-balance-factor'), values.text('hash-balance-factor'), DEFAULTS.routing.hashBalanceFactor, 1, 100), 0),
    sticky: values.attempt(values.has('sticky-cookie') ? 'sticky-cookie' : 'sticky-secret', () => sticky(values, env, previousSecret), null),
    retries: values.attempt('retries', () => integer(values.name('retries'), values.text('retries'), DEFAULTS.routing.retries, 0, 10), DEFAULTS.routing.retries),
    slowStartMs: values.attempt('slow-start', () => duration(values.name('slow-start'), values.text('slow-start'), DEFAULTS.routing.slowStartMs, { minMs: 0, maxMs: 3_600_000 }), 0),
  };
}

export function healthConfig(values: SettingValues): HealthCheckConfig | null {
  const path = values.text('health-path');
  if (path === undefined) {
    const stray = ['health-interval', 'health-timeout', 'health-fall', 'health-rise'].find((flag) => values.has(flag));
    if (stray) values.problem(stray, `${values.name(stray)} ${JSON.stringify(values.text(stray))} has no effect without ${values.name('health-path')} (active checks are off)`);
    return null;
  }
  if (!/^\/[\x21-\x7e]*$/.test(path)) {
    values.problem('health-path', `${values.name('health-path')} ${JSON.stringify(path)} is not allowed: expected a path starting with / (no spaces), like /healthz`);
  }
  const intervalMs = values.attempt('health-interval', () => duration(values.name('health-interval'), values.text('health-interval'), DEFAULTS.health.intervalMs, { minMs: 10, maxMs: 3_600_000 }), DEFAULTS.health.intervalMs);
  const timeoutMs = values.attempt(
    'health-timeout',
    () => duration(values.name('health-timeout'), values.text('health-timeout'), Math.min(DEFAULTS.health.timeoutMs, intervalMs), { minMs: 1, maxMs: 3_600_000 }),
    Math.min(DEFAULTS.health.timeoutMs, intervalMs),
  );
  if (timeoutMs > intervalMs) {
    values.problem('health-timeout', `${values.name('health-timeout')} ${timeoutMs}ms is not allowed with ${values.name('health-interval')} ${intervalMs}ms: a probe must end before the next one is due`);
  }
  return {
    path,
    intervalMs,
    timeoutMs,
    fall: values.attempt('health-fall', () => integer(values.name('health-fall'), values.text('health-fall'), DEFAULTS.health.fall, 1, 100), DEFAULTS.health.fall),
    rise: values.attempt('health-rise', () => integer(values.name('health-rise'), values.text('health-rise'), DEFAULTS.health.rise, 1, 100), DEFAULTS.health.rise),
  };
}

export function ejectionConfig(values: SettingValues): EjectionConfig {
  return {
    after: values.attempt('eject-after', () => integer(values.name('eject-after'), values.text('eject-after'), DEFAULTS.ejection.after, 0, 1000), DEFAULTS.ejection.after),
    on5xx: values.on('eject-on-5xx'),
    timeMs: values.attempt('eject-time', () => duration(values.name('eject-time'), values.text('eject-time'), DEFAULTS.ejection.timeMs, { minMs: 1, maxMs: MAX_EJECTION_MS }), DEFAULTS.ejection.timeMs),
    maxPercent: values.attempt('max-ejected', () => percent(values.name('max-ejected'), values.text('max-ejected'), DEFAULTS.ejection.maxPercent), DEFAULTS.ejection.maxPercent),
  };
}

function algorithmName(values: SettingValues): AlgorithmName {
  const raw = values.text('algorithm');
  if (raw === undefined) return DEFAULTS.routing.algorithm;
  const known = ALGORITHMS.find((name) => name === raw);
  if (known) return known;
  throw new UsageError(`${values.name('algorithm')} ${JSON.stringify(raw)} is not allowed: expected one of ${ALGORITHMS.join(', ')}`);
}

function hashKey(values: SettingValues): HashKeySpec {
  const raw = values.text('hash-key');
  if (raw === undefined) return DEFAULTS.routing.hashKey;
  if (raw === 'ip' || raw === 'path') return { from: raw };
  const match = /^(header|cookie|query):(.+)$/.exec(raw);
  const from = match?.[1];
  const name = match?.[2] ?? '';
  if ((from === 'header' || from === 'cookie' || from === 'query') && TOKEN.test(name)) {
    return { from, name: from === 'header' ? name.toLowerCase() : name };
  }
  throw new UsageError(`${values.name('hash-key')} ${JSON.stringify(raw)} is not allowed: expected ip, path, header:NAME, cookie:NAME or query:NAME`);
}

function sticky(values: SettingValues, env: NodeJS.ProcessEnv, previousSecret: string | null): RoutingConfig['sticky'] {
  const cookie = values.text('sticky-cookie');
  const secret = values.text('sticky-secret');
  if (cookie === undefined) {
    if (secret !== undefined) throw new UsageError(`${values.name('sticky-secret')} has no effect without ${values.name('sticky-cookie')} NAME`);
    return null;
  }
  if (!TOKEN.test(cookie)) {
    throw new UsageError(`${values.name('sticky-cookie')} ${JSON.stringify(cookie)} is not allowed: expected a cookie name (letters, digits and !#$%&'*+-.^_\`|~)`);
  }
  const given = secret ?? env.SWITCHYARD_STICKY_SECRET;
  const source = secret !== undefined ? values.name('sticky-secret') : 'SWITCHYARD_STICKY_SECRET';
  if (given !== undefined && given.length < MIN_SECRET_LENGTH) {
    throw new UsageError(`${source} is not allowed: it has ${given.length} characters; use at least ${MIN_SECRET_LENGTH}`);
  }
  // Random per start: cookies then stay valid across this process's threads only.
  return { cookie, secret: given ?? previousSecret ?? randomBytes(32).toString('base64url') };
}
