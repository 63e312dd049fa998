/**
 * @module The flags of a takeover and of living under a service manager: --takeover (this
 * command asks the running switchyard to start a new process with these flags and hand
 * it its listening sockets; src/takeover/) and --pid-file (where the serving process's
 * PID is written, and rewritten by the process that takes over, so that systemd follows
 * it). Each bad combination is refused with one line.
 */
import { isAbsolute, resolve } from 'node:path';
import { runsDemoBackends, type Config } from './config.ts';
import { UsageError } from './flag-values.ts';

/** null without --pid-file. */
export function pidFileConfig(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  if (raw === '' || raw.startsWith('-')) throw new UsageError(`--pid-file ${JSON.stringify(raw)} is not allowed: expected a file path`);
  return isAbsolute(raw) ? raw : resolve(raw);
}

/**
 * --takeover finds the running switchyard through its admin listener (the address these
 * settings give it, which the new process keeps), and needs backends of its own.
 */
export function checkTakeover(takeover: boolean, { admin, backends, discovery }: Pick<Config, 'admin' | 'backends' | 'discovery'>): boolean {
  if (!takeover) return false;
  if (admin === null || admin.port === 0) {
    throw new UsageError(`--takeover reaches the running switchyard through its admin listener: give its --admin-port (not ${admin === null ? 'off' : '0'}), and --admin-host and --admin-token if it has them`);
  }
  if (runsDemoBackends({ backends, discovery })) {
    throw new UsageError('--takeover needs --backend (or --backend-dns, --backend-srv): demo backends (--spawn-backends) belong to the running switchyard and stop with it');
  }
  return true;
}
