/**
 * @module The text of `switchyard --help`: every flag, what it does and its default,
 * laid out in three columns by `row`.
 */
import { availableParallelism } from 'node:os';
import { ALGORITHMS } from '../routing/algorithms/names.ts';
import { DEFAULTS } from './config.ts';
import { REPEATABLE } from './schema.ts';

const FLAG_WIDTH = 27;
const TEXT_WIDTH = 50;
const s = (ms: number): string => `${ms / 1000}s`;

/** A flag's lines: its name, its meaning (wrapped, in lines given), its default on the first line. */
function row(flag: string, meaning: string | readonly string[], fallback?: string | number): string {
  const lines = typeof meaning === 'string' ? [meaning] : meaning;
  return lines
    .map((text, i) => {
      const left = `  ${(i === 0 ? flag : '').padEnd(FLAG_WIDTH)}${text}`;
      return i === 0 && fallback !== undefined ? `${left.padEnd(2 + FLAG_WIDTH + TEXT_WIDTH)} [${fallback}]` : left;
    })
    .join('\n');
}

export const USAGE = `Usage: switchyard [flags]   (npm start -- [flags], or node_modules/.bin/node src/main.ts [flags])
       switchyard check FILE [flags]   validate a config file without starting

A multi-threaded HTTP load balancer whose routing state lives in shared memory.

${row('--config FILE', ['read settings from a TOML file (every flag has a', 'key there; switchyard.example.toml); flags given', 'too override it. SIGHUP or POST /reload reloads it'], 'none')}
${row('--watch-config', 'reload whenever the config file changes', 'off')}
${row('--port P', 'balancer port, 0 = ephemeral', DEFAULTS.port)}
${row('--host H', 'balancer address', DEFAULTS.host)}
${row('--backend URL[,weight=N]', ['a backend http(s)://host:port, repeatable, with a', 'weight from 1 to 1000; when given, no demo', 'backends start'], 'weight 1')}
${row('--spawn-backends N', 'demo backends (worker threads) on port+1..port+N', DEFAULTS.spawnBackends)}
${row('--threads N', 'listener threads sharing the port (reusePort)', `CPUs: ${availableParallelism()}`)}
${row('--max-backends N', 'slots in the shared table (backends at once)', DEFAULTS.maxBackends)}

Discovery (re-resolved at the records' TTL, clamped to 1s..60s):
${row('--backend-dns NAME:PORT', ['every A/AAAA address of NAME is a backend', 'http://ADDRESS:PORT; ,weight=N for them all;', 'repeatable'], 'off')}
${row('--backend-srv _S._tcp.NAME', ['SRV records: target and port, weight, priority', 'as tier (the best tier up serves); repeatable'], 'off')}
${row('--resolver IP[:PORT]', 'DNS server to ask, repeatable', 'the system\'s')}
${row('--dns-stale-window T', ['a failing or empty name keeps its last backends', 'this long; then an empty one drains them'], `${DEFAULTS.discovery.staleMs / 60_000}m`)}

Routing:
${row('--algorithm NAME', [ALGORITHMS.slice(0, 3).join(', ') + ',', ALGORITHMS.slice(3).join(', ')], DEFAULTS.routing.algorithm)}
${row('--hash-key KEY', ['consistent-hash key: ip, path, header:NAME,', 'cookie:NAME or query:NAME'], DEFAULTS.routing.hashKey.from)}
${row('--hash-balance-factor F', ['consistent-hash bounded load: no backend above', 'F x the mean load; 0 = off'], DEFAULTS.routing.hashBalanceFactor)}
${row('--sticky-cookie NAME', 'pin each client to its backend with this cookie', 'off')}
${row('--sticky-secret S', ['HMAC key of sticky cookies (or env', 'SWITCHYARD_STICKY_SECRET); 16 characters or more'], 'random per start')}
${row('--retries N', 'tries on other backends after a failed attempt', DEFAULTS.routing.retries)}
${row('--slow-start T', ["a rejoined or added backend's share ramps from", '10% to 100% over T; 0 = off'], 0)}

Health:
${row('--health-path PATH', 'active checks: GET PATH, healthy on 2xx/3xx', 'off: passive only')}
${row('--health-interval T', 'probe period', s(DEFAULTS.health.intervalMs))}
${row('--health-timeout T', 'per-probe timeout (at most the interval)', s(DEFAULTS.health.timeoutMs))}
${row('--health-fall N', 'failed probes in a row that mark a backend down', DEFAULTS.health.fall)}
${row('--health-rise N', 'passed probes in a row that mark it up', DEFAULTS.health.rise)}
${row('--eject-after N', ['failures of real traffic in a row that eject a', 'backend; 0 = never'], DEFAULTS.ejection.after)}
${row('--eject-on-5xx', 'count 5xx answers as failures too', 'off')}
${row('--eject-time T', ['first ejection; doubles per consecutive ejection,', 'up to 5m'], s(DEFAULTS.ejection.timeMs))}
${row('--max-ejected P', ['at most this share of backends ejected at once', '(never the last eligible one)'], `${DEFAULTS.ejection.maxPercent}%`)}

Timeouts (a number with ms, s, m or h; a bare number is seconds):
${row('--connect-timeout T', 'upstream TCP connect, else 504', s(DEFAULTS.upstream.connectMs))}
${row('--upstream-timeout T', 'upstream response headers, else 504', s(DEFAULTS.upstream.headersMs))}
${row('--upstream-idle-timeout T', ['silence inside an upstream response body, else', 'the client response is aborted'], s(DEFAULTS.upstream.bodyIdleMs))}
${row('--client-header-timeout T', 'whole request head from a client, else 408', s(DEFAULTS.client.headersTimeoutMs))}
${row('--client-body-timeout T', 'silence inside a request body, else 408', s(DEFAULTS.client.bodyIdleMs))}
${row('--keep-alive-timeout T', 'idle client keep-alive connection is closed', s(DEFAULTS.client.keepAliveMs))}
${row('--shutdown-timeout T', 'SIGTERM/SIGINT: time in-flight requests get', s(DEFAULTS.shutdownTimeoutMs))}

Limits (bytes; k, m or g suffixes allowed):
${row('--max-header-size B', 'request line + headers, else 431', `${DEFAULTS.client.maxHeaderBytes / 1024}k`)}
${row('--max-url-length B', 'request target, else 414', `${DEFAULTS.client.maxUrlBytes / 1024}k`)}
${row('--max-body B', 'request body, else 413', 'no limit')}
${row('--max-connections N', 'open client connections per listener thread', DEFAULTS.client.maxConnections)}
${row('--tunnel-idle-timeout T', 'an upgraded (WebSocket) connection silent this long is closed', '1h')}
${row('--allow-upgrade NAME', ['relay Upgrade: NAME too (websocket always is;', 'h2c never), repeatable'], 'websocket')}
${row('--accept-proxy-protocol', ['each connection starts with a PROXY v1/v2 header', 'naming the client (behind an L4 balancer)'], 'off')}
${row('--tls-cert FILE', ['serve HTTPS: a PEM certificate (chain), repeatable;', 'chosen by SNI, the first by default; SIGHUP', 'or a change of the file reloads it'], 'off')}
${row('--tls-key FILE', 'the PEM key of the --tls-cert given in its place', 'off')}
${row('--redirect-http PORT', 'a plain port answering 308 to https://', 'off')}
${row('--h2c', ['also HTTP/2 over plain connections that open with', 'its preface (prior knowledge); TLS offers h2 by ALPN'], 'off')}
${row('--h2-max-streams N', 'concurrent streams per HTTP/2 connection', DEFAULTS.client.h2MaxStreams)}
${row('--upstream-connections N', ['most connections per backend and listener thread;', 'more requests wait for one, up to', '--connect-timeout, else 503'], 'no limit')}
${row('--send-proxy-protocol V', ['v1 or v2: each upstream connection starts with', 'a PROXY header naming its client (and serves', 'that client only)'], 'off')}
${row('--backend-ca FILE', ['PEM authorities that sign https backends\'', 'certificates (instead of the default ones)'], 'Node\'s + system')}
${row('--backend-insecure', ['do not verify https backends\' certificates', '(logged at start)'], 'off')}

Admin and logs:
${row('--admin-port P', ['/metrics, /status, /healthz, dashboard at /,', 'runtime API; 0 = ephemeral, off = none'], DEFAULTS.admin.port)}
${row('--admin-host H', ['admin address; any but loopback needs a token'], DEFAULTS.admin.host)}
${row('--admin-token T', ['admin requests need Authorization: Bearer T', '(or env SWITCHYARD_ADMIN_TOKEN); 16+ chars'], 'none')}
${row('--access-log TO', ['one JSON line per request: stdout, stderr,', 'a file path (appended to), or off'], 'off')}

Takeover and service managers:
${row('--takeover', ['ask the switchyard running at --admin-port to', 'start a new process with these flags on its', 'listening sockets, then drain and exit'], 'off')}
${row('--pid-file FILE', ['the serving PID, rewritten by the process that', 'takes over (systemd PIDFile=)'], 'none')}

${row('--help', 'this text')}

switchyard ctl --help: steer a running balancer (drain, weight, add, remove ...).

Repeatable:
  ${[...REPEATABLE].map((flag) => `--${flag}`).join(', ')}
Every other flag may be given once. Prints "listening on http://HOST:PORT" (https:// with
--tls-cert) once every listener accepts. SIGHUP reloads the config file (with --config),
else the certificates; SIGUSR2 starts a takeover with the same flags. Exit codes: 0 clean
stop, 1 failed to start or crashed, 2 bad flag, 3 stopped with requests aborted at the
shutdown deadline. With --takeover: 0 the new process serves, 1 refused or failed.`;
