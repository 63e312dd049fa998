/**
 * Graceful shutdown of the real command (`node src/main.ts`): SIGTERM or SIGINT stops
 * accepting at once, lets in-flight requests finish, and exits 0; requests still running
 * at --shutdown-timeout are aborted and the exit code (3) says so.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { startBackend, waitFor } from '../helpers.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

interface RunningCommand {
  readonly child: ChildProcess;
  readonly port: number;
  /** Resolves when a line of output matches `pattern`. */
  waitForLine(pattern: RegExp): Promise<string>;
  readonly exited: Promise<number | string>;
}

async function runBalancer(t: { after: (fn: () => unknown) => void }, args: string[], detached = false): Promise<RunningCommand> {
  const child = spawn(process.execPath, [MAIN, '--port', '0', '--admin-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached });
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  const exited = once(child, 'exit').then(([code, signal]) => (code as number | null) ?? (signal as string));
  let output = '';
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
    for (const waiter of [...waiters]) {
      const line = output.split('\n').find((candidate) => waiter.pattern.test(candidate));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const waitForLine = (pattern: RegExp): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} in:\n${output}`)), 15_000);
      waiters.push({ pattern, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      onData(Buffer.alloc(0));
    });
  const listening = await waitForLine(/listening on http:\/\/127\.0\.0\.1:\d+ \(/);
  const port = Number(/:(\d+) \(/.exec(listening)?.[1]);
  return { child, port, waitForLine, exited };
}

/** An upstream that holds every request until `release()`, and counts arrivals. */
async function holdingUpstream(t: { after: (fn: () => unknown) => void }) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const upstream = await startBackend(t, (req, res) => {
    req.resume();
    void released.then(() => res.end(`done ${req.url}`));
  });
  return { ...upstream, release };
}

function connectOutcome(port: number): Promise<'refused' | 'connected'> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve('connected')));
    socket.once('error', () => resolve('refused'));
  });
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal}: 20 slow requests in flight all complete, a new connection is refused, exit 0`, async (t) => {
    const upstream = await holdingUpstream(t);
    const balancer = await runBalancer(t, ['--threads', '2', '--backend', upstream.origin]);
    const agent = new Agent({ connections: 20 });
    t.after(() => agent.close());
    const responses = Array.from({ length: 20 }, (_, i) =>
      request(`http://127.0.0.1:${balancer.port}/slow/${i}`, { dispatcher: agent }).then(async (res) => ({
        status: res.statusCode,
        body: await res.body.text(),
      })),
    );
    await waitFor(() => upstream.received.length === 20, '20 requests at the upstream');

    balancer.child.kill(signal);
    await balancer.waitForLine(/stopped accepting new connections; 20 requests in flight/);
    assert.equal(await connectOutcome(balancer.port), 'refused');

    upstream.release();
    const results = await Promise.all(responses);
    assert.deepEqual(
      results.map((r) => r.status),
      Array(20).fill(200),
    );
    assert.deepEqual(
      results.map((r) => r.body).sort(),
      Array.from({ length: 20 }, (_, i) => `done /slow/${i}`).sort(),
    );
    assert.equal(await balancer.exited, 0);
  });
}

test('SIGINT to the whole process group (as Ctrl-C sends it) drains once and exits 0', async (t) => {
  const upstream = await holdingUpstream(t);
  const balancer = await runBalancer(t, ['--threads', '2', '--backend', upstream.origin], true);
  const pending = request(`http://127.0.0.1:${balancer.port}/in-flight`);
  await waitFor(() => upstream.received.length === 1, 'the request at the upstream');
  process.kill(-balancer.child.pid!, 'SIGINT');
  await balancer.waitForLine(/stopped accepting new connections; 1 request in flight/);
  upstream.release();
  const res = await pending;
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'done /in-flight');
  assert.equal(await balancer.exited, 0);
});

test('a connection that has not sent a request yet does not hold up the drain', async (t) => {
  const upstream = await holdingUpstream(t);
  const balancer = await runBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--client-header-timeout', '60s', '--shutdown-timeout', '60s']);
  const silent = connect(balancer.port, '127.0.0.1');
  t.after(() => silent.destroy());
  silent.on('error', () => {}); // closed by the balancer: a reset is expected
  const closed = new Promise((resolve) => silent.once('close', resolve));
  await once(silent, 'connect');
  balancer.child.kill('SIGTERM');
  // Without the fix the drain waits for the 60 s head timeout, far past the 15 s wait below.
  const exitCode = await Promise.race([balancer.exited, new Promise((resolve) => setTimeout(resolve, 15_000, 'still running').unref())]);
  assert.equal(exitCode, 0);
  await closed;
});

test('requests still running at --shutdown-timeout are aborted and the exit code is 3', async (t) => {
  const upstream = await holdingUpstream(t); // never released
  const balancer = await runBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--shutdown-timeout', '300ms']);
  const pending = request(`http://127.0.0.1:${balancer.port}/stuck`).then(
    async (res) => ({ status: res.statusCode, body: await res.body.text().catch(() => 'aborted') }),
    (error: Error) => ({ status: 0, body: error.message }),
  );
  await waitFor(() => upstream.received.length === 1, 'the request at the upstream');
  balancer.child.kill('SIGTERM');
  await balancer.waitForLine(/1 request was still running at the deadline and aborted/);
  assert.equal(await balancer.exited, 3);
  const outcome = await pending;
  assert.notEqual(outcome.status, 200, 'the stuck request did not complete as a success');
});
