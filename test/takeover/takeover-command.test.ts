/**
 * How an operator drives a takeover, and what happens when it cannot be done:
 * `switchyard --takeover [flags]` (exits 0 once the new process serves) and SIGUSR2 on
 * the PID in --pid-file; a new process that fails to start leaves the old one serving
 * and the answer says why; requests that cannot be carried out are refused with one line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { SwitchyardTree, waitUntilGone } from '../../bench/takeover/switchyard-process.ts';
import { parseCli } from '../../src/config/cli.ts';
import { socketsOfListener, takeInheritedSockets } from '../../src/takeover/inherited-sockets.ts';
import { startBackend, usageRefusal, waitFor } from '../helpers.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

async function get(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } });
  return `${res.status} ${await res.text()}`;
}

test('switchyard --takeover hands over and exits 0; SIGUSR2 to the PID in --pid-file hands over again', async (t) => {
  const backend = await startBackend(t, (req, res) => (req.resume(), res.end('ok')));
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-takeover-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pidFile = join(dir, 'switchyard.pid');
  const base = ['--threads', '1', '--backend', backend.origin, '--pid-file', pidFile];
  const tree = await SwitchyardTree.start(base);
  const pids: number[] = [tree.pid];
  t.after(() => tree.stop(pids));
  assert.equal(readFileSync(pidFile, 'utf8'), `${tree.pid}\n`);

  const command = spawn(process.execPath, [MAIN, '--takeover', ...tree.keepListeners(base)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  command.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
  command.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const [code] = await once(command, 'exit');
  assert.equal(code, 0, said);
  const successor = Number(/takeover: pid (\d+) serves now/.exec(said)?.[1]);
  pids.push(successor);
  assert.match(said, new RegExp(`pid ${tree.pid} drains and exits`));
  assert.equal(await tree.firstExited, 0);
  assert.equal(readFileSync(pidFile, 'utf8'), `${successor}\n`, 'the new process wrote its PID');
  assert.equal(await get(tree.port), '200 ok');

  process.kill(successor, 'SIGUSR2');
  await waitFor(() => readFileSync(pidFile, 'utf8') !== `${successor}\n`, 'a third process to write its PID', { timeoutMs: 30_000, intervalMs: 50 });
  const third = Number(readFileSync(pidFile, 'utf8'));
  pids.push(third);
  tree.pid = third;
  assert.ok(await waitUntilGone(successor, 20_000), 'the second process exits after SIGUSR2');
  assert.equal(await get(tree.port), '200 ok');
  assert.equal(readFileSync(pidFile, 'utf8'), `${third}\n`, 'the old process left the new PID in place');
});

test('a new process that cannot start: 500 with its reason, the old one keeps serving, nothing is left running', async (t) => {
  const backend = await startBackend(t, (req, res) => (req.resume(), res.end('ok')));
  const base = ['--threads', '1', '--backend', backend.origin];
  const tree = await SwitchyardTree.start(base);
  t.after(() => tree.stop());
  // Its admin port is the backend's, which is taken.
  const args = ['--port', String(tree.port), '--admin-port', String(backend.port), ...base];
  await assert.rejects(tree.takeover(args), /500: 500 Internal Server Error: the new process \(pid (\d+)\) could not start: cannot listen for admin on 127\.0\.0\.1:\d+: the port is already in use/);
  const failedPid = Number(/\(pid (\d+)\) could not start/.exec(tree.output)?.[1]);
  assert.ok(await waitUntilGone(failedPid, 10_000));
  assert.match(tree.output, /keeps serving/);
  assert.equal(tree.first.exitCode, null);
  assert.equal(await get(tree.port), '200 ok');
  // And a later takeover still works.
  const answer = await tree.takeover(tree.keepListeners(base));
  assert.ok(await waitUntilGone(answer.predecessor, 20_000));
  assert.equal(await get(tree.port), '200 ok');
});

test('takeovers that cannot be carried out are refused with one line, and change nothing', async (t) => {
  const backend = await startBackend(t, (req, res) => (req.resume(), res.end('ok')));
  const tree = await SwitchyardTree.start(['--threads', '1', '--backend', backend.origin]);
  t.after(() => tree.stop());
  const cases: Array<[string[] | null, RegExp]> = [
    [['--port', '1', '--backend', backend.origin], /^400: 400 Bad Request: the new --port 1 is not this process's \(\d+\)/],
    [['--host', '::1', '--backend', backend.origin], /^400: 400 Bad Request: the new --host ::1 is not this process's \(127\.0\.0\.1\)/],
    [['--threads', '0'], /^400: 400 Bad Request: the new flags are refused: --threads "0" is not allowed/],
    [['--port', '0'], /^400: 400 Bad Request: the new flags name no --backend/],
    [['--takeover', '--admin-port', '9', '--backend', backend.origin], /^400: 400 Bad Request: the new flags must not contain --takeover/],
  ];
  for (const [args, refusal] of cases) await assert.rejects(tree.takeover(args), (error: Error) => (assert.match(error.message.replace('POST /takeover answered ', ''), refusal), true));
  const badBody = await fetch(`http://127.0.0.1:${tree.adminPort}/takeover`, { method: 'POST', body: '{"args": "--port 1"}' });
  assert.equal(await badBody.text(), '400 Bad Request: "args" must be an array of strings: expected no body, or {"args": ["--flag", "value", ...]}\n');
  assert.equal((await fetch(`http://127.0.0.1:${tree.adminPort}/takeover`)).status, 405);
  assert.equal(tree.first.exitCode, null);
  assert.equal(await get(tree.port), '200 ok');
});

test('a switchyard running the demo backends refuses to be taken over (they would stop with it)', async (t) => {
  const tree = await SwitchyardTree.start(['--threads', '1', '--spawn-backends', '1']);
  t.after(() => tree.stop());
  await assert.rejects(tree.takeover(null), /409: 409 Conflict: this switchyard runs the demo backends/);
});

test('--takeover needs the running one\'s admin listener and backends of its own', () => {
  assert.match(usageRefusal(['--takeover', '--backend', 'http://127.0.0.1:9']), /^--takeover reaches the running switchyard through its admin listener: give its --admin-port \(not off\)/);
  assert.throws(() => parseCli(['--takeover', '--admin-port', '0', '--backend', 'http://127.0.0.1:9']), /\(not 0\)/);
  assert.throws(() => parseCli(['--takeover', '--admin-port', '9901']), /^UsageError: --takeover needs --backend \(or --backend-dns, --backend-srv\): demo backends/);
  // Backends from DNS are the new process's own too.
  const dns = parseCli(['--takeover', '--admin-port', '9901', '--backend-dns', 'api.internal:8080']);
  assert.ok(dns.kind === 'run' && dns.takeover);
  const parsed = parseCli(['--takeover', '--admin-port', '9901', '--backend', 'http://127.0.0.1:9']);
  assert.ok(parsed.kind === 'run' && parsed.takeover);
  assert.match(usageRefusal(['--pid-file', '']), /^--pid-file "" is not allowed: expected a file path/);
});

test('inherited sockets: every one is adopted by some listener thread; a malformed hand-over is refused', () => {
  const sockets = { listeners: Array.from({ length: 128 }, (_, i) => i + 4), admin: 132, redirect: null };
  for (const threads of [1, 2, 3, 5]) {
    const adopted = Array.from({ length: threads }, (_, listener) => socketsOfListener(sockets, listener, threads)).flat();
    assert.deepEqual([...adopted].sort((a, b) => a - b), sockets.listeners, `${threads} threads`);
  }
  const env: NodeJS.ProcessEnv = { SWITCHYARD_INHERITED_SOCKETS: JSON.stringify(sockets) };
  assert.deepEqual(takeInheritedSockets(env), sockets);
  assert.equal(env.SWITCHYARD_INHERITED_SOCKETS, undefined, 'taken out of the environment');
  assert.equal(takeInheritedSockets({}), null);
  assert.throws(() => takeInheritedSockets({ SWITCHYARD_INHERITED_SOCKETS: '{"listeners":[1],"admin":null,"redirect":null}' }), /is malformed/);
});

test('switchyard ctl healthz answers for probes; ctl takeover hands over with the same flags', async (t) => {
  const backend = await startBackend(t, (req, res) => (req.resume(), res.end('ok')));
  const tree = await SwitchyardTree.start(['--threads', '1', '--backend', backend.origin]);
  const pids = [tree.pid];
  t.after(() => tree.stop(pids));
  const ctl = async (command: string): Promise<{ code: number; said: string }> => {
    const child = spawn(process.execPath, [MAIN, 'ctl', '--admin', `http://127.0.0.1:${tree.adminPort}`, command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    child.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
    const [code] = await once(child, 'exit');
    return { code: code as number, said };
  };
  assert.deepEqual(await ctl('healthz'), { code: 0, said: 'ok: 1 of 1 listener threads accepting, 1 of 1 backends up\n' });
  const handed = await ctl('takeover');
  assert.equal(handed.code, 0, handed.said);
  const successor = Number(/^pid (\d+) serves now; pid \d+ drains and exits$/m.exec(handed.said)?.[1]);
  pids.push(successor);
  tree.pid = successor;
  assert.equal(await tree.firstExited, 0);
  assert.equal((await ctl('healthz')).code, 0);
  assert.equal(await get(tree.port), '200 ok');
});
