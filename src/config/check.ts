/**
 * @module `switchyard check FILE [flags]`: validates a config file (with any flags laid
 * over it, as at start) without starting anything. Exit 0 with a one-line summary of what
 * would run, or 2 with one line per problem.
 */
import { parseCli, UsageError } from './cli.ts';
import { runsDemoBackends, type Config } from './config.ts';
import { hostForUrl } from '../supervisor/listen-address.ts';

export const CHECK_USAGE = 'Usage: switchyard check FILE [flags]: validates the config file (and flags) without starting; exit 0 if good, 2 with its problems';

/** Returns the exit code; writes the summary to `out`, problems to `err`. */
export function runCheck(argv: readonly string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): number {
  const [file, ...flags] = argv;
  if (file === '--help' || file === '-h') {
    out(CHECK_USAGE);
    return 0;
  }
  if (file === undefined || file.startsWith('-')) {
    err(`switchyard: check needs the config file first. ${CHECK_USAGE}`);
    return 2;
  }
  try {
    const parsed = parseCli(['--config', file, ...flags]);
    if (parsed.kind === 'help') {
      out(CHECK_USAGE);
      return 0;
    }
    for (const warning of parsed.warnings) err(`switchyard: warning: ${warning}`);
    out(`${file}: ok: ${summary(parsed.config)}`);
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    for (const problem of error.problems) err(`switchyard: ${problem}`);
    return 2;
  }
}

function summary(config: Config): string {
  const backends = runsDemoBackends(config) ? `${config.spawnBackends} demo backends` : backendsAndNames(config);
  const listen = `${config.tls === null ? 'http' : 'https'}://${hostForUrl(config.host)}:${config.port}`;
  const admin = config.admin === null ? 'admin off' : `admin on ${config.admin.host}:${config.admin.port}`;
  return `${listen}, ${config.threads} listener thread${config.threads === 1 ? '' : 's'}, ${config.routing.algorithm} over ${backends}, ${admin}`;
}

function backendsAndNames({ backends, discovery }: Config): string {
  const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  const parts = [backends.length > 0 ? plural(backends.length, 'backend') : null, discovery.names.length > 0 ? plural(discovery.names.length, 'DNS name') : null];
  return parts.filter((part) => part !== null).join(' and ');
}
