/**
 * @module Soak: a long load through the real balancer with a mix of normal, aborted and
 * erroring requests, reporting memory and open handles over time. They must be flat:
 * the run exits 1 if the listener heap (after GC) or the open file descriptors grow.
 *
 *   npm run soak -- [--duration 60s] [--concurrency 32] [--threads N]
 */
import { readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { Agent, request } from 'undici';
import { parseCli } from '../src/config/cli.ts';
import { startBalancer } from '../src/supervisor/supervisor.ts';

// Lets every listener thread collect garbage before it reports its heap (process-wide flag).
setFlagsFromString('--expose-gc');

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '60' }, concurrency: { type: 'string', default: '32' }, threads: { type: 'string', default: '2' } },
  strict: true,
});
const durationMs = Number.parseFloat(values.duration) * (values.duration.endsWith('ms') ? 1 : 1000);
const concurrency = Number(values.concurrency);
for (const [flag, value] of [['--duration', durationMs], ['--concurrency', concurrency]] as const) {
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`soak: ${flag} ${JSON.stringify(flag === '--duration' ? values.duration : values.concurrency)} is not allowed: expected a positive number`);
    process.exit(2);
  }
}

/** The upstream: /ok answers, /error dies before answering (a 502), /slow answers late. */
function startBackend(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    if (req.url === '/error') return void req.socket.destroy();
    if (req.url === '/slow') return void setTimeout(() => res.end('slow'), 50);
    res.end('ok');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const upstreams = await Promise.all([startBackend(), startBackend()]);
const origins = upstreams.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
const parsed = parseCli(['--port', '0', '--threads', values.threads, ...origins.flatMap((origin) => ['--backend', origin])]);
if (parsed.kind !== 'run') throw new Error('unreachable');
const balancer = await startBalancer(parsed.config);
const url = `http://127.0.0.1:${balancer.port}`;
const agent = new Agent({ connections: concurrency });

const counts = { ok: 0, badGateway: 0, aborted: 0, unexpected: 0 };
let running = true;

async function client(id: number): Promise<void> {
  for (let n = 0; running; n++) {
    const kind = (n + id) % 10;
    const path = kind === 0 ? '/error' : kind === 1 || kind === 2 ? '/slow' : '/ok';
    const abort = kind === 2 ? AbortSignal.timeout(10) : undefined; // vanishes while waiting
    try {
      const res = await request(url + path, { dispatcher: agent, signal: abort });
      await res.body.text();
      if (res.statusCode === 200) counts.ok++;
      else if (res.statusCode === 502) counts.badGateway++;
      else counts.unexpected++;
    } catch {
      if (abort?.aborted) counts.aborted++;
      else counts.unexpected++;
    }
  }
}

interface Sample {
  readonly seconds: number;
  readonly requests: number;
  readonly heapMb: number;
  readonly rssMb: number;
  readonly fds: number;
  readonly inFlight: number;
}

async function sample(startedAt: number): Promise<Sample> {
  const usage = await Promise.all(balancer.listeners.map((thread) => thread.usage({ collectGarbage: true })));
  return {
    seconds: Math.round((Date.now() - startedAt) / 1000),
    requests: counts.ok + counts.badGateway + counts.aborted + counts.unexpected,
    heapMb: usage.reduce((sum, u) => sum + (u?.heapUsedBytes ?? 0), 0) / 1024 / 1024,
    rssMb: process.memoryUsage.rss() / 1024 / 1024,
    fds: readdirSync('/proc/self/fd').length,
    inFlight: balancer.state.backends().reduce((sum, b) => sum + b.inFlight, 0),
  };
}

const row = (s: Sample): string =>
  `${String(s.seconds).padStart(5)}s ${String(s.requests).padStart(10)} ${s.heapMb.toFixed(1).padStart(10)} ${s.rssMb.toFixed(0).padStart(8)} ${String(s.fds).padStart(6)} ${String(s.inFlight).padStart(9)}`;

console.log(`soak: ${durationMs / 1000}s, ${concurrency} clients, ${values.threads} listener threads; 70% ok, 10% 502, 10% slow, 10% aborted while waiting`);
console.log(`${'time'.padStart(6)} ${'requests'.padStart(10)} ${'heap MB'.padStart(10)} ${'rss MB'.padStart(8)} ${'fds'.padStart(6)} ${'in flight'.padStart(9)}`);
const startedAt = Date.now();
const clients = Array.from({ length: concurrency }, (_, id) => client(id));
const samples: Sample[] = [];
const every = Math.max(1_000, Math.min(10_000, durationMs / 10));
while (Date.now() - startedAt < durationMs) {
  await new Promise((resolve) => setTimeout(resolve, Math.min(every, durationMs - (Date.now() - startedAt))));
  const s = await sample(startedAt);
  samples.push(s);
  console.log(row(s));
}
running = false;
await Promise.all(clients);
await agent.close();
await new Promise((resolve) => setTimeout(resolve, 200));
const settled = await sample(startedAt);
console.log(`${row(settled)}  (settled, load stopped)`);

// The first sample is the warm-up (code compiled, pools filled); flat means no growth after it.
const first = samples[0] ?? settled;
const heapGrowth = settled.heapMb - first.heapMb;
const fdGrowth = settled.fds - first.fds;
console.log(
  `\nrequests: ${counts.ok} ok, ${counts.badGateway} 502 (expected: /error), ${counts.aborted} aborted by the client (expected), ${counts.unexpected} unexpected`,
);
const verdicts = [
  [`listener heap after GC: ${first.heapMb.toFixed(1)} -> ${settled.heapMb.toFixed(1)} MB (limit +2 MB)`, heapGrowth <= 2],
  [`open file descriptors: ${first.fds} -> ${settled.fds} (limit +4)`, fdGrowth <= 4],
  [`in flight after the load: ${settled.inFlight} (must be 0)`, settled.inFlight === 0],
  [`unexpected outcomes: ${counts.unexpected} (must be 0)`, counts.unexpected === 0],
] as const;
for (const [text, ok] of verdicts) console.log(`${ok ? 'FLAT  ' : 'GREW  '} ${text}`);
console.log(`(rss is the whole process: balancer threads, this load generator and the upstreams; it is shown, not judged)`);

await balancer.stop(2_000);
await Promise.all(upstreams.map((server) => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve)))));
process.exitCode = verdicts.every(([, ok]) => ok) ? 0 : 1;
