import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { COMMAND_FLAGS, parseCli, UsageError, USAGE } from '../../src/config/cli.ts';
import { startBalancerProcess } from '../fixtures/balancer-process.ts';
import type { Config } from '../../src/config/config.ts';
import { runCheck } from '../../src/config/check.ts';
import { SETTINGS } from '../../src/config/schema.ts';
import { within } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = join(ROOT, 'switchyard.example.toml');

/** A config file with `text` in a temporary folder removed after the test. */
function configFile(t: TestContext, text: string, name = 'switchyard.toml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function run(args: readonly string[]): Config {
  const parsed = parseCli(args, {});
  assert.equal(parsed.kind, 'run');
  return parsed.config;
}

function problems(args: readonly string[]): readonly string[] {
  try {
    parseCli(args, {});
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    for (const problem of error.problems) assert.doesNotMatch(problem, /\n/, 'one line per problem');
    return error.problems;
  }
  return assert.fail(`accepted: ${args.join(' ')}`);
}

const EVERY_SECTION = `
port = 0
host = "127.0.0.1"
threads = 3
max-backends = 10
shutdown-timeout = "4s"
access-log = "stderr"

[[backends]]
url = "http://127.0.0.1:9001"
weight = 3

[[backends]]
url = "http://localhost:9002"

[routing]
algorithm = "consistent-hash"
hash-key = "header:X-User"
hash-balance-factor = 1.25
sticky-cookie = "lb"
sticky-secret = "0123456789abcdef0123"
retries = 1
slow-start = "30s"

[health]
path = "/healthz"
interval = 5
timeout = "500ms"
fall = 2
rise = 4

[ejection]
after = 5
on-5xx = true
time = "20s"
max-ejected = "25%"

[upstream]
connect-timeout = "2s"
timeout = "1m"
idle-timeout = "45s"
connections = 32
backend-insecure = true
send-proxy-protocol = "v2"

[client]
header-timeout = "3s"
body-timeout = "4s"
keep-alive-timeout = "5s"
tunnel-idle-timeout = "10m"
allow-upgrade = ["foo/1.0"]
max-header-size = "32k"
max-url-length = "2k"
max-body = "1m"
max-connections = 500
accept-proxy-protocol = true

[admin]
port = 0
`;

const SAME_AS_FLAGS = [
  ...['--port', '0', '--host', '127.0.0.1', '--threads', '3', '--max-backends', '10', '--shutdown-timeout', '4s', '--access-log', 'stderr'],
  ...['--backend', 'http://127.0.0.1:9001,weight=3', '--backend', 'http://localhost:9002'],
  ...['--algorithm', 'consistent-hash', '--hash-key', 'header:X-User', '--hash-balance-factor', '1.25', '--sticky-cookie', 'lb', '--sticky-secret', '0123456789abcdef0123'],
  ...['--retries', '1', '--slow-start', '30s'],
  ...['--health-path', '/healthz', '--health-interval', '5', '--health-timeout', '500ms', '--health-fall', '2', '--health-rise', '4'],
  ...['--eject-after', '5', '--eject-on-5xx', '--eject-time', '20s', '--max-ejected', '25%'],
  ...['--connect-timeout', '2s', '--upstream-timeout', '1m', '--upstream-idle-timeout', '45s', '--upstream-connections', '32', '--backend-insecure', '--send-proxy-protocol', 'v2'],
  ...['--client-header-timeout', '3s', '--client-body-timeout', '4s', '--keep-alive-timeout', '5s', '--tunnel-idle-timeout', '10m', '--allow-upgrade', 'foo/1.0'],
  ...['--max-header-size', '32k', '--max-url-length', '2k', '--max-body', '1m', '--max-connections', '500', '--accept-proxy-protocol'],
  ...['--admin-port', '0'],
];

test('a file with every section gives the very Config the same flags give', (t) => {
  assert.deepEqual(run(['--config', configFile(t, EVERY_SECTION)]), run(SAME_AS_FLAGS));
});

test('flags override the file: a single value, and a list (the backends) as a whole', (t) => {
  const file = configFile(t, EVERY_SECTION);
  const config = run(['--config', file, '--threads', '1', '--backend', 'http://127.0.0.1:9100', '--connect-timeout', '9s']);
  assert.equal(config.threads, 1);
  assert.deepEqual(config.backends, [{ origin: 'http://127.0.0.1:9100', weight: 1 }]);
  assert.equal(config.upstream.connectMs, 9_000);
  // What the flags did not say still comes from the file.
  assert.equal(config.routing.algorithm, 'consistent-hash');
  assert.equal(config.client.maxBodyBytes, 1_048_576);
});

test('backends may also be written as the flag writes them, "URL[,weight=N]"', (t) => {
  const config = run(['--config', configFile(t, 'port = 0\nbackends = ["http://127.0.0.1:9001,weight=2", "http://127.0.0.1:9002"]\n')]);
  assert.deepEqual(config.backends, [
    { origin: 'http://127.0.0.1:9001', weight: 2 },
    { origin: 'http://127.0.0.1:9002', weight: 1 },
  ]);
});

test('relative paths in the file are taken from its folder, not the working directory', (t) => {
  const file = configFile(t, 'port = 0\naccess-log = "logs/access.log"\n');
  assert.deepEqual(run(['--config', file]).accessLog, { to: 'file', path: join(file, '..', 'logs', 'access.log') });
});

test('a bad file is refused with one line per problem: file, line, key path, value and what is allowed', (t) => {
  const file = configFile(
    t,
    [
      'port = 99999', // 1
      'conect-timeout = "5s"', // 2
      '[[backends]]', // 3
      'url = "http://127.0.0.1:9001"', // 4
      'weight = 0', // 5
      '[[backends]]', // 6
      'url = "ftp://127.0.0.1:9002"', // 7
      '[upstream]', // 8
      'connect-timeout = "5x"', // 9
      'timeout = true', // 10
      '[routing]', // 11
      'hash-key = "path"', // 12
      'algoritm = "random"', // 13
    ].join('\n'),
  );
  assert.deepEqual(problems(['--config', file]), [
    `${file}:1: port "99999" is not allowed: expected a whole number from 0 to 65535`,
    `${file}:2: unknown key conect-timeout; did you mean upstream.connect-timeout?`,
    `${file}:5: backends[0].weight 0 is not allowed: expected a whole number from 1 to 1000`,
    `${file}:7: backends[1].url "ftp://127.0.0.1:9002" is not allowed: expected the http or https scheme, got ftp`,
    `${file}:9: upstream.connect-timeout "5x" is not allowed: expected a duration from 1ms to 24h, like 500ms, 5s, 2m or 1h (a bare number is seconds)`,
    `${file}:10: upstream.timeout = true is not allowed: expected a string or a number, like "30s"`,
    `${file}:12: routing.hash-key "path" is not allowed with routing.algorithm round-robin: it applies to consistent-hash only`,
    `${file}:13: unknown key routing.algoritm; did you mean routing.algorithm?`,
  ]);
});

test('the wrong form for a key is refused by name: a table for a value, a string for a switch, an unknown table', (t) => {
  const file = configFile(t, 'upstream = 5\n[client]\naccept-proxy-protocol = "yes"\n[[backends]]\nurl = "http://127.0.0.1:9001"\nwieght = 2\n[limits]\nx = 1\n');
  const found = problems(['--config', file]);
  assert.deepEqual(found, [
    `${file}:1: upstream must be a table ([upstream]) of settings, not 5`,
    `${file}:3: client.accept-proxy-protocol = "yes" is not allowed: expected true or false`,
    `${file}:6: unknown key backends[0].wieght; expected url and weight`,
    `${file}:7: unknown key limits`,
  ]);
});

test('a TOML syntax error names the file, line and column; an unreadable file says why', (t) => {
  const file = configFile(t, 'port = 0\nhost = \n');
  assert.deepEqual(problems(['--config', file]), [`${file}:2: column 8: not valid TOML: invalid value`]);
  assert.deepEqual(problems(['--config', join(file, '..', 'missing.toml')]), [`${join(file, '..', 'missing.toml')}: cannot be read (ENOENT)`]);
});

test('a discovery problem in the file is named by its key and line, and on the command line by its flag', (t) => {
  const file = configFile(t, 'port = 0\n[discovery]\nbackend-dns = ["10.0.0.1:80"]\n');
  assert.deepEqual(problems(['--config', file]), [`${file}:3: discovery.backend-dns "10.0.0.1:80" is not allowed: that is an address, not a name: give it with --backend`]);
  assert.deepEqual(problems(['--backend-dns', '10.0.0.1:80']), ['--backend-dns "10.0.0.1:80" is not allowed: that is an address, not a name: give it with --backend']);
});

test('a problem with a flag given alongside the file is named by its flag, without the file', (t) => {
  const file = configFile(t, 'port = 0\n');
  assert.deepEqual(problems(['--config', file, '--threads', '0']), ['--threads "0" is not allowed: expected a whole number from 1 to 256']);
});

test('--watch-config needs --config', () => {
  assert.deepEqual(problems(['--watch-config']), ['--watch-config needs --config FILE: there is no file to watch']);
});

test('switchyard check FILE: 0 and a summary for a good file, 2 and every problem for a bad one', (t) => {
  const out: string[] = [];
  const err: string[] = [];
  const good = configFile(t, '[[backends]]\nurl = "http://127.0.0.1:9001"\n');
  assert.equal(runCheck([good], (line) => out.push(line), (line) => err.push(line)), 0);
  assert.match(out[0] ?? '', /: ok: http:\/\/127\.0\.0\.1:8080, \d+ listener threads?, round-robin over 1 backend, admin on 127\.0\.0\.1:9901$/);
  // Backends found in DNS are not demo backends.
  const dns = configFile(t, '[discovery]\nbackend-dns = ["api.internal:8080"]\n', 'dns.toml');
  assert.equal(runCheck([dns], (line) => out.push(line), (line) => err.push(line)), 0);
  assert.match(out[1] ?? '', /round-robin over 1 DNS name, admin on/);
  const bad = configFile(t, 'port = -1\nthreads = 0\n', 'bad.toml');
  assert.equal(runCheck([bad], (line) => out.push(line), (line) => err.push(line)), 2);
  assert.equal(err.length, 2);
  assert.ok(err.every((line) => line.startsWith(`switchyard: ${bad}:`)), err.join('\n'));
  assert.equal(runCheck([], () => {}, (line) => err.push(line)), 2);
});

// --- the schema against --help and the example file ------------------------------------

test('--help names every flag of the schema, and the schema has every flag --help names', () => {
  const helped = new Set([...USAGE.matchAll(/^ {2}(--[a-z0-9-]+)/gm)].map((match) => match[1]));
  for (const flag of COMMAND_FLAGS) helped.delete(`--${flag}`);
  assert.deepEqual([...helped].sort(), SETTINGS.map(({ flag }) => `--${flag}`).sort());
});

/** Key paths the example file writes, set or commented out (`# key = value`). */
function exampleKeys(text: string): Set<string> {
  const keys = new Set<string>();
  let table = '';
  for (const line of text.split('\n')) {
    const header = /^#?\s*\[{1,2}([a-z0-9.-]+)\]{1,2}\s*$/.exec(line);
    if (header?.[1] !== undefined) {
      table = header[1];
      continue;
    }
    const key = /^#?\s*([a-z0-9-]+)\s*=/.exec(line);
    if (key?.[1] !== undefined) keys.add(table === '' ? key[1] : `${table}.${key[1]}`);
  }
  return keys;
}

test('the example file writes every key of the schema, and no other', () => {
  const written = exampleKeys(readFileSync(EXAMPLE, 'utf8'));
  const expected = new Set<string>();
  for (const { key, form } of SETTINGS) {
    if (key === null) continue;
    if (form === 'backends') for (const field of ['url', 'weight']) expected.add(`${key}.${field}`);
    else if (form === 'certificates') for (const field of ['cert', 'key']) expected.add(`${key}.${field}`);
    else expected.add(key);
  }
  assert.deepEqual([...written].sort(), [...expected].sort());
});

test('the example file passes check, and a balancer starts from it as is (ports made ephemeral)', async (t) => {
  const out: string[] = [];
  assert.equal(runCheck([EXAMPLE], (line) => out.push(line), (line) => assert.fail(line)), 0);
  const balancer = await startBalancerProcess(t, ['--config', EXAMPLE, '--threads', '1']);
  const exited = once(balancer.child, 'exit');
  const stdout = balancer.stdout();
  assert.match(stdout, /round-robin over 2 backends: http:\/\/127\.0\.0\.1:9001 \(weight 1\), http:\/\/127\.0\.0\.1:9002 \(weight 2\)/);
  balancer.child.kill('SIGTERM');
  assert.deepEqual((await within(exited, 'exit', 15_000))[0], 0);
});
