/**
 * @module The one list of settings: each with its flag, its key in the config file, what
 * form its value takes there, its default as shown, what it means, whether a reload can
 * change it, and where it lives in `Config`. The command line (cli.ts), the config file
 * (config-file.ts), `--help` (checked against it by a test), the example file (the same)
 * and reload (what changed, what is ignored) all read it.
 */
import { runsDemoBackends, type Config } from './config.ts';

/**
 * How a setting is written in the file:
 * - `value`: a string or number, read exactly as the flag's text (`5s`, `16k`, `8080`);
 * - `path`: a string naming a file, relative to the config file's folder;
 * - `switch`: true or false (a flag without a value);
 * - `list`: an array of strings (a repeatable flag);
 * - `backends`: an array of tables `{ url, weight }` (or `"URL[,weight=N]"` strings);
 * - `certificates`: an array of tables `{ cert, key }` (the --tls-cert/--tls-key pairs);
 * - `flag-only`: not in the file.
 */
export type SettingForm = 'value' | 'path' | 'switch' | 'list' | 'backends' | 'certificates' | 'flag-only';

export interface Setting {
  /** The flag's name without its dashes. */
  readonly flag: string;
  /** Where the file holds it: a dotted path of TOML tables and a key; null when flag-only. */
  readonly key: string | null;
  readonly form: SettingForm;
  /** The default, as `--help` and the example file show it. */
  readonly fallback: string;
  readonly meaning: string;
  /** Whether a reload applies a change of it; a change of the others is reported as ignored. */
  readonly reload: boolean;
  /** Its value in a validated Config, compared across a reload to say what changed. */
  readonly read: (config: Config) => unknown;
}

const setting = (flag: string, key: string | null, form: SettingForm, fallback: string, reload: boolean, read: Setting['read'], meaning: string): Setting => ({
  flag,
  key,
  form,
  fallback,
  reload,
  read,
  meaning,
});

export const SETTINGS: readonly Setting[] = [
  setting('config', null, 'flag-only', 'none', false, () => null, 'read settings from this TOML file; flags given too override it'),
  setting('watch-config', 'watch-config', 'switch', 'off', false, () => null, 'reload when the config file changes (as on SIGHUP or POST /reload)'),
  setting('port', 'port', 'value', '8080', false, (c) => c.port, 'balancer port, 0 = ephemeral'),
  setting('host', 'host', 'value', '127.0.0.1', false, (c) => c.host, 'balancer address'),
  setting('backend', 'backends', 'backends', 'none', true, (c) => c.backends, 'a backend http(s)://host:port with a weight from 1 to 1000; when given, no demo backends start'),
  setting('backend-dns', 'discovery.backend-dns', 'list', 'none', true, (c) => c.discovery.names.filter((n) => n.kind === 'dns'), 'every A/AAAA address of NAME is a backend http://ADDRESS:PORT: [http://]NAME:PORT[,weight=N]'),
  setting('backend-srv', 'discovery.backend-srv', 'list', 'none', true, (c) => c.discovery.names.filter((n) => n.kind === 'srv'), 'SRV records _service._tcp.NAME: target and port, weight, priority as tier'),
  setting('resolver', 'discovery.resolvers', 'list', "the system's", true, (c) => c.discovery.resolvers, 'DNS servers to ask: IP[:PORT]'),
  setting('dns-stale-window', 'discovery.stale-window', 'value', '5m', true, (c) => c.discovery.staleMs, 'a failing or empty name keeps its last backends this long; then an empty one drains them'),
  setting('spawn-backends', 'spawn-backends', 'value', '2', false, (c) => (runsDemoBackends(c) ? c.spawnBackends : null), 'demo backends (worker threads) on port+1..port+N when no backend is given'),
  setting('threads', 'threads', 'value', 'the number of CPUs', false, (c) => c.threads, 'listener threads sharing the port (reusePort)'),
  setting('max-backends', 'max-backends', 'value', '64', false, (c) => c.maxBackends, 'slots in the shared table (backends at once), 1..1024'),

  setting('algorithm', 'routing.algorithm', 'value', 'round-robin', true, (c) => c.routing.algorithm, 'round-robin, least-connections, power-of-two, ewma, random or consistent-hash'),
  setting('hash-key', 'routing.hash-key', 'value', 'ip', true, (c) => c.routing.hashKey, 'what consistent-hash hashes: ip, path, header:NAME, cookie:NAME or query:NAME'),
  setting('hash-balance-factor', 'routing.hash-balance-factor', 'value', '0', true, (c) => c.routing.hashBalanceFactor, 'consistent-hash bounded load: no backend above F x the mean load; 0 = off'),
  setting('sticky-cookie', 'routing.sticky-cookie', 'value', 'off', true, (c) => c.routing.sticky?.cookie ?? null, 'pin each client to its backend with this cookie'),
  setting('sticky-secret', 'routing.sticky-secret', 'value', 'random per start', true, (c) => c.routing.sticky?.secret ?? null, 'HMAC key of sticky cookies, 16 characters or more (or env SWITCHYARD_STICKY_SECRET)'),
  setting('retries', 'routing.retries', 'value', '2', true, (c) => c.routing.retries, 'tries on other backends after a failed attempt, 0..10'),
  setting('slow-start', 'routing.slow-start', 'value', '0', true, (c) => c.routing.slowStartMs, "a rejoined or added backend's share ramps from 10% to 100% over T; 0 = off"),

  setting('health-path', 'health.path', 'value', 'off', true, (c) => c.health?.path ?? null, 'active checks: GET PATH on each backend, healthy on 2xx/3xx'),
  setting('health-interval', 'health.interval', 'value', '2s', true, (c) => c.health?.intervalMs ?? null, 'probe period'),
  setting('health-timeout', 'health.timeout', 'value', '1s', true, (c) => c.health?.timeoutMs ?? null, 'per-probe timeout, at most the interval'),
  setting('health-fall', 'health.fall', 'value', '3', true, (c) => c.health?.fall ?? null, 'failed probes in a row that mark a backend down'),
  setting('health-rise', 'health.rise', 'value', '2', true, (c) => c.health?.rise ?? null, 'passed probes in a row that mark it up'),

  setting('eject-after', 'ejection.after', 'value', '3', true, (c) => c.ejection.after, 'failures of real traffic in a row that eject a backend; 0 = never'),
  setting('eject-on-5xx', 'ejection.on-5xx', 'switch', 'off', true, (c) => c.ejection.on5xx, 'count 5xx answers as failures too'),
  setting('eject-time', 'ejection.time', 'value', '10s', true, (c) => c.ejection.timeMs, 'first ejection; doubles per consecutive ejection, up to 5m'),
  setting('max-ejected', 'ejection.max-ejected', 'value', '50%', true, (c) => c.ejection.maxPercent, 'at most this share of backends ejected at once'),

  setting('connect-timeout', 'upstream.connect-timeout', 'value', '5s', true, (c) => c.upstream.connectMs, 'upstream TCP connect, else 504'),
  setting('upstream-timeout', 'upstream.timeout', 'value', '30s', true, (c) => c.upstream.headersMs, 'upstream response headers, else 504'),
  setting('upstream-idle-timeout', 'upstream.idle-timeout', 'value', '30s', true, (c) => c.upstream.bodyIdleMs, 'silence inside an upstream response body'),
  setting('upstream-connections', 'upstream.connections', 'value', 'no limit', true, (c) => c.upstream.maxConnections, 'most connections per backend and listener thread'),
  setting('backend-ca', 'upstream.backend-ca', 'path', "Node's + system", true, (c) => c.upstream.tls.ca, "PEM authorities that sign https backends' certificates"),
  setting('backend-insecure', 'upstream.backend-insecure', 'switch', 'off', true, (c) => c.upstream.tls.insecure, "do not verify https backends' certificates"),
  setting('send-proxy-protocol', 'upstream.send-proxy-protocol', 'value', 'off', true, (c) => c.upstream.sendProxyProtocol, 'v1 or v2: each upstream connection starts with a PROXY header'),

  setting('client-header-timeout', 'client.header-timeout', 'value', '10s', true, (c) => c.client.headersTimeoutMs, 'whole request head from a client, else 408'),
  setting('client-body-timeout', 'client.body-timeout', 'value', '30s', true, (c) => c.client.bodyIdleMs, 'silence inside a request body, else 408'),
  setting('keep-alive-timeout', 'client.keep-alive-timeout', 'value', '10s', true, (c) => c.client.keepAliveMs, 'idle client keep-alive connection is closed'),
  setting('tunnel-idle-timeout', 'client.tunnel-idle-timeout', 'value', '1h', true, (c) => c.client.tunnelIdleMs, 'an upgraded (WebSocket) connection silent this long is closed'),
  setting('allow-upgrade', 'client.allow-upgrade', 'list', 'websocket', true, (c) => c.client.upgrades, 'relay Upgrade: NAME too (websocket always is, h2c never)'),
  setting('max-header-size', 'client.max-header-size', 'value', '16k', true, (c) => c.client.maxHeaderBytes, 'request line + headers, else 431'),
  setting('max-url-length', 'client.max-url-length', 'value', '8k', true, (c) => c.client.maxUrlBytes, 'request target, else 414'),
  setting('max-body', 'client.max-body', 'value', 'no limit', true, (c) => c.client.maxBodyBytes, 'request body, else 413'),
  setting('max-connections', 'client.max-connections', 'value', '10000', true, (c) => c.client.maxConnections, 'open client connections per listener thread'),
  setting('accept-proxy-protocol', 'client.accept-proxy-protocol', 'switch', 'off', true, (c) => c.client.acceptProxyProtocol, 'each connection starts with a PROXY v1/v2 header'),
  setting('pid-file', 'pid-file', 'path', 'none', false, (c) => c.pidFile, 'the serving PID, rewritten by the process that takes over (systemd PIDFile=)'),
  setting('h2c', 'client.h2c', 'switch', 'off', false, (c) => c.client.h2c, 'also HTTP/2 over plain connections that open with its preface (prior knowledge); TLS offers h2 by ALPN'),
  setting('h2-max-streams', 'client.h2-max-streams', 'value', '100', false, (c) => c.client.h2MaxStreams, 'concurrent streams per HTTP/2 connection'),
  setting('shutdown-timeout', 'shutdown-timeout', 'value', '15s', true, (c) => c.shutdownTimeoutMs, 'SIGTERM/SIGINT (and a removed backend): time in-flight requests get'),

  setting('tls-cert', 'tls.certificates', 'certificates', 'off', true, (c) => c.tls?.certificates.map(({ certFile, keyFile }) => [certFile, keyFile]) ?? null, 'serve HTTPS: PEM certificate and key pairs, chosen by SNI'),
  setting('tls-key', 'tls.certificates', 'certificates', 'off', true, () => null, 'the PEM key of the --tls-cert given in its place'),
  setting('redirect-http', 'tls.redirect-http', 'value', 'off', false, (c) => c.tls?.redirectHttpPort ?? null, 'a plain port answering 308 to https://'),

  setting('admin-port', 'admin.port', 'value', '9901', false, (c) => c.admin?.port ?? 'off', 'the admin listener; 0 = ephemeral, off = none'),
  setting('admin-host', 'admin.host', 'value', '127.0.0.1', false, (c) => c.admin?.host ?? null, 'admin address; any but loopback needs a token'),
  setting('admin-token', 'admin.token', 'value', 'none', false, (c) => c.admin?.token ?? null, 'admin requests need Authorization: Bearer T (or env SWITCHYARD_ADMIN_TOKEN)'),
  setting('access-log', 'access-log', 'path', 'off', true, (c) => c.accessLog, 'one JSON line per request: stdout, stderr, a file path, or off'),
];

/** Flags that may be given more than once; every other flag once. */
export const REPEATABLE = new Set(SETTINGS.filter(({ form }) => form === 'list' || form === 'backends' || form === 'certificates').map(({ flag }) => flag));

export function settingOf(flag: string): Setting {
  const found = SETTINGS.find((candidate) => candidate.flag === flag);
  if (!found) throw new RangeError(`no setting --${flag}`);
  return found;
}
