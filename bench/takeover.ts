/**
 * @module The takeover measurement: load with a new connection per request while a
 * switchyard is replaced by a new process several times in a row, once the naive way
 * (`rebind`: the new process binds its own sockets beside the old ones with reusePort,
 * the old closes its own) and once as `--takeover` does it (`inherit`: the listening
 * sockets pass to the new process). Prints requests sent and failed, by reason, for each.
 *
 *   node bench/takeover.ts [--takeovers 5] [--interval 1.5] [--concurrency 32]
 *                          [--threads 2] [--modes rebind,inherit] [--wrk]
 *
 * --wrk loads with `wrk -H 'Connection: close'` instead of the Node client and prints
 * wrk's counts (it names no reason beyond connect/read/write/timeout). Exits 1 when the
 * inherit mode failed any request.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDemoBackends } from '../demo/demo-backends.ts';
import { failed, startNewConnectionLoad, type LoadCounts } from './takeover/new-connection-load.ts';
import { SwitchyardTree, waitUntilGone } from './takeover/switchyard-process.ts';
import { parseWrkOutput } from './peers/wrk.ts';

const { values } = parseArgs({
  options: {
    takeovers: { type: 'string', default: '5' },
    interval: { type: 'string', default: '1.5' },
    concurrency: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    modes: { type: 'string', default: 'rebind,inherit' },
    wrk: { type: 'boolean', default: false },
  },
  strict: true,
});
const takeovers = Number(values.takeovers);
const intervalMs = Number(values.interval) * 1000;
const concurrency = Number(values.concurrency);
const modes = values.modes.split(',') as Array<'rebind' | 'inherit'>;
for (const mode of modes) {
  if (mode !== 'rebind' && mode !== 'inherit') {
    console.error(`takeover bench: --modes ${JSON.stringify(values.modes)} is not allowed: expected rebind, inherit or both, comma-separated`);
    process.exit(2);
  }
}

interface Result {
  readonly mode: string;
  readonly sent: number;
  readonly failed: number;
  readonly detail: string;
}

async function measure(mode: 'rebind' | 'inherit'): Promise<Result> {
  const backends = await startDemoBackends({ host: '127.0.0.1', port: 0, count: 2 });
  const base = ['--threads', values.threads, ...backends.origins.flatMap((origin) => ['--backend', origin])];
  const tree = await SwitchyardTree.start(base);
  const predecessors: number[] = [];
  try {
    // Each takeover also waits for the new process to start (about a second here).
    const wrkSeconds = Math.ceil((500 + takeovers * (intervalMs + 2_000) + 1000) / 1000);
    const wrk = values.wrk
      ? spawn('wrk', ['--latency', '-t', '2', '-c', String(concurrency), '-d', `${wrkSeconds}s`, '--timeout', '5s', '-H', 'Connection: close', `http://127.0.0.1:${tree.port}/`])
      : null;
    let wrkOutput = '';
    wrk?.stdout.on('data', (chunk: Buffer) => (wrkOutput += chunk.toString()));
    const wrkExited = wrk === null ? null : new Promise((resolve) => wrk.once('exit', resolve));
    const load = wrk === null ? startNewConnectionLoad(tree.port, concurrency) : null;
    await sleep(500);
    for (let generation = 1; generation <= takeovers; generation++) {
      const answer = await tree.takeover(tree.keepListeners([...base, '--sticky-cookie', `gen${generation}`]), mode);
      predecessors.push(answer.predecessor);
      process.stdout.write(`  ${mode}: takeover ${generation}: pid ${answer.predecessor} -> ${answer.successor}\n`);
      await sleep(intervalMs);
    }
    let result: Result;
    if (load !== null) {
      const counts: LoadCounts = await load.stop();
      const reasons = Object.entries(counts.failures).map(([why, n]) => `${why} ${n}`).join(', ') || 'none';
      const served = Object.entries(counts.byGeneration).map(([generation, n]) => `${generation} ${n}`).join(', ');
      result = { mode, sent: counts.sent, failed: failed(counts), detail: `failures: ${reasons}; answered by generation: ${served}` };
    } else {
      await wrkExited;
      const figures = parseWrkOutput(wrkOutput);
      const errors = figures.socketErrors;
      const total = errors.connect + errors.read + errors.write + errors.timeout + figures.badStatus;
      result = { mode, sent: figures.requests, failed: total, detail: `wrk socket errors: connect ${errors.connect}, read ${errors.read}, write ${errors.write}, timeout ${errors.timeout}; non-2xx ${figures.badStatus}` };
    }
    for (const pid of predecessors) if (!(await waitUntilGone(pid, 30_000))) throw new Error(`pid ${pid} did not exit after it was taken over`);
    return result;
  } finally {
    await tree.stop(predecessors);
    await backends.stop();
  }
}

const results: Result[] = [];
for (const mode of modes) {
  console.log(`${mode}: ${takeovers} takeovers, ${intervalMs / 1000}s apart, ${concurrency} concurrent clients, a new connection per request (${values.wrk ? 'wrk' : 'node:http'})`);
  results.push(await measure(mode));
}
console.log('\nmode      sent      failed   detail');
for (const result of results) console.log(`${result.mode.padEnd(8)}  ${String(result.sent).padStart(7)}  ${String(result.failed).padStart(7)}   ${result.detail}`);
process.exitCode = results.some((result) => result.mode === 'inherit' && result.failed > 0) ? 1 : 0;
