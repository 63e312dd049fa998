/**
 * @module `switchyard --takeover [flags]`: asks the running switchyard, through its admin
 * listener (the address the flags give, which the new process keeps), to start a new
 * process with these flags and hand it the listening sockets (POST /takeover). This
 * command does not become the new process: Node passes sockets only from a parent to
 * its child, so the running switchyard starts it. It prints the outcome and exits 0 once
 * the new process serves, 1 when the takeover was refused or failed (the running one
 * keeps serving then).
 */
import { adminClient, CtlError } from '../ctl/admin-client.ts';
import type { AdminConfig } from '../config/config.ts';
import { hostForUrl } from '../supervisor/listen-address.ts';

export const TAKEOVER_FLAG = '--takeover';

/** Where to reach an admin listener bound to `host` (a wildcard address means loopback). */
function reachable(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/** `log`: progress and success (stdout); `logError`: why it failed (stderr). */
export async function requestTakeover(admin: AdminConfig, argv: readonly string[], log: (line: string) => void, logError: (line: string) => void): Promise<0 | 1> {
  const args = argv.filter((arg) => arg !== TAKEOVER_FLAG);
  const base = `http://${hostForUrl(reachable(admin.host))}:${admin.port}`;
  log(`takeover: asking the switchyard at ${base} to hand over to a new process with these flags`);
  try {
    const answer = (await adminClient(base, admin.token).request('POST', '/takeover', { args })) as { successor: number; predecessor: number; command: string[] };
    log(`takeover: pid ${answer.successor} serves now (${answer.command.join(' ')}); pid ${answer.predecessor} drains and exits`);
    return 0;
  } catch (error) {
    if (!(error instanceof CtlError)) throw error;
    logError(`takeover failed: ${error.message}`);
    return 1;
  }
}
