/**
 * @module The command-line entry: `node src/main.ts [flags]` (what `npm start` runs).
 * Parses flags, starts the balancer, prints where everything listens, and turns SIGINT
 * and SIGTERM into a graceful drain.
 */
import { parseCli, USAGE, UsageError } from './config/cli.ts';
import { hostForUrl, startBalancer } from './supervisor/supervisor.ts';

export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, ABORTED_AT_DEADLINE: 3 } as const;

const log = (line: string): void => console.log(`switchyard: ${line}`);

async function main(argv: readonly string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseCli(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`switchyard: ${error.message}`);
    process.exitCode = EXIT.USAGE;
    return;
  }
  if (parsed.kind === 'help') {
    console.log(USAGE);
    return;
  }
  const { config } = parsed;

  let balancer;
  try {
    balancer = await startBalancer(config, { log });
  } catch (error) {
    console.error(`switchyard: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = EXIT.FAILED;
    return;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    // A second signal is common (Ctrl-C reaches node from the terminal and again
    // through npm); the drain deadline already bounds how long stopping takes.
    if (stopping) return;
    stopping = true;
    log(`${signal}: draining in-flight requests (up to ${config.shutdownTimeoutMs / 1000}s)`);
    balancer.stop().then(
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
  // Only now: whoever waits for this line may signal us at once.
  const backends = balancer.origins.length;
  log(
    `listening on http://${hostForUrl(balancer.host)}:${balancer.port} ` +
      `(${config.threads} listener thread${config.threads === 1 ? '' : 's'}, ${config.algorithm} over ${backends} backend${backends === 1 ? '' : 's'})`,
  );
}

await main(process.argv.slice(2));
