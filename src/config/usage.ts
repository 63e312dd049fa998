/**
 * @module The text of `switchyard --help`: every flag, what it does and its default.
 */
import { availableParallelism } from 'node:os';
import { ALGORITHMS } from '../routing/algorithms/names.ts';
import { DEFAULTS } from './config.ts';

const s = (ms: number): string => `${ms / 1000}s`;

export const USAGE = `Usage: switchyard [flags]   (npm start -- [flags], or node_modules/.bin/node src/main.ts [flags])

A multi-threaded HTTP load balancer whose routing state lives in shared memory.

  --port P                   balancer port, 0 = ephemeral                      [${DEFAULTS.port}]
  --host H                   balancer address                                   [${DEFAULTS.host}]
  --backend URL[,weight=N]   a backend http://host:port, repeatable; weight
                             1..1000 [1]; when given, no demo backends start
  --spawn-backends N         demo backends (worker threads) on port+1..port+N   [${DEFAULTS.spawnBackends}]
  --threads N                listener threads sharing the port (reusePort)     [CPUs: ${availableParallelism()}]
  --max-backends N           slots in the shared table (backends at once)      [${DEFAULTS.maxBackends}]

Routing:
  --algorithm NAME           ${ALGORITHMS.join(', ')}
                                                                                [${DEFAULTS.routing.algorithm}]
  --hash-key KEY             consistent-hash key: ip, path, header:NAME,
                             cookie:NAME or query:NAME                          [${DEFAULTS.routing.hashKey.from}]
  --hash-balance-factor F    consistent-hash bounded load: no backend above
                             F x the mean load; 0 = off                         [${DEFAULTS.routing.hashBalanceFactor}]
  --sticky-cookie NAME       pin each client to its backend with this cookie    [off]
  --sticky-secret S          HMAC key of sticky cookies (or env
                             SWITCHYARD_STICKY_SECRET); at least 16 characters  [random per start]
  --retries N                tries on other backends after a failed attempt    [${DEFAULTS.routing.retries}]
  --slow-start T             a rejoined or added backend's share ramps from
                             10% to 100% over T; 0 = off                        [0]

Health:
  --health-path PATH         active checks: GET PATH, healthy on 2xx/3xx        [off: passive only]
  --health-interval T        probe period                                       [${s(DEFAULTS.health.intervalMs)}]
  --health-timeout T         per-probe timeout (at most the interval)           [${s(DEFAULTS.health.timeoutMs)}]
  --health-fall N            failed probes in a row that mark a backend down    [${DEFAULTS.health.fall}]
  --health-rise N            passed probes in a row that mark it up             [${DEFAULTS.health.rise}]
  --eject-after N            failures of real traffic in a row that eject a
                             backend; 0 = never                                 [${DEFAULTS.ejection.after}]
  --eject-on-5xx             count 5xx answers as failures too                  [off]
  --eject-time T             first ejection; doubles per consecutive ejection,
                             up to 5m                                           [${s(DEFAULTS.ejection.timeMs)}]
  --max-ejected P            at most this share of backends ejected at once
                             (never the last eligible one)                      [${DEFAULTS.ejection.maxPercent}%]

Timeouts (a number with ms, s, m or h; a bare number is seconds):
  --connect-timeout T        upstream TCP connect, else 504                    [${s(DEFAULTS.upstream.connectMs)}]
  --upstream-timeout T       upstream response headers, else 504               [${s(DEFAULTS.upstream.headersMs)}]
  --upstream-idle-timeout T  silence inside an upstream response body, else
                             the client response is aborted                    [${s(DEFAULTS.upstream.bodyIdleMs)}]
  --client-header-timeout T  whole request head from a client, else 408        [${s(DEFAULTS.client.headersTimeoutMs)}]
  --client-body-timeout T    silence inside a request body, else 408           [${s(DEFAULTS.client.bodyIdleMs)}]
  --keep-alive-timeout T     idle client keep-alive connection is closed       [${s(DEFAULTS.client.keepAliveMs)}]
  --shutdown-timeout T       SIGTERM/SIGINT: time in-flight requests get        [${s(DEFAULTS.shutdownTimeoutMs)}]

Limits (bytes; k, m or g suffixes allowed):
  --max-header-size B        request line + headers, else 431                  [${DEFAULTS.client.maxHeaderBytes / 1024}k]
  --max-url-length B         request target, else 414                          [${DEFAULTS.client.maxUrlBytes / 1024}k]
  --max-body B               request body, else 413                            [no limit]
  --max-connections N        open client connections per listener thread       [${DEFAULTS.client.maxConnections}]

  --help                     this text

Every flag but --backend may be given once. Prints "listening on http://HOST:PORT" once
every listener accepts. Exit codes: 0 clean stop, 1 failed to start or crashed, 2 bad
flag, 3 stopped with requests aborted at the shutdown deadline.`;
