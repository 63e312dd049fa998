/**
 * @module The command line: parses and validates every flag once, at start, into a frozen
 * `Config`. A bad flag becomes a `UsageError` whose one-line message names the flag, the
 * value and what is allowed; the entry point prints it and exits with code 2.
 */
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { ALGORITHMS, type Algorithm } from '../picker/picker.ts';
import { DEFAULTS, type Config } from './config.ts';
import { backendOrigin, describeParseError, duration, integer, size, UsageError } from './flag-values.ts';

export { UsageError };

export const USAGE = `Usage: switchyard [flags]   (npm start -- [flags], or node src/main.ts [flags])

A multi-threaded HTTP load balancer whose routing state lives in shared memory.

  --port P                   balancer port, 0 = ephemeral                      [${DEFAULTS.port}]
  --host H                   balancer address                                   [${DEFAULTS.host}]
  --backend URL              external upstream http://host:port, repeatable;
                             when given, no embedded backends start
  --spawn-backends N         embedded worker-thread backends on port+1..port+N  [${DEFAULTS.spawnBackends}]
  --threads N                listener threads sharing the port (reusePort)     [CPUs: ${availableParallelism()}]
  --algorithm NAME           ${ALGORITHMS.join(', ')}                                        [${DEFAULTS.algorithm}]

Timeouts (a number with ms, s or m; a bare number is seconds):
  --connect-timeout T        upstream TCP connect, else 504                    [${DEFAULTS.upstream.connectMs / 1000}s]
  --upstream-timeout T       upstream response headers, else 504               [${DEFAULTS.upstream.headersMs / 1000}s]
  --upstream-idle-timeout T  silence inside an upstream response body, else
                             the client response is aborted                    [${DEFAULTS.upstream.bodyIdleMs / 1000}s]
  --client-header-timeout T  whole request head from a client, else 408        [${DEFAULTS.client.headersTimeoutMs / 1000}s]
  --client-body-timeout T    silence inside a request body, else 408           [${DEFAULTS.client.bodyIdleMs / 1000}s]
  --keep-alive-timeout T     idle client keep-alive connection is closed       [${DEFAULTS.client.keepAliveMs / 1000}s]
  --shutdown-timeout T       SIGTERM/SIGINT: time in-flight requests get        [${DEFAULTS.shutdownTimeoutMs / 1000}s]

Limits (bytes; k, m or g suffixes allowed):
  --max-header-size B        request line + headers, else 431                  [${DEFAULTS.client.maxHeaderBytes / 1024}k]
  --max-url-length B         request target, else 414                          [${DEFAULTS.client.maxUrlBytes / 1024}k]
  --max-body B               request body, else 413                            [no limit]
  --max-connections N        open client connections per listener thread       [${DEFAULTS.client.maxConnections}]

  --help                     this text

Prints "listening on http://HOST:PORT" once every listener accepts. Exit codes: 0 clean
stop, 1 failed to start or crashed, 2 bad flag, 3 stopped with requests aborted at the
shutdown deadline.`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  backend: { type: 'string', multiple: true },
  'spawn-backends': { type: 'string' },
  threads: { type: 'string' },
  algorithm: { type: 'string' },
  'connect-timeout': { type: 'string' },
  'upstream-timeout': { type: 'string' },
  'upstream-idle-timeout': { type: 'string' },
  'client-header-timeout': { type: 'string' },
  'client-body-timeout': { type: 'string' },
  'keep-alive-timeout': { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  'max-header-size': { type: 'string' },
  'max-url-length': { type: 'string' },
  'max-body': { type: 'string' },
  'max-connections': { type: 'string' },
  help: { type: 'boolean' },
} as const;

export type CliResult = { readonly kind: 'help' } | { readonly kind: 'run'; readonly config: Config };

export function parseCli(argv: readonly string[]): CliResult {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  if (values.help) return { kind: 'help' };

  const port = integer('--port', values.port, DEFAULTS.port, 0, 65535);
  const backends = (values.backend ?? []).map((url) => backendOrigin(url));
  const duplicate = backends.find((origin, i) => backends.indexOf(origin) !== i);
  if (duplicate) throw new UsageError(`--backend ${duplicate} is given twice; each upstream may appear once`);
  if (backends.length > 0 && values['spawn-backends'] !== undefined) {
    throw new UsageError(`--spawn-backends ${values['spawn-backends']} cannot be combined with --backend: external backends replace the embedded ones`);
  }
  const spawnBackends = integer('--spawn-backends', values['spawn-backends'], DEFAULTS.spawnBackends, 1, 64);
  if (backends.length === 0 && port !== 0 && port + spawnBackends > 65535) {
    throw new UsageError(`--spawn-backends ${spawnBackends} with --port ${port} needs ports up to ${port + spawnBackends}; the highest port is 65535`);
  }
  const config: Config = {
    host: host(values.host),
    port,
    backends,
    spawnBackends,
    threads: integer('--threads', values.threads, availableParallelism(), 1, 256),
    algorithm: algorithm(values.algorithm),
    upstream: {
      connectMs: duration('--connect-timeout', values['connect-timeout'], DEFAULTS.upstream.connectMs),
      headersMs: duration('--upstream-timeout', values['upstream-timeout'], DEFAULTS.upstream.headersMs),
      bodyIdleMs: duration('--upstream-idle-timeout', values['upstream-idle-timeout'], DEFAULTS.upstream.bodyIdleMs),
    },
    client: {
      headersTimeoutMs: duration('--client-header-timeout', values['client-header-timeout'], DEFAULTS.client.headersTimeoutMs),
      bodyIdleMs: duration('--client-body-timeout', values['client-body-timeout'], DEFAULTS.client.bodyIdleMs),
      keepAliveMs: duration('--keep-alive-timeout', values['keep-alive-timeout'], DEFAULTS.client.keepAliveMs),
      maxHeaderBytes: size('--max-header-size', values['max-header-size'], DEFAULTS.client.maxHeaderBytes, 1024),
      maxUrlBytes: size('--max-url-length', values['max-url-length'], DEFAULTS.client.maxUrlBytes, 16),
      maxBodyBytes: values['max-body'] === undefined ? DEFAULTS.client.maxBodyBytes : size('--max-body', values['max-body'], 0, 0),
      maxConnections: integer('--max-connections', values['max-connections'], DEFAULTS.client.maxConnections, 1, 1_000_000),
    },
    shutdownTimeoutMs: duration('--shutdown-timeout', values['shutdown-timeout'], DEFAULTS.shutdownTimeoutMs),
  };
  if (config.client.maxUrlBytes >= config.client.maxHeaderBytes) {
    throw new UsageError(`--max-url-length ${config.client.maxUrlBytes} must be below --max-header-size ${config.client.maxHeaderBytes}: the request line is part of the head`);
  }
  return { kind: 'run', config: deepFreeze(config) };
}

function host(raw: string | undefined): string {
  if (raw === undefined) return DEFAULTS.host;
  if (isIP(raw) !== 0 || /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(raw)) return raw;
  throw new UsageError(`--host ${JSON.stringify(raw)} is not allowed: expected an IP address or a host name`);
}

function algorithm(raw: string | undefined): Algorithm {
  if (raw === undefined) return DEFAULTS.algorithm;
  const known = ALGORITHMS.find((name) => name === raw);
  if (known) return known;
  throw new UsageError(`--algorithm ${JSON.stringify(raw)} is not allowed: expected one of ${ALGORITHMS.join(', ')}`);
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) {
    if (inner && typeof inner === 'object') deepFreeze(inner);
  }
  return Object.freeze(value);
}
