/**
 * @module The command-line entry: `node src/main.ts [flags]` (what `npm start` runs).
 * Parses flags, starts the demo backends when no backend is given (no --backend, no DNS name), starts the
 * balancer, prints where everything listens, and turns SIGINT and SIGTERM into a
 * graceful drain. Lifecycle lines go to stdout; backend state changes and thread
 * failures to stderr.
 */
import { startDemoBackends, type DemoBackends } from '../demo/demo-backends.ts';
import { parseCli, USAGE, UsageError } from './config/cli.ts';
import { runCheck } from './config/check.ts';
import { runCtl } from './ctl/ctl.ts';
import type { Config } from './config/config.ts';
import { serverName } from './discovery/dns-client.ts';
import { hostForUrl, startBalancer } from './supervisor/supervisor.ts';

export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, ABORTED_AT_DEADLINE: 3 } as const;

const log = (line: string): void => console.log(`switchyard: ${line}`);
const logEvent = (line: string): void => console.error(`switchyard: ${line}`);

async function main(argv: readonly string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseCli(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    for (const problem of error.problems) console.error(`switchyard: ${problem}`);
    process.exitCode = EXIT.USAGE;
    return;
  }
  if (parsed.kind === 'help') {
    console.log(USAGE);
    return;
  }
  const built: Config = parsed.config;
  let config = built;
  for (const warning of parsed.warnings) console.error(`switchyard: warning: ${warning}`);

  let demo: DemoBackends | null = null;
  let balancer;
  try {
    if (config.backends.length === 0 && config.discovery.names.length === 0) {
      demo = await startDemoBackends({ host: config.host, port: config.port, count: config.spawnBackends, log });
      config = { ...config, backends: demo.origins.map((origin) => ({ origin, weight: 1 })) };
    }
    const reload = parsed.source.file === null ? undefined : { source: parsed.source, built, demoOrigins: demo?.origins ?? [] };
    balancer = await startBalancer(config, { log, logEvent, reload });
  } catch (error) {
    console.error(`switchyard: ${error instanceof Error ? error.message : String(error)}`);
    await demo?.stop();
    process.exitCode = EXIT.FAILED;
    return;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    // A second signal is common (Ctrl-C reaches node from the terminal and again
    // through npm); the drain deadline already bounds how long stopping takes.
    if (stopping) return;
    stopping = true;
    log(`${signal}: draining in-flight requests (up to ${balancer.config.shutdownTimeoutMs / 1000}s)`);
    const stopped = balancer.stop().then(async (aborted) => {
      await demo?.stop();
      return aborted;
    });
    stopped.then(
      (aborted) => {
        if (aborted > 0) {
          log(`stopped; ${aborted} request${aborted === 1 ? ' was' : 's were'} still running at the deadline and aborted`);
          process.exit(EXIT.ABORTED_AT_DEADLINE);
        }
        log('stopped');
        process.exit(EXIT.OK);
      },
      (error: unknown) => {
        console.error(`switchyard: shutdown failed: ${String(error)}`);
        process.exit(EXIT.FAILED);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // SIGHUP reloads the config file (certificates included), or without --config re-reads
  // the certificates; each reload logs what it did. Without either it is ignored.
  const { reloader } = balancer;
  process.on('SIGHUP', () => void (reloader === null ? balancer.reloadCertificates() : reloader.reload('SIGHUP')));
  if (balancer.redirect) log(`redirecting http://${hostForUrl(balancer.host)}:${balancer.redirect.port} to https:// (308)`);
  if (balancer.admin) log(`admin on http://${hostForUrl(balancer.admin.host)}:${balancer.admin.port} (dashboard /, metrics /metrics)`);
  // Only now: whoever waits for this line may signal us at once.
  const backends = config.backends.map(({ origin, weight }) => `${origin} (weight ${weight})`);
  const names = balancer.discovery.status().map(({ source, answers }) => `${source} (${answers} backend${answers === 1 ? '' : 's'})`);
  const servers = balancer.discovery.servers.map(serverName).join(', ');
  log(
    `listening on ${config.tls === null ? 'http' : 'https'}://${hostForUrl(balancer.host)}:${balancer.port} ` +
      `(${config.threads} listener thread${config.threads === 1 ? '' : 's'}, ${config.routing.algorithm} over ` +
      (backends.length > 0 || names.length === 0 ? `${backends.length} backend${backends.length === 1 ? '' : 's'}: ${backends.join(', ')}` : '') +
      (names.length > 0 ? `${backends.length > 0 ? '; ' : ''}DNS names ${names.join(', ')} asking ${servers}` : '') +
      ')',
  );
}

const argv = process.argv.slice(2);
// `switchyard ctl ...` steers a running balancer, `switchyard check FILE` validates a
// config file; neither starts one.
if (argv[0] === 'ctl') process.exitCode = await runCtl(argv.slice(1));
else if (argv[0] === 'check') process.exitCode = runCheck(argv.slice(1));
else await main(argv);
