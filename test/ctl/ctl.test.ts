/**
 * `switchyard ctl` as a terminal user runs it: a separate process (`src/main.ts ctl ...`,
 * and `src/ctl/ctl.ts` as `npm run ctl` runs it) against a balancer started here with
 * its admin listener. Each command prints its one line and takes effect; an admin
 * refusal exits 1 with the admin's line; bad usage exits 2 naming what is wrong; an
 * unreachable admin listener exits 1 naming the URL.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deadPort, startTestBalancer } from '../helpers.ts';
import { createClient, startE2eBackend, tally } from '../fixtures/e2e-traffic.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE = `${ROOT}node_modules/.bin/node`;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node <entry> <args>` in the project root; the admin env variables only as given. */
function run(args: readonly string[], { entry = 'src/main.ts', env = {} }: { entry?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const { SWITCHYARD_ADMIN: _url, SWITCHYARD_ADMIN_TOKEN: _token, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [entry, ...args], { cwd: ROOT, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill(), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const ctl = (admin: string, ...args: string[]): Promise<Run> => run(['ctl', '--admin', admin, ...args]);

function assertDone(result: Run, stdout: RegExp, what: string): void {
  assert.equal(result.code, 0, `${what}: exit 0 expected; stderr ${result.stderr}`);
  assert.match(result.stdout, stdout, what);
  assert.equal(result.stderr, '', `${what}: nothing on stderr`);
}

function assertFailed(result: Run, code: 1 | 2, stderr: RegExp, what: string): void {
  assert.equal(result.code, code, `${what}: exit ${code} expected; stdout ${result.stdout} stderr ${result.stderr}`);
  assert.match(result.stderr, /^switchyard ctl: [^\n]+\n$/, `${what}: one line on stderr`);
  assert.match(result.stderr, stderr, what);
  assert.equal(result.stdout, '', `${what}: nothing on stdout`);
}

test('each ctl command prints one line and takes effect on the balancer', async (t) => {
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => startE2eBackend(t, name)));
  const balancer = await startTestBalancer(t, ['--threads', '2', '--admin-port', '0', '--backend', a!.origin, '--backend', b!.origin]);
  const admin = `http://127.0.0.1:${balancer.admin!.port}`;
  const client = createClient(t, balancer.url);
  const slotB = balancer.state.slotOf(b!.origin);
  const send = async (count: number): Promise<Record<string, number>> => {
    const answers = await client.sequence(count, (i) => `/ctl/${i}`);
    assert.ok(answers.every((x) => x.status === 200), 'no request failed');
    return tally(answers);
  };
  assert.deepEqual(await send(10), { a: 5, b: 5 });

  const status = await ctl(admin, 'status');
  assertDone(status, /^ID\s+ORIGIN\s+STATE\s+HEALTH\s+WEIGHT\s+IN FLIGHT\s+REQUESTS\s+5XX\s+P99\n/, 'status');
  const rows = status.stdout.trim().split('\n');
  assert.equal(rows.length, 4, status.stdout);
  assert.match(rows[1]!, new RegExp(`^ *0  ${a!.origin}  active +ok +1 +0 +5 +0 +[\\d.]+ms$`));
  assert.match(rows[2]!, new RegExp(`^ *1  ${b!.origin}  active +ok +1 +0 +5 +0 +[\\d.]+ms$`));
  assert.equal(rows[3], '2 backends, 2 taking new requests');

  assertDone(await ctl(admin, 'drain', String(slotB)), new RegExp(`^drained backend ${slotB} \\(${b!.origin}\\): state draining\\n$`), 'drain');
  assert.equal(balancer.state.slotState(slotB), 'draining');
  assert.deepEqual(await send(20), { a: 20 }, 'no new request reaches the drained backend');
  assert.ok(balancer.logged.includes(`admin: drain backend ${b!.origin} (from 127.0.0.1)`), balancer.logged.join('\n'));

  assertDone(await ctl(admin, 'enable', b!.origin), new RegExp(`^enabled backend ${slotB} \\(${b!.origin}\\): state active\\n$`), 'enable by origin');
  assertDone(await ctl(admin, 'disable', String(slotB)), /: state disabled\n$/, 'disable');
  assert.equal(balancer.state.slotState(slotB), 'disabled');
  assertDone(await ctl(admin, 'enable', String(slotB)), /: state active\n$/, 'enable');
  assertDone(await ctl(admin, 'weight', a!.origin, '3'), new RegExp(`^set weight of backend 0 \\(${a!.origin}\\) to 3 \\(effective 3\\)\\n$`), 'weight');
  assert.deepEqual(await send(40), { a: 30, b: 10 }, 'weights 3 and 1 split 40 requests exactly');

  assertDone(await ctl(admin, 'add', c!.origin, '2'), new RegExp(`^added backend 2 \\(${c!.origin}\\) with weight 2: state active\\n$`), 'add');
  assert.deepEqual(await send(60), { a: 30, b: 10, c: 20 });
  const backends = await ctl(admin, 'backends');
  assert.equal(backends.code, 0, backends.stderr);
  assert.deepEqual((JSON.parse(backends.stdout) as Array<{ origin: string; weight: number }>).map((x) => [x.origin, x.weight]), [
    [a!.origin, 3],
    [b!.origin, 1],
    [c!.origin, 2],
  ]);

  assertDone(await ctl(admin, 'remove', c!.origin), new RegExp(`^removed backend 2 \\(${c!.origin}\\)\\n$`), 'remove');
  assert.equal(balancer.state.slotOf(c!.origin), -1);
  const reachedC = c!.proxied.length;
  assert.deepEqual(await send(8), { a: 6, b: 2 });
  assert.equal(c!.proxied.length, reachedC);

  // The admin's refusals: exit 1, its one line on stderr.
  assertFailed(await ctl(admin, 'drain', '9'), 1, /^switchyard ctl: 404 Not Found: no backend "9"/, 'drain an unknown id');
  assertFailed(await ctl(admin, 'add', a!.origin), 1, /409 Conflict: backend http:\/\/127\.0\.0\.1:\d+ is already in the table/, 'add a duplicate');
  assertFailed(await ctl(admin, 'remove', c!.origin), 1, /404 Not Found: no backend/, 'remove what is gone');
});

test('npm run ctl (src/ctl/ctl.ts) honours SWITCHYARD_ADMIN and SWITCHYARD_ADMIN_TOKEN; without the token the admin refuses with 401', async (t) => {
  const [a] = await Promise.all(['a'].map((name) => startE2eBackend(t, name)));
  const token = 'ctl-test-token-0123456789';
  const balancer = await startTestBalancer(t, ['--admin-port', '0', '--admin-token', token, '--backend', a!.origin]);
  const admin = `http://127.0.0.1:${balancer.admin!.port}`;
  const direct = { entry: 'src/ctl/ctl.ts' };
  assertFailed(await run(['status'], { ...direct, env: { SWITCHYARD_ADMIN: admin } }), 1, /^switchyard ctl: 401 Unauthorized: .*Bearer/, 'no token');
  assertFailed(await run(['--token', 'wrong-token-0123456789', 'status'], { ...direct, env: { SWITCHYARD_ADMIN: admin } }), 1, /401 Unauthorized/, 'a wrong token');
  const withEnv = await run(['drain', '0'], { ...direct, env: { SWITCHYARD_ADMIN: admin, SWITCHYARD_ADMIN_TOKEN: token } });
  assertDone(withEnv, new RegExp(`^drained backend 0 \\(${a!.origin}\\): state draining\\n$`), 'token from the environment');
  assertDone(await run(['--token', token, 'status'], { ...direct, env: { SWITCHYARD_ADMIN: admin } }), new RegExp(`0  ${a!.origin}  draining`), 'token flag');
});

test('bad usage exits 2 naming what is wrong; an unreachable admin listener exits 1 naming its URL', async () => {
  const port = await deadPort();
  const nowhere = `http://127.0.0.1:${port}`;
  const [help, none, unknown, flag, arity, weight, origin, url, unreachable, unreachableDefault] = await Promise.all([
    run(['ctl', '--help']),
    run(['ctl']),
    run(['ctl', 'frobnicate']),
    run(['ctl', '--bogus', 'status']),
    run(['ctl', 'drain']),
    ctl(nowhere, 'weight', '0', 'heavy'),
    ctl(nowhere, 'add', 'ftp://127.0.0.1:9000'),
    run(['ctl', '--admin', 'ftp://127.0.0.1:1', 'status']),
    ctl(nowhere, 'drain', '0'),
    run(['ctl', 'status'], { env: { SWITCHYARD_ADMIN: nowhere } }),
  ]);
  assertDone(help, /^usage: switchyard ctl \[--admin URL\] \[--token T\] <command>\n[\s\S]*weight ID\|ORIGIN N/, '--help');
  assertFailed(none, 2, /which command\? one of status, backends, drain, disable, enable, weight, add, remove/, 'no command');
  assertFailed(unknown, 2, /unknown command "frobnicate": expected one of status, backends/, 'unknown command');
  assertFailed(flag, 2, /unknown flag --bogus; see ctl --help/, 'unknown flag');
  assertFailed(arity, 2, /ctl drain takes ID\|ORIGIN \(got none\)/, 'missing argument');
  assertFailed(weight, 2, /ctl weight: weight "heavy" is not allowed: expected a whole number from 1 to 1000/, 'bad weight');
  assertFailed(origin, 2, /ctl add: "ftp:\/\/127\.0\.0\.1:9000" is not a backend id or origin: expected the http or https scheme, got ftp/, 'bad origin');
  assertFailed(url, 2, /--admin \(or SWITCHYARD_ADMIN\) "ftp:\/\/127\.0\.0\.1:1" is not allowed: expected an http:\/\/ or https:\/\/ URL/, 'bad admin URL');
  for (const result of [unreachable, unreachableDefault]) {
    assertFailed(result, 1, new RegExp(`cannot reach the admin listener at ${nowhere} \\(ECONNREFUSED\\).*--admin-port off`), 'unreachable');
  }
});
