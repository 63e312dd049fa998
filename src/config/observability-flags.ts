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
import type { SettingValues } from './setting-values.ts';

/** A token shorter than this is guessable by anyone who can reach the port. */
const MIN_TOKEN_LENGTH = 16;

/** null when --admin-port off. */
export function adminConfig(values: SettingValues, env: NodeJS.ProcessEnv, balancerPort: number): AdminConfig | null {
  const rawPort = values.text('admin-port');
  if (rawPort === 'off') {
    for (const flag of ['admin-host', 'admin-token'] as const) {
      if (values.has(flag)) throw new UsageError(`${values.name(flag)} cannot be combined with ${values.name('admin-port')} off: there is no admin listener`);
    }
    return null;
  }
  const port = rawPort === undefined ? DEFAULTS.admin.port : adminPort(values.name('admin-port'), rawPort);
  if (port !== 0 && port === balancerPort) {
    throw new UsageError(`${values.name('admin-port')} ${port} is not allowed: it is the balancer's ${values.name('port')}; the admin listener needs its own port (or off)`);
  }
  const host = values.text('admin-host') ?? DEFAULTS.admin.host;
  if (isIP(host) === 0 && host !== 'localhost') {
    throw new UsageError(`${values.name('admin-host')} ${JSON.stringify(host)} is not allowed: expected an IP address (127.0.0.1, ::1, 0.0.0.0 ...) or localhost`);
  }
  const token = values.text('admin-token') ?? env.SWITCHYARD_ADMIN_TOKEN ?? null;
  const source = values.has('admin-token') ? values.name('admin-token') : 'SWITCHYARD_ADMIN_TOKEN';
  if (token !== null && (token.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token))) {
    throw new UsageError(`${source} is not allowed: expected ${MIN_TOKEN_LENGTH} or more printable characters without spaces (got ${token.length} characters)`);
  }
  if (token === null && !isLoopback(host)) {
    throw new UsageError(
      `${values.name('admin-host')} ${host} is not allowed without a token: the admin listener can drain and remove backends; set ${values.name('admin-token')} (or SWITCHYARD_ADMIN_TOKEN), or keep it on 127.0.0.1`,
    );
  }
  return { host, port, token };
}

function adminPort(name: string, raw: string): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`${name} ${JSON.stringify(raw)} is not allowed: expected a port from 0 to 65535, or off`);
  return integer(name, raw, DEFAULTS.admin.port, 0, 65535);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** null when off (the default). */
export function accessLogConfig(name: string, raw: string | undefined): AccessLogConfig | null {
  if (raw === undefined || raw === 'off') return null;
  if (raw === 'stdout' || raw === 'stderr') return { to: raw };
  if (raw === '' || raw.startsWith('-')) {
    throw new UsageError(`${name} ${JSON.stringify(raw)} is not allowed: expected stdout, stderr, off, or a file path`);
  }
  return { to: 'file', path: isAbsolute(raw) ? raw : resolve(raw) };
}
