/**
 * @module The balancer as the bench runs it: a child process that parses its argv with
 * the real CLI parser and starts the real balancer with `startBalancer`, exactly what
 * `node src/main.ts` does, and then answers the bench's questions over IPC. A process of
 * its own makes its CPU time and its RSS the balancer's alone: the load generator and
 * the backends live in the bench process.
 */
import { memoryUsage } from 'node:process';
import { parseCli } from '../../src/config/cli.ts';
import { startBalancer } from '../../src/supervisor/supervisor.ts';
import type { BalancerSnapshot, ChildReport, CpuMicros, ParentRequest } from './balancer-messages.ts';
import { SlotWatch } from './slot-watch.ts';

const STOP_TIMEOUT_MS = 2_000;

function report(message: ChildReport, then?: () => void): void {
  if (process.connected) process.send?.(message, undefined, {}, () => then?.());
  else then?.();
}

const parsed = parseCli(process.argv.slice(2));
if (parsed.kind !== 'run') throw new Error('balancer-process needs flags to run with, not --help');
const balancer = await startBalancer(parsed.config, { log: (line) => console.error(`balancer: ${line}`) });
const watch = new SlotWatch(balancer.state, (event) => report(event));
watch.start();

async function snapshot(id: number): Promise<BalancerSnapshot> {
  // The process-wide figure first, at the moment the question arrives; the per-thread
  // figures need a round trip to each listener thread.
  const processCpu = process.cpuUsage();
  const rssBytes = memoryUsage.rss();
  const main = process.threadCpuUsage();
  const usage = await Promise.all(balancer.listeners.map((thread) => thread.cpuUsage()));
  return {
    type: 'snapshot',
    id,
    processCpu,
    mainThreadCpu: { user: main.user, system: main.system },
    listenerCpu: usage.map((u): CpuMicros | null => u && { user: u.userMicros, system: u.systemMicros }),
    rssBytes,
    listenerHeapBytes: usage.reduce((sum, u) => sum + (u?.heapUsedBytes ?? 0), 0),
    backends: balancer.state.backends(),
    listeners: balancer.state.listeners(),
    retriesRefused: balancer.state.headerCount('retriesRefused'),
    noBackend: balancer.state.headerCount('noBackend'),
  };
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  watch.stop();
  const aborted = await balancer.stop(STOP_TIMEOUT_MS);
  report({ type: 'stopped', aborted }, () => process.exit(0));
}

process.on('message', (request: ParentRequest) => {
  if (request.type === 'snapshot') void snapshot(request.id).then((answer) => report(answer));
  else if (request.type === 'stop') void stop();
});
// The bench died or went away: nobody will ever ask us to stop.
process.on('disconnect', () => void stop());

report({
  type: 'listening',
  port: balancer.port,
  origins: parsed.config.backends.map((b) => b.origin),
  threads: balancer.listeners.length,
  adminPort: balancer.admin?.port ?? null,
});
