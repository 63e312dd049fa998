/**
 * @module The command line: parses and validates every flag once, at start, into a frozen
 * `Config`. A bad flag becomes a `UsageError` whose one-line message names the flag, the
 * value and what is allowed; the entry point prints it and exits with code 2.
 */
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { MAX_WEIGHT } from '../shared/layout.ts';
import { DEFAULTS, type Config } from './config.ts';
import { backendSpec, describeParseError, duration, integer, size, UsageError } from './flag-values.ts';
import { backendTlsConfig } from './backend-tls-flags.ts';
import { accessLogConfig, adminConfig } from './observability-flags.ts';
import { tlsConfig } from './tls-flags.ts';
import { checkTakeover, pidFileConfig, TAKEOVER_OPTIONS } from './takeover-flags.ts';
import { ejectionConfig, healthConfig, routingConfig } from './routing-flags.ts';

export { UsageError };
export { USAGE } from './usage.ts';

/** Above this, rebuilding a weighted schedule or hash table per generation gets slow. */
const MAX_SLOTS = 1024;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  backend: { type: 'string', multiple: true },
  'spawn-backends': { type: 'string' },
  threads: { type: 'string' },
  'max-backends': { type: 'string' },
  algorithm: { type: 'string' },
  'hash-key': { type: 'string' },
  'hash-balance-factor': { type: 'string' },
  'sticky-cookie': { type: 'string' },
  'sticky-secret': { type: 'string' },
  retries: { type: 'string' },
  'slow-start': { type: 'string' },
  'health-path': { type: 'string' },
  'health-interval': { type: 'string' },
  'health-timeout': { type: 'string' },
  'health-fall': { type: 'string' },
  'health-rise': { type: 'string' },
  'eject-after': { type: 'string' },
  'eject-on-5xx': { type: 'boolean' },
  'eject-time': { type: 'string' },
  'max-ejected': { type: 'string' },
  'connect-timeout': { type: 'string' },
  'upstream-timeout': { type: 'string' },
  'upstream-idle-timeout': { type: 'string' },
  'upstream-connections': { type: 'string' },
  'backend-ca': { type: 'string' },
  'backend-insecure': { type: 'boolean' },
  'send-proxy-protocol': { type: 'string' },
  'client-header-timeout': { type: 'string' },
  'client-body-timeout': { type: 'string' },
  'keep-alive-timeout': { type: 'string' },
  'tunnel-idle-timeout': { type: 'string' },
  'allow-upgrade': { type: 'string', multiple: true },
  'shutdown-timeout': { type: 'string' },
  'max-header-size': { type: 'string' },
  'max-url-length': { type: 'string' },
  'max-body': { type: 'string' },
  'max-connections': { type: 'string' },
  'accept-proxy-protocol': { type: 'boolean' },
  'admin-port': { type: 'string' },
  'admin-host': { type: 'string' },
  'admin-token': { type: 'string' },
  'access-log': { type: 'string' },
  'tls-cert': { type: 'string', multiple: true },
  'tls-key': { type: 'string', multiple: true },
  'redirect-http': { type: 'string' },
  ...TAKEOVER_OPTIONS,
  help: { type: 'boolean' },
} as const;

/** `warnings`: lines to print at start (a certificate served though expired). `takeover`:
 * ask the running switchyard to hand over to a new process with this config (--takeover). */
export type CliResult =
  | { readonly kind: 'help' }
  | { readonly kind: 'run'; readonly config: Config; readonly warnings: readonly string[]; readonly takeover: boolean };

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliResult {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false, tokens: true });
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  const { values, tokens } = parsed;
  if (values.help) return { kind: 'help' };
  refuseRepeatedFlags(tokens);

  const port = integer('--port', values.port, DEFAULTS.port, 0, 65535);
  const backends = (values.backend ?? []).map((raw) => backendSpec(raw, MAX_WEIGHT));
  const duplicate = backends.find((backend, i) => backends.findIndex((other) => other.origin === backend.origin) !== i);
  if (duplicate) throw new UsageError(`--backend ${duplicate.origin} is given twice; each backend may appear once`);
  if (backends.length > 0 && values['spawn-backends'] !== undefined) {
    throw new UsageError(`--spawn-backends ${values['spawn-backends']} cannot be combined with --backend: external backends replace the demo ones`);
  }
  const spawnBackends = integer('--spawn-backends', values['spawn-backends'], DEFAULTS.spawnBackends, 1, 64);
  if (backends.length === 0 && port !== 0 && port + spawnBackends > 65535) {
    throw new UsageError(`--spawn-backends ${spawnBackends} with --port ${port} needs ports up to ${port + spawnBackends}; the highest port is 65535`);
  }
  const given = backends.length > 0 ? backends.length : spawnBackends;
  const maxBackends = integer('--max-backends', values['max-backends'], Math.max(DEFAULTS.maxBackends, given), 1, MAX_SLOTS);
  if (maxBackends < given) {
    throw new UsageError(`--max-backends ${maxBackends} is not allowed: ${given} backends are given, so at least ${given} slots are needed`);
  }
  const warnings: string[] = [];
  const config: Config = {
    host: host(values.host),
    port,
    backends,
    spawnBackends,
    threads: integer('--threads', values.threads, availableParallelism(), 1, 256),
    maxBackends,
    routing: routingConfig(values, env),
    health: healthConfig(values),
    ejection: ejectionConfig(values),
    upstream: {
      connectMs: duration('--connect-timeout', values['connect-timeout'], DEFAULTS.upstream.connectMs),
      headersMs: duration('--upstream-timeout', values['upstream-timeout'], DEFAULTS.upstream.headersMs),
      bodyIdleMs: duration('--upstream-idle-timeout', values['upstream-idle-timeout'], DEFAULTS.upstream.bodyIdleMs),
      maxConnections:
        values['upstream-connections'] === undefined
          ? DEFAULTS.upstream.maxConnections
          : integer('--upstream-connections', values['upstream-connections'], 0, 1, 100_000),
      tls: backendTlsConfig(values),
      sendProxyProtocol: proxyVersion(values['send-proxy-protocol']),
    },
    client: {
      headersTimeoutMs: duration('--client-header-timeout', values['client-header-timeout'], DEFAULTS.client.headersTimeoutMs),
      bodyIdleMs: duration('--client-body-timeout', values['client-body-timeout'], DEFAULTS.client.bodyIdleMs),
      keepAliveMs: duration('--keep-alive-timeout', values['keep-alive-timeout'], DEFAULTS.client.keepAliveMs),
      tunnelIdleMs: duration('--tunnel-idle-timeout', values['tunnel-idle-timeout'], DEFAULTS.client.tunnelIdleMs),
      upgrades: allowedUpgrades(values['allow-upgrade'] ?? []),
      maxHeaderBytes: size('--max-header-size', values['max-header-size'], DEFAULTS.client.maxHeaderBytes, 1024),
      maxUrlBytes: size('--max-url-length', values['max-url-length'], DEFAULTS.client.maxUrlBytes, 16),
      maxBodyBytes: values['max-body'] === undefined ? DEFAULTS.client.maxBodyBytes : size('--max-body', values['max-body'], 0, 0),
      maxConnections: integer('--max-connections', values['max-connections'], DEFAULTS.client.maxConnections, 1, 1_000_000),
      acceptProxyProtocol: values['accept-proxy-protocol'] === true,
    },
    shutdownTimeoutMs: duration('--shutdown-timeout', values['shutdown-timeout'], DEFAULTS.shutdownTimeoutMs),
    admin: adminConfig(values, env, port),
    accessLog: accessLogConfig(values['access-log']),
    tls: tlsConfig(values, port, (line) => warnings.push(line)),
    pidFile: pidFileConfig(values['pid-file']),
  };
  if (config.client.maxUrlBytes >= config.client.maxHeaderBytes) {
    throw new UsageError(`--max-url-length ${config.client.maxUrlBytes} must be below --max-header-size ${config.client.maxHeaderBytes}: the request line is part of the head`);
  }
  const takeover = checkTakeover(values, config.admin, config.backends);
  return { kind: 'run', config: deepFreeze(config), warnings, takeover };
}

function proxyVersion(value: string | undefined): 'v1' | 'v2' | null {
  if (value === undefined) return null;
  if (value === 'v1' || value === 'v2') return value;
  throw new UsageError(`--send-proxy-protocol ${JSON.stringify(value)} is not allowed: expected v1 (text) or v2 (binary)`);
}

const REPEATABLE = new Set(['backend', 'tls-cert', 'tls-key', 'allow-upgrade']);

/** An Upgrade token as RFC 9110 section 7.8 writes it: a token, optionally `/version`. */
const UPGRADE_TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+(?:\/[!#$%&'*+\-.^_`|~0-9a-z]+)?$/i;

function allowedUpgrades(names: readonly string[]): string[] {
  const allowed = new Set<string>(DEFAULTS.client.upgrades);
  for (const name of names) {
    if (!UPGRADE_TOKEN.test(name)) throw new UsageError(`--allow-upgrade ${JSON.stringify(name)} is not allowed: expected an Upgrade token such as websocket or name/1.0`);
    if (name.toLowerCase().startsWith('h2c')) {
      throw new UsageError(`--allow-upgrade ${JSON.stringify(name)} is not allowed: h2c is never relayed (a request smuggling vector); HTTP/2 clients speak it to the balancer itself`);
    }
    allowed.add(name.toLowerCase());
  }
  return [...allowed];
}

/** A flag given twice would silently take its last value: only --backend and the TLS pairs repeat. */
function refuseRepeatedFlags(tokens: ReadonlyArray<{ kind: string; name?: string; value?: string | undefined }>): void {
  const seen = new Map<string, string | undefined>();
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name === undefined || REPEATABLE.has(token.name)) continue;
    if (seen.has(token.name)) {
      const values = [seen.get(token.name), token.value].map((value) => (value === undefined ? '(no value)' : JSON.stringify(value)));
      throw new UsageError(`--${token.name} is given twice (${values.join(' and ')}); give each flag once`);
    }
    seen.set(token.name, token.value);
  }
}

function host(raw: string | undefined): string {
  if (raw === undefined) return DEFAULTS.host;
  if (isIP(raw) !== 0 || /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(raw)) return raw;
  throw new UsageError(`--host ${JSON.stringify(raw)} is not allowed: expected an IP address or a host name`);
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) {
    if (inner && typeof inner === 'object') deepFreeze(inner);
  }
  return Object.freeze(value);
}
