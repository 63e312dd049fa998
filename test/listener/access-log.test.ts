/**
 * The access log (--access-log): one complete JSON line per request, written by the
 * listener threads themselves, that says what happened to it: the status sent (or 499),
 * body bytes both ways, the backend tried last and how many were tried, the upstream and
 * total times, and the balancer's error code when it answered itself. Refusals on the raw
 * socket get a line too, without method or path. Lines are all there, whole, once a
 * graceful stop returns, even from two threads into one file or one pipe; a destination
 * that takes nothing does not stop requests being served; with the log off, nothing is
 * written anywhere.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { deadPort, openRawClient, parseRawResponse, rawExchange, startBackend, startTestBalancer, waitFor } from '../helpers.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const REQUEST_KEYS = ['level', 'time', 'listener', 'client', 'method', 'path', 'status', 'bytes_in', 'bytes_out', 'backend', 'attempts', 'upstream_ms', 'total_ms', 'error'];

type Line = Record<string, unknown>;

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-access-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Every line of `text` parsed, after checking that the text is whole lines only. */
function parseLines(text: string): Line[] {
  assert.ok(text === '' || text.endsWith('\n'), `the log ends in the middle of a line: ${JSON.stringify(text.slice(-200))}`);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Line;
      } catch {
        assert.fail(`not a JSON line: ${JSON.stringify(line)}`);
      }
    });
}

/** The one line whose path is `path`. */
function lineFor(lines: readonly Line[], path: string): Line {
  const found = lines.filter((line) => line.path === path);
  assert.equal(found.length, 1, `expected one line for ${path}, got ${JSON.stringify(found)}`);
  return found[0]!;
}

test('--access-log PATH with two listener threads: one complete JSON line per request, saying what happened to it', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'logs', 'access.jsonl');
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/slow') return; // never answers: the client leaves first
    if (req.url === '/cut') {
      // A head, part of the body, then the connection dies.
      res.writeHead(200, { 'content-length': '100' });
      return void res.write('partial', () => res.socket?.destroy());
    }
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      if (req.url === '/missing') return void res.writeHead(404).end('not here');
      if (req.method === 'POST') return void res.end(`got ${bytes} bytes`);
      res.end('hello');
    });
  });
  const dead = `http://127.0.0.1:${await deadPort()}`;
  // Never ejected: the dead backend keeps its turn once it is added.
  const balancer = await startTestBalancer(t, ['--threads', '2', '--eject-after', '0', '--retries', '2', '--access-log', file, '--backend', backend.origin]);
  const agent = new Agent({ connections: 4 });
  t.after(() => agent.close());
  const send = async (path: string, options: { method?: 'GET' | 'POST'; body?: Buffer | Readable; fresh?: boolean } = {}) => {
    const { method = 'GET', body, fresh = false } = options;
    const res = await request(`${balancer.url}${path}`, { method, body, dispatcher: agent, headers: fresh ? { connection: 'close' } : {} });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const sentStatus = new Map<string, { status: number; bytes: number }>();
  const expectAnswer = async (path: string, status: number, options?: Parameters<typeof send>[1]) => {
    const answer = await send(path, options);
    assert.equal(answer.status, status, `${path}: ${answer.body}`);
    sentStatus.set(path, { status, bytes: Buffer.byteLength(answer.body) });
  };

  // One backend that answers.
  for (let i = 0; i < 3; i++) await expectAnswer(`/hello?n=${i}`, 200, { fresh: i === 1 });
  await expectAnswer('/missing', 404);
  await expectAnswer('/upload', 200, { method: 'POST', body: Buffer.alloc(1000, 'a') });
  // No length: sent chunked, streamed through.
  await expectAnswer('/upload-chunked', 200, { method: 'POST', body: Readable.from([Buffer.alloc(1500, 'b'), Buffer.alloc(1500, 'c')]) });
  // A response cut short by its backend: the client sees it truncated.
  const cut = await request(`${balancer.url}/cut`, { dispatcher: agent });
  assert.equal(cut.statusCode, 200);
  await assert.rejects(cut.body.text());
  // A client that leaves while the backend works on its request.
  const leaving = await openRawClient(t, balancer.port);
  leaving.write('GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await waitFor(() => backend.received.some((r) => r.url === '/slow'), 'the backend to receive /slow');
  leaving.destroy();

  // A dead backend joins: the requests whose turn lands on it are refused at connect
  // and sent on to the live one.
  balancer.table.addBackend({ origin: dead, weight: 1 });
  for (let i = 0; i < 6; i++) await expectAnswer(`/retried?n=${i}`, 200, { fresh: i % 2 === 0 });
  const deadStarted = balancer.state.snapshot(balancer.state.slotOf(dead)).started;
  // Only the dead one is left: each attempt is refused, then the balancer answers 502.
  balancer.table.disableBackend(backend.origin);
  await expectAnswer('/dead-only', 502);
  // None left: 503 from the balancer, no backend tried.
  balancer.table.disableBackend(dead);
  await expectAnswer('/none', 503);
  // A head over --max-header-size, refused on the raw socket before it is parsed.
  const oversized = await rawExchange(balancer.port, `GET /big HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`);
  const refusal = parseRawResponse(oversized.response);
  assert.equal(refusal.status, 431);

  // The last line is written when the connection of the leaving client is seen closed.
  await waitFor(async () => (await readFile(file, 'utf8')).includes('"/slow"'), 'the line of the client that left');
  const beforeStop = Date.now();
  await balancer.stop(2_000);
  const lines = parseLines(await readFile(file, 'utf8'));

  const requests = sentStatus.size + 2; // + /cut, /slow
  assert.equal(lines.length, requests + 1, `one line per request and one for the raw refusal:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
  for (const [path, { status, bytes }] of sentStatus) {
    const line = lineFor(lines, path);
    assert.deepEqual(Object.keys(line), REQUEST_KEYS, `${path}: the fields of a request line`);
    assert.equal(line.status, status, `${path}: status`);
    assert.equal(line.bytes_out, bytes, `${path}: bytes_out is the body the client got`);
    assert.equal(line.client, '127.0.0.1');
    assert.ok(line.listener === 0 || line.listener === 1, `${path}: listener ${String(line.listener)}`);
    assert.equal(typeof line.time, 'number');
    assert.ok((line.time as number) <= beforeStop && (line.time as number) > beforeStop - 120_000, `${path}: time is epoch milliseconds`);
    assert.equal(typeof line.total_ms, 'number');
    if (line.upstream_ms !== null) assert.ok((line.upstream_ms as number) <= (line.total_ms as number), `${path}: upstream time within the total`);
  }
  for (const path of ['/hello?n=0', '/hello?n=1', '/hello?n=2', '/missing', '/upload', '/upload-chunked']) {
    const line = lineFor(lines, path);
    assert.deepEqual({ backend: line.backend, attempts: line.attempts, error: line.error }, { backend: backend.origin, attempts: 1, error: null }, path);
    assert.equal(typeof line.upstream_ms, 'number', `${path}: upstream_ms`);
  }
  assert.equal(lineFor(lines, '/hello?n=0').method, 'GET');
  assert.deepEqual(
    ['/hello?n=0', '/upload', '/upload-chunked'].map((path) => [lineFor(lines, path).method, lineFor(lines, path).bytes_in]),
    [
      ['GET', 0],
      ['POST', 1000],
      ['POST', 3000],
    ],
    'bytes_in is the request body read',
  );

  const cutLine = lineFor(lines, '/cut');
  assert.deepEqual(
    { status: cutLine.status, error: cutLine.error, backend: cutLine.backend, attempts: cutLine.attempts, bytes_out: cutLine.bytes_out },
    { status: 200, error: 'BACKEND_FAILED', backend: backend.origin, attempts: 1, bytes_out: 'partial'.length },
    'the status relayed, the bytes that got through, and why the rest did not',
  );

  const slow = lineFor(lines, '/slow');
  assert.deepEqual(
    { status: slow.status, error: slow.error, backend: slow.backend, attempts: slow.attempts, upstream_ms: slow.upstream_ms, bytes_out: slow.bytes_out },
    { status: 499, error: 'CLIENT_CLOSED_REQUEST', backend: backend.origin, attempts: 1, upstream_ms: null, bytes_out: 0 },
  );

  const retried = [0, 1, 2, 3, 4, 5].map((i) => lineFor(lines, `/retried?n=${i}`));
  for (const line of retried) {
    assert.equal(line.backend, backend.origin, 'the backend that answered is the last one tried');
    assert.ok(line.attempts === 1 || line.attempts === 2, `attempts ${String(line.attempts)}`);
    assert.equal(line.error, null);
  }
  const twice = retried.filter((line) => line.attempts === 2).length;
  assert.ok(deadStarted >= 1, 'round robin gave the dead backend its turn');
  assert.equal(twice, deadStarted, 'each request sent to the dead backend first says attempts 2');

  const deadOnly = lineFor(lines, '/dead-only');
  assert.deepEqual(
    { backend: deadOnly.backend, attempts: deadOnly.attempts, error: deadOnly.error, upstream_ms: deadOnly.upstream_ms },
    { backend: dead, attempts: 3, error: 'BACKEND_FAILED', upstream_ms: null },
    'the first try and --retries 2 more, all at the dead backend',
  );
  const none = lineFor(lines, '/none');
  assert.deepEqual(
    { backend: none.backend, attempts: none.attempts, error: none.error, upstream_ms: none.upstream_ms },
    { backend: null, attempts: 0, error: 'NO_BACKEND', upstream_ms: null },
  );

  const raw = lines.filter((line) => !('path' in line));
  assert.equal(raw.length, 1, 'one line without a path: the raw refusal');
  assert.deepEqual(raw[0], {
    level: raw[0]!.level,
    time: raw[0]!.time,
    listener: raw[0]!.listener,
    client: '127.0.0.1',
    status: 431,
    bytes_in: 0,
    bytes_out: Buffer.byteLength(refusal.body, 'latin1'),
    backend: null,
    attempts: 0,
    upstream_ms: null,
    total_ms: null,
    error: 'HEADERS_TOO_LARGE',
  });
});

test('--access-log PATH: 200 concurrent requests over fresh connections to two threads appending to one file give 200 whole lines', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'access.jsonl');
  // A file that is already there is appended to, not replaced.
  await writeFile(file, '{"earlier":true}\n');
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const balancer = await startTestBalancer(t, ['--threads', '2', '--access-log', file, '--backend', backend.origin]);
  const count = 200;
  const agent = new Agent({ connections: count, pipelining: 0 });
  t.after(() => agent.close());
  const statuses = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const res = await request(`${balancer.url}/c/${i}`, { dispatcher: agent, headers: { connection: 'close' } });
      await res.body.dump();
      return res.statusCode;
    }),
  );
  assert.deepEqual(new Set(statuses), new Set([200]));
  await balancer.stop(2_000);

  const [earlier, ...lines] = parseLines(await readFile(file, 'utf8'));
  assert.deepEqual(earlier, { earlier: true });
  assert.equal(lines.length, count);
  assert.deepEqual(new Set(lines.map((line) => line.path)), new Set(Array.from({ length: count }, (_, i) => `/c/${i}`)), 'every request once');
  assert.deepEqual(new Set(lines.map((line) => line.listener)), new Set([0, 1]), 'both threads wrote to the file');
});

test('--access-log to a named pipe nobody reads yet: requests are still served; once it is read, every line arrives whole, after a graceful stop', async (t) => {
  const dir = await tempDir(t);
  // A named pipe whose reader does not read yet: a disk that has stopped taking writes.
  // Its 64 KiB buffer fills; the rest waits in the threads' memory.
  const fifo = join(dir, 'access.fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  // Opening a pipe waits for the other end: the reader first, the balancer's threads then.
  const opening = open(fifo, 'r');
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const balancer = await startTestBalancer(t, ['--threads', '2', '--access-log', fifo, '--backend', backend.origin]);
  const reader = await opening;
  t.after(() => reader.close());
  const agent = new Agent({ connections: 20 });
  t.after(() => agent.close());
  const count = 1000;
  for (let first = 0; first < count; first += 50) {
    const statuses = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const res = await request(`${balancer.url}/unread/${first + i}`, { dispatcher: agent });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    assert.deepEqual(new Set(statuses), new Set([200]), 'answered while the log is not read');
  }

  // The stop waits for the last lines, which the reader now takes; the pipe ends when
  // both threads have closed their end.
  const stopped = balancer.stop(5_000);
  let text = '';
  for await (const chunk of reader.createReadStream({ encoding: 'utf8' })) text += chunk;
  await stopped;
  const lines = parseLines(text);
  assert.equal(lines.length, count);
  assert.deepEqual(new Set(lines.map((line) => line.path)), new Set(Array.from({ length: count }, (_, i) => `/unread/${i}`)), 'every request once');
});

test('--access-log PATH that cannot be opened: the balancer does not start, and says why', async (t) => {
  const dir = await tempDir(t);
  const notADirectory = join(dir, 'plain-file');
  await writeFile(notADirectory, '');
  await assert.rejects(
    startTestBalancer(t, ['--access-log', join(notADirectory, 'access.jsonl')]),
    (error: Error) => /could not start: --access-log \S*plain-file\/access\.jsonl: cannot open it for appending \(E[A-Z]+: /.test(error.message),
  );
});

/** Runs `node src/main.ts` (demo backends) in `cwd`, sends `paths`, stops it with SIGTERM; its whole stdout. */
async function runCommand(t: TestContext, cwd: string, args: readonly string[], paths: readonly string[]): Promise<string> {
  const child = spawn(process.execPath, [MAIN, '--port', '0', '--admin-port', 'off', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  const exited = once(child, 'exit');
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await waitFor(() => /listening on http:\/\/127\.0\.0\.1:\d+ /.test(stdout), `the listening line; stderr: ${stderr}`, { timeoutMs: 15_000, intervalMs: 20 });
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+) /.exec(stdout)?.[1]);
  for (const path of paths) {
    const res = await request(`http://127.0.0.1:${port}${path}`, { reset: true });
    await res.body.dump();
    assert.equal(res.statusCode, 200, path);
  }
  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, `exit code; stderr: ${stderr}`);
  return stdout;
}

test('--access-log stdout: the lines are JSON among the lifecycle lines, all there after a graceful stop', async (t) => {
  const cwd = await tempDir(t);
  const paths = ['/one', '/two?x=1', '/three'];
  const stdout = await runCommand(t, cwd, ['--threads', '2', '--access-log', 'stdout'], paths);
  const lines = stdout.split('\n').filter((line) => line !== '');
  for (const line of lines) assert.match(line, /^(switchyard: |\{.*\}$)/, 'each line is a lifecycle line or a whole JSON line');
  const logged = parseLines(`${lines.filter((line) => line.startsWith('{')).join('\n')}\n`);
  assert.deepEqual(logged.map((line) => line.path).sort(), [...paths].sort());
  for (const line of logged) assert.deepEqual([line.method, line.status, line.attempts, line.error], ['GET', 200, 1, null]);
  assert.deepEqual(await readdir(cwd), [], 'no file written');
});

test('--access-log off: no line on stdout and no file written', async (t) => {
  const cwd = await tempDir(t);
  const stdout = await runCommand(t, cwd, ['--access-log', 'off'], ['/one', '/two']);
  const lines = stdout.split('\n').filter((line) => line !== '');
  assert.ok(lines.some((line) => line.includes('listening on')), stdout);
  for (const line of lines) assert.match(line, /^switchyard: /, 'only lifecycle lines');
  assert.deepEqual(await readdir(cwd), [], 'no file written (not even one named "off")');
});
