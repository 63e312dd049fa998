/**
 * @module The flags of a takeover and of living under a service manager: --takeover (this
 * command asks the running switchyard to start a new process with these flags and hand
 * it its listening sockets; src/takeover/) and --pid-file (where the serving process's
 * PID is written, and rewritten by the process that takes over, so that systemd follows
 * it). Each bad combination is refused with one line.
 */
import { isAbsolute, resolve } from 'node:path';
import type { AdminConfig, BackendConfig } from './config.ts';
import { UsageError } from './flag-values.ts';

export interface TakeoverValues {
  readonly takeover?: boolean | undefined;
  readonly 'pid-file'?: string | undefined;
}

export const TAKEOVER_OPTIONS = {
  takeover: { type: 'boolean' },
  'pid-file': { type: 'string' },
} as const;

/** null without --pid-file. */
export function pidFileConfig(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  if (raw === '' || raw.startsWith('-')) throw new UsageError(`--pid-file ${JSON.stringify(raw)} is not allowed: expected a file path`);
  return isAbsolute(raw) ? raw : resolve(raw);
}

/**
 * --takeover finds the running switchyard through its admin listener (the address these
 * flags give it, which the new process keeps), and needs backends of its own.
 */
export function checkTakeover(values: TakeoverValues, admin: AdminConfig | null, backends: readonly BackendConfig[]): boolean {
  if (values.takeover !== true) return false;
  if (admin === null || admin.port === 0) {
    throw new UsageError(`--takeover reaches the running switchyard through its admin listener: give its --admin-port (not ${admin === null ? 'off' : '0'}), and --admin-host and --admin-token if it has them`);
  }
  if (backends.length === 0) {
    throw new UsageError('--takeover needs --backend: demo backends (--spawn-backends) belong to the running switchyard and stop with it');
  }
  return true;
}
