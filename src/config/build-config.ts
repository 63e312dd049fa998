/**
 * @module Raw settings (from flags, the config file, or both) to the validated, frozen
 * `Config`: every value checked by its own rule, then the rules that tie several
 * together. Each problem is collected with the setting it is about, so that a bad file
 * is reported whole, one line per problem, and the command line's first problem is the
 * one it always was.
 */
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { MAX_WEIGHT } from '../shared/layout.ts';
import { DEFAULTS, runsDemoBackends, type BackendConfig, type Config } from './config.ts';
import { backendSpec, duration, integer, size, UsageError } from './flag-values.ts';
import { backendTlsConfig } from './backend-tls-flags.ts';
import { DISCOVERY_FLAGS, discoveryConfig } from './discovery-flags.ts';
import { accessLogConfig, adminConfig } from './observability-flags.ts';
import { ejectionConfig, healthConfig, routingConfig } from './routing-flags.ts';
import type { SettingValues } from './setting-values.ts';
import { tlsConfig } from './tls-flags.ts';
import { pidFileConfig } from './takeover-flags.ts';

/** Above this, rebuilding a weighted schedule or hash table per generation gets slow. */
const MAX_SLOTS = 1024;

export interface BuildOptions {
  readonly env: NodeJS.ProcessEnv;
  /** At a reload: the config in use, whose random sticky secret is kept. */
  readonly previous?: Config | null;
}

/** `warnings`: lines to print (a certificate served though expired). Throws a UsageError
 * carrying every problem found. */
export function buildConfig(values: SettingValues, { env, previous = null }: BuildOptions): { config: Config; warnings: string[] } {
  const port = values.attempt('port', () => integer(values.name('port'), values.text('port'), DEFAULTS.port, 0, 65535), DEFAULTS.port);
  const backends = backendList(values);
  const discovery = values.attempt(DISCOVERY_FLAGS.find((flag) => values.has(flag)) ?? 'backend-dns', () => discoveryConfig(values), DEFAULTS.discovery);
  const external = !runsDemoBackends({ backends, discovery });
  if (external && values.has('spawn-backends')) {
    const named = backends.length > 0 ? values.name('backend') : values.name(`backend-${discovery.names[0]?.kind ?? 'dns'}`);
    values.problem('spawn-backends', `${values.name('spawn-backends')} ${values.text('spawn-backends')} cannot be combined with ${named}: external backends replace the demo ones`);
  }
  const spawnBackends = values.attempt('spawn-backends', () => integer(values.name('spawn-backends'), values.text('spawn-backends'), DEFAULTS.spawnBackends, 1, 64), DEFAULTS.spawnBackends);
  if (!external && port !== 0 && port + spawnBackends > 65535) {
    values.problem('spawn-backends', `${values.name('spawn-backends')} ${spawnBackends} with ${values.name('port')} ${port} needs ports up to ${port + spawnBackends}; the highest port is 65535`);
  }
  const given = external ? backends.length : spawnBackends;
  const maxBackends = values.attempt('max-backends', () => integer(values.name('max-backends'), values.text('max-backends'), Math.max(DEFAULTS.maxBackends, given), 1, MAX_SLOTS), DEFAULTS.maxBackends);
  if (maxBackends < given) {
    values.problem('max-backends', `${values.name('max-backends')} ${maxBackends} is not allowed: ${given} backends are given, so at least ${given} slots are needed`);
  }
  const warnings: string[] = [];
  const timeout = (flag: string, fallback: number): number => values.attempt(flag, () => duration(values.name(flag), values.text(flag), fallback), fallback);
  const config: Config = {
    host: values.attempt('host', () => host(values), DEFAULTS.host),
    port,
    backends,
    discovery,
    spawnBackends,
    threads: values.attempt('threads', () => integer(values.name('threads'), values.text('threads'), availableParallelism(), 1, 256), 1),
    maxBackends,
    routing: routingConfig(values, env, previous?.routing.sticky?.secret ?? null),
    health: healthConfig(values),
    ejection: ejectionConfig(values),
    upstream: {
      connectMs: timeout('connect-timeout', DEFAULTS.upstream.connectMs),
      headersMs: timeout('upstream-timeout', DEFAULTS.upstream.headersMs),
      bodyIdleMs: timeout('upstream-idle-timeout', DEFAULTS.upstream.bodyIdleMs),
      maxConnections: values.attempt(
        'upstream-connections',
        () => (values.has('upstream-connections') ? integer(values.name('upstream-connections'), values.text('upstream-connections'), 0, 1, 100_000) : DEFAULTS.upstream.maxConnections),
        null,
      ),
      tls: values.attempt(values.has('backend-ca') ? 'backend-ca' : 'backend-insecure', () => backendTlsConfig(values), DEFAULTS.upstream.tls),
      sendProxyProtocol: values.attempt('send-proxy-protocol', () => proxyVersion(values), null),
    },
    client: {
      headersTimeoutMs: timeout('client-header-timeout', DEFAULTS.client.headersTimeoutMs),
      bodyIdleMs: timeout('client-body-timeout', DEFAULTS.client.bodyIdleMs),
      keepAliveMs: timeout('keep-alive-timeout', DEFAULTS.client.keepAliveMs),
      tunnelIdleMs: timeout('tunnel-idle-timeout', DEFAULTS.client.tunnelIdleMs),
      upgrades: values.attempt('allow-upgrade', () => allowedUpgrades(values), [...DEFAULTS.client.upgrades]),
      maxHeaderBytes: values.attempt('max-header-size', () => size(values.name('max-header-size'), values.text('max-header-size'), DEFAULTS.client.maxHeaderBytes, 1024), DEFAULTS.client.maxHeaderBytes),
      maxUrlBytes: values.attempt('max-url-length', () => size(values.name('max-url-length'), values.text('max-url-length'), DEFAULTS.client.maxUrlBytes, 16), DEFAULTS.client.maxUrlBytes),
      maxBodyBytes: values.attempt('max-body', () => (values.has('max-body') ? size(values.name('max-body'), values.text('max-body'), 0, 0) : DEFAULTS.client.maxBodyBytes), null),
      maxConnections: values.attempt('max-connections', () => integer(values.name('max-connections'), values.text('max-connections'), DEFAULTS.client.maxConnections, 1, 1_000_000), DEFAULTS.client.maxConnections),
      acceptProxyProtocol: values.on('accept-proxy-protocol'),
      h2c: values.on('h2c'),
      h2MaxStreams: values.attempt('h2-max-streams', () => integer(values.name('h2-max-streams'), values.text('h2-max-streams'), DEFAULTS.client.h2MaxStreams, 1, 10_000), DEFAULTS.client.h2MaxStreams),
    },
    shutdownTimeoutMs: timeout('shutdown-timeout', DEFAULTS.shutdownTimeoutMs),
    admin: values.attempt(values.has('admin-port') ? 'admin-port' : values.has('admin-host') ? 'admin-host' : 'admin-token', () => adminConfig(values, env, port), null),
    pidFile: values.attempt('pid-file', () => pidFileConfig(values.text('pid-file')), null),
    accessLog: values.attempt('access-log', () => accessLogConfig(values.name('access-log'), values.text('access-log')), null),
    tls: values.attempt(values.list('tls-cert').length > 0 ? 'tls-cert' : 'redirect-http', () => tlsConfig(values, port, (line) => warnings.push(line)), null),
  };
  if (config.client.maxUrlBytes >= config.client.maxHeaderBytes) {
    values.problem(
      values.has('max-url-length') ? 'max-url-length' : 'max-header-size',
      `${values.name('max-url-length')} ${config.client.maxUrlBytes} must be below ${values.name('max-header-size')} ${config.client.maxHeaderBytes}: the request line is part of the head`,
    );
  }
  values.throwProblems();
  return { config: deepFreeze(config), warnings };
}

function backendList(values: SettingValues): BackendConfig[] {
  const backends: BackendConfig[] = [];
  values.list('backend').forEach((raw, i) => {
    // The file's list is named with its place in it: backends[2].
    const name = values.name('backend') === '--backend' ? '--backend' : `backends[${i}]`;
    const spec = values.attempt('backend', () => backendSpec(raw, MAX_WEIGHT, name), null);
    if (spec === null) return;
    if (backends.some((backend) => backend.origin === spec.origin)) {
      values.problem('backend', `${name === '--backend' ? name : 'backends'} ${spec.origin} is given twice; each backend may appear once`);
      return;
    }
    backends.push(spec);
  });
  return backends;
}

function proxyVersion(values: SettingValues): 'v1' | 'v2' | null {
  const value = values.text('send-proxy-protocol');
  if (value === undefined) return null;
  if (value === 'v1' || value === 'v2') return value;
  throw new UsageError(`${values.name('send-proxy-protocol')} ${JSON.stringify(value)} is not allowed: expected v1 (text) or v2 (binary)`);
}

/** An Upgrade token as RFC 9110 section 7.8 writes it: a token, optionally `/version`. */
const UPGRADE_TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+(?:\/[!#$%&'*+\-.^_`|~0-9a-z]+)?$/i;

function allowedUpgrades(values: SettingValues): string[] {
  const allowed = new Set<string>(DEFAULTS.client.upgrades);
  const name = values.name('allow-upgrade');
  for (const token of values.list('allow-upgrade')) {
    if (!UPGRADE_TOKEN.test(token)) throw new UsageError(`${name} ${JSON.stringify(token)} is not allowed: expected an Upgrade token such as websocket or name/1.0`);
    if (token.toLowerCase().startsWith('h2c')) {
      throw new UsageError(`${name} ${JSON.stringify(token)} is not allowed: h2c is never relayed (a request smuggling vector); HTTP/2 clients speak it to the balancer itself`);
    }
    allowed.add(token.toLowerCase());
  }
  return [...allowed];
}

function host(values: SettingValues): string {
  const raw = values.text('host');
  if (raw === undefined) return DEFAULTS.host;
  if (isIP(raw) !== 0 || /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(raw)) return raw;
  throw new UsageError(`${values.name('host')} ${JSON.stringify(raw)} is not allowed: expected an IP address or a host name`);
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) {
    if (inner && typeof inner === 'object') deepFreeze(inner);
  }
  return Object.freeze(value);
}
