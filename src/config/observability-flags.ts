/**
 * @module The flags of what an operator sees and steers: the admin listener (--admin-port,
 * --admin-host, --admin-token or SWITCHYARD_ADMIN_TOKEN) and the access log
 * (--access-log). Each bad value is refused with one line naming the flag, the value and
 * what is allowed.
 */
import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { DEFAULTS, type AccessLogConfig, type AdminConfig } from './config.ts';
import { integer, UsageError } from './flag-values.ts';

/** A token shorter than this is guessable by anyone who can reach the port. */
const MIN_TOKEN_LENGTH = 16;

export interface ObservabilityValues {
  readonly 'admin-port'?: string | undefined;
  readonly 'admin-host'?: string | undefined;
  readonly 'admin-token'?: string | undefined;
  readonly 'access-log'?: string | undefined;
}

/** null when --admin-port off. */
export function adminConfig(values: ObservabilityValues, env: NodeJS.ProcessEnv, balancerPort: number): AdminConfig | null {
  const rawPort = values['admin-port'];
  if (rawPort === 'off') {
    for (const flag of ['admin-host', 'admin-token'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} cannot be combined with --admin-port off: there is no admin listener`);
    }
    return null;
  }
  const port = rawPort === undefined ? DEFAULTS.admin.port : adminPort(rawPort);
  if (port !== 0 && port === balancerPort) {
    throw new UsageError(`--admin-port ${port} is not allowed: it is the balancer's --port; the admin listener needs its own port (or off)`);
  }
  const host = values['admin-host'] ?? DEFAULTS.admin.host;
  if (isIP(host) === 0 && host !== 'localhost') {
    throw new UsageError(`--admin-host ${JSON.stringify(host)} is not allowed: expected an IP address (127.0.0.1, ::1, 0.0.0.0 ...) or localhost`);
  }
  const token = values['admin-token'] ?? env.SWITCHYARD_ADMIN_TOKEN ?? null;
  const source = values['admin-token'] !== undefined ? '--admin-token' : 'SWITCHYARD_ADMIN_TOKEN';
  if (token !== null && (token.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token))) {
    throw new UsageError(`${source} is not allowed: expected ${MIN_TOKEN_LENGTH} or more printable characters without spaces (got ${token.length} characters)`);
  }
  if (token === null && !isLoopback(host)) {
    throw new UsageError(
      `--admin-host ${host} is not allowed without a token: the admin listener can drain and remove backends; set --admin-token (or SWITCHYARD_ADMIN_TOKEN), or keep it on 127.0.0.1`,
    );
  }
  return { host, port, token };
}

function adminPort(raw: string): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`--admin-port ${JSON.stringify(raw)} is not allowed: expected a port from 0 to 65535, or off`);
  return integer('--admin-port', raw, DEFAULTS.admin.port, 0, 65535);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** null when off (the default). */
export function accessLogConfig(raw: string | undefined): AccessLogConfig | null {
  if (raw === undefined || raw === 'off') return null;
  if (raw === 'stdout' || raw === 'stderr') return { to: raw };
  if (raw === '' || raw.startsWith('-')) {
    throw new UsageError(`--access-log ${JSON.stringify(raw)} is not allowed: expected stdout, stderr, off, or a file path`);
  }
  return { to: 'file', path: isAbsolute(raw) ? raw : resolve(raw) };
}
