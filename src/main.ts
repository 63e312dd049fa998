/**
 * @module The command-line entry: `node src/main.ts [flags]` (what `npm start` runs).
 * Parses flags (and the --config file), starts the demo backends when no backend is
 * given (no --backend, no DNS name), starts the
 * balancer, prints where everything listens, and turns SIGINT and SIGTERM into a
 * graceful drain. A takeover (src/takeover/) ends in the same drain: `--takeover` makes
 * this command a request to the running switchyard instead; POST /takeover and SIGUSR2
 * make the running one start its successor. Lifecycle lines go to stdout; backend state
 * changes and thread failures to stderr.
 */
import { startDemoBackends, type DemoBackends } from '../demo/demo-backends.ts';
import { parseCli, USAGE, UsageError } from './config/cli.ts';
import { runCheck } from './config/check.ts';
import { runCtl } from './ctl/ctl.ts';
import { runsDemoBackends, type Config } from './config/config.ts';
import { serverName } from './discovery/dns-client.ts';
import { removePidFile, writePidFile } from './supervisor/pid-file.ts';
import { hostForUrl } from './supervisor/listen-address.ts';
import { startBalancer, type Balancer } from './supervisor/supervisor.ts';
import { createTakeoverHandler } from './takeover/hand-over.ts';
import { takeInheritedSockets, type InheritedSockets } from './takeover/inherited-sockets.ts';
import { reportFailure, reportServing } from './takeover/predecessor.ts';
import { requestTakeover } from './takeover/takeover-request.ts';

export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, ABORTED_AT_DEADLINE: 3 } as const;

const log = (line: string): void => console.log(`switchyard: ${line}`);
const logEvent = (line: string): void => console.error(`switchyard: ${line}`);

/** A start that failed: said on stderr, and to the process this one was taking over from. */
async function failStart(lines: readonly string[], exitCode: number): Promise<void> {
  for (const line of lines) console.error(`switchyard: ${line}`);
  await reportFailure(lines.join('; '));
  process.exitCode = exitCode;
}

async function main(argv: readonly string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseCli(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return failStart(error.problems, EXIT.USAGE);
  }
  if (parsed.kind === 'help') {
    console.log(USAGE);
    return;
  }
  const built: Config = parsed.config;
  let config = built;
  for (const warning of parsed.warnings) console.error(`switchyard: warning: ${warning}`);
  if (parsed.takeover) {
    process.exitCode = await requestTakeover(config.admin as NonNullable<Config['admin']>, argv, log, logEvent);
    return;
  }

  let inherited: InheritedSockets | null;
  let demo: DemoBackends | null = null;
  let balancer: Balancer | null = null;
  let stopping = false;
  const takeover = createTakeoverHandler({
    config: () => config,
    args: argv,
    balancer: () => balancer,
    refusal: () =>
      demo !== null
        ? 'this switchyard runs the demo backends (no --backend), which would stop with it; start it with --backend to be able to take it over'
        : process.pid === 1
          ? 'this switchyard is PID 1 (a container), whose exit ends the container: replace the container instead (a rolling update)'
          : null,
    stopping: () => stopping,
    log: logEvent,
    drain: (successorPid) => drain(`takeover: pid ${successorPid} serves on the same sockets now`, true),
  });
  try {
    inherited = takeInheritedSockets();
    if (inherited !== null) log(`taking over from pid ${process.ppid}: adopting ${inherited.listeners.length} listening sockets`);
    if (runsDemoBackends(config)) {
      if (inherited !== null) throw new Error('a takeover needs --backend: demo backends cannot start beside the running ones');
      demo = await startDemoBackends({ host: config.host, port: config.port, count: config.spawnBackends, log });
      config = { ...config, backends: demo.origins.map((origin) => ({ origin, weight: 1 })) };
    }
    const reload = parsed.source.file === null ? undefined : { source: parsed.source, built, demoOrigins: demo?.origins ?? [] };
    balancer = await startBalancer(config, { log, logEvent, reload, inherited, takeover });
  } catch (error) {
    await demo?.stop();
    return failStart([error instanceof Error ? error.message : String(error)], EXIT.FAILED);
  }
  const running = balancer;
  function drain(why: string, handover: boolean): void {
    // A second signal is common (Ctrl-C reaches node from the terminal and again
    // through npm); the drain deadline already bounds how long stopping takes.
    if (stopping) return;
    stopping = true;
    log(`${why}: draining in-flight requests (up to ${running.config.shutdownTimeoutMs / 1000}s)`);
    const stopped = running.stop(undefined, { handover }).then(async (aborted) => {
      await demo?.stop();
      if (config.pidFile !== null) removePidFile(config.pidFile);
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
  }
  const stop = (signal: NodeJS.Signals): void => drain(signal, false);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // SIGHUP reloads the config file (certificates included), or without --config re-reads
  // the certificates; each reload logs what it did. Without either it is ignored.
  const { reloader } = running;
  process.on('SIGHUP', () => void (reloader === null ? running.reloadCertificates() : reloader.reload('SIGHUP')));
  // nginx's signal for its binary upgrade: a new process with the same flags takes over.
  process.on('SIGUSR2', () => {
    void takeover({ args: null, sockets: 'inherit', from: 'SIGUSR2' }).then((outcome) => outcome.ok && outcome.drain());
  });
  if (running.redirect) log(`redirecting http://${hostForUrl(running.host)}:${running.redirect.port} to https:// (308)`);
  if (running.admin) log(`admin on http://${hostForUrl(running.admin.host)}:${running.admin.port} (dashboard /, metrics /metrics)`);
  if (config.pidFile !== null) writePidFile(config.pidFile);
  // Only now: whoever waits for this line may signal us at once.
  const backends = config.backends.map(({ origin, weight }) => `${origin} (weight ${weight})`);
  const names = running.discovery.status().map(({ source, answers }) => `${source} (${answers} backend${answers === 1 ? '' : 's'})`);
  const servers = running.discovery.servers.map(serverName).join(', ');
  log(
    `listening on ${config.tls === null ? 'http' : 'https'}://${hostForUrl(running.host)}:${running.port} ` +
      `(${config.threads} listener thread${config.threads === 1 ? '' : 's'}, ${config.routing.algorithm} over ` +
      (backends.length > 0 || names.length === 0 ? `${backends.length} backend${backends.length === 1 ? '' : 's'}: ${backends.join(', ')}` : '') +
      (names.length > 0 ? `${backends.length > 0 ? '; ' : ''}DNS names ${names.join(', ')} asking ${servers}` : '') +
      ')',
  );
  // The process this one takes over from drains once it hears this.
  await reportServing();
}

const argv = process.argv.slice(2);
// `switchyard ctl ...` steers a running balancer, `switchyard check FILE` validates a
// config file; neither starts one.
if (argv[0] === 'ctl') process.exitCode = await runCtl(argv.slice(1));
else if (argv[0] === 'check') process.exitCode = runCheck(argv.slice(1));
else await main(argv);
