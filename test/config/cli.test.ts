import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { request } from 'undici';
import { parseCli, UsageError } from '../../src/config/cli.ts';
import type { Config } from '../../src/config/config.ts';
import { within } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function config(args: readonly string[]): Config {
  const parsed = parseCli(args);
  assert.equal(parsed.kind, 'run');
  return parsed.config;
}

/** The UsageError message `args` are refused with; fails if they are accepted. */
function refusal(args: readonly string[]): string {
  try {
    parseCli(args);
  } catch (error) {
    assert.ok(error instanceof UsageError, `expected a UsageError for ${JSON.stringify(args)}, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/, 'a usage error is one line');
    return error.message;
  }
  assert.fail(`${JSON.stringify(args)} was accepted`);
}

// --- defaults and the shape of Config -------------------------------------------------

test('no flags give the documented defaults', () => {
  assert.deepEqual(config([]), {
    host: '127.0.0.1',
    port: 8080,
    backends: [],
    discovery: { names: [], resolvers: [], staleMs: 300_000 },
    spawnBackends: 2,
    threads: availableParallelism(),
    maxBackends: 64,
    routing: { algorithm: 'round-robin', hashKey: { from: 'ip' }, hashBalanceFactor: 0, sticky: null, retries: 2, slowStartMs: 0 },
    health: null,
    ejection: { after: 3, on5xx: false, timeMs: 10_000, maxPercent: 50 },
    upstream: { connectMs: 5_000, headersMs: 30_000, bodyIdleMs: 30_000, maxConnections: null, tls: { ca: null, insecure: false }, sendProxyProtocol: null },
    client: {
      headersTimeoutMs: 10_000,
      bodyIdleMs: 30_000,
      keepAliveMs: 10_000,
      tunnelIdleMs: 3_600_000,
      upgrades: ['websocket'],
      maxHeaderBytes: 16_384,
      maxUrlBytes: 8_192,
      maxBodyBytes: null,
      maxConnections: 10_000,
      acceptProxyProtocol: false,
      h2c: false,
      h2MaxStreams: 100,
    },
    shutdownTimeoutMs: 15_000,
    admin: { host: '127.0.0.1', port: 9901, token: null },
    accessLog: null,
    tls: null,
    pidFile: null,
  });
});

test('the parsed Config is frozen all the way down', () => {
  const parsed = config(['--backend', 'http://127.0.0.1:9001']);
  for (const part of [parsed, parsed.upstream, parsed.client, parsed.backends, parsed.backends[0], parsed.routing, parsed.ejection]) assert.ok(Object.isFrozen(part));
  assert.throws(() => {
    (parsed as { port: number }).port = 1;
  }, TypeError);
  assert.throws(() => (parsed.backends as unknown[]).push({ origin: 'http://x:1', weight: 1 }), TypeError);
});

test('--help asks for the usage text, whatever else is given', () => {
  assert.deepEqual(parseCli(['--help']), { kind: 'help' });
  assert.deepEqual(parseCli(['--port', '1', '--help']), { kind: 'help' });
});

// --- integers -----------------------------------------------------------------------

const INTEGER_FLAGS = [
  { flag: '--port', key: (c: Config) => c.port, valid: ['0', '1', '8080', '65535'], invalid: ['65536', '99999', 'abc', '1.5', '', '80x', '0x50', '1e3'], range: 'from 0 to 65535' },
  { flag: '--threads', key: (c: Config) => c.threads, valid: ['1', '3', '256'], invalid: ['0', '257', 'two', '2.0'], range: 'from 1 to 256' },
  { flag: '--spawn-backends', key: (c: Config) => c.spawnBackends, valid: ['1', '5', '64'], invalid: ['0', '65', 'x'], range: 'from 1 to 64' },
  { flag: '--max-connections', key: (c: Config) => c.client.maxConnections, valid: ['1', '500', '1000000'], invalid: ['0', '1000001', '10k'], range: 'from 1 to 1000000' },
] as const;

for (const { flag, key, valid, invalid, range } of INTEGER_FLAGS) {
  test(`${flag} accepts whole numbers ${range}`, () => {
    // Embedded backends would need ports above a high --port; external ones do not.
    const base = flag === '--port' ? ['--backend', 'http://127.0.0.1:9001'] : ['--port', '0'];
    for (const value of valid) assert.equal(key(config([...base, flag, value])), Number(value), `${flag} ${value}`);
  });

  test(`${flag} refuses values outside ${range}, naming the flag, the value and the range`, () => {
    for (const value of invalid) {
      assert.equal(refusal(flag === '--port' ? [flag, value] : ['--port', '0', flag, value]), `${flag} ${JSON.stringify(value)} is not allowed: expected a whole number ${range}`);
    }
  });
}

test('a negative number written as --flag=-1 is refused like any other bad value', () => {
  assert.match(refusal(['--port=-1']), /^--port "-1" is not allowed/);
  assert.match(refusal(['--threads=-2']), /^--threads "-2" is not allowed/);
});

test('a value that looks like a flag (--port -1) is refused, naming the flag', () => {
  assert.match(refusal(['--port', '-1']), /--port/);
});

test('--spawn-backends must fit above --port: ports up to port + N must exist', () => {
  assert.equal(config(['--port', '65533', '--spawn-backends', '2']).spawnBackends, 2);
  assert.equal(
    refusal(['--port', '65534', '--spawn-backends', '2']),
    '--spawn-backends 2 with --port 65534 needs ports up to 65536; the highest port is 65535',
  );
  assert.match(refusal(['--port', '65535']), /^--spawn-backends 2 with --port 65535/);
  // With external backends nothing is spawned, so the high port is fine.
  assert.equal(config(['--port', '65535', '--backend', 'http://127.0.0.1:9001']).port, 65535);
});

// --- host and algorithm -------------------------------------------------------------

test('--host accepts IP addresses and host names', () => {
  for (const host of ['0.0.0.0', '127.0.0.1', '::', '::1', 'fe80::1', 'localhost', 'lb-1.example.com', 'A.B']) {
    assert.equal(config(['--host', host]).host, host);
  }
});

test('--host refuses anything that is not an address or a name', () => {
  for (const host of ['', 'bad host', 'http://x', '-lead.example', 'trail-.example', 'a..b', 'x_y', '1.2.3.4:80', '[::1]']) {
    assert.equal(refusal([`--host=${host}`]), `--host ${JSON.stringify(host)} is not allowed: expected an IP address or a host name`);
  }
});

test('--algorithm accepts the six algorithms and refuses unknown names, listing the known ones', () => {
  for (const name of ['round-robin', 'least-connections', 'power-of-two', 'ewma', 'random', 'consistent-hash']) {
    assert.equal(config(['--algorithm', name]).routing.algorithm, name);
  }
  for (const name of ['leastconn', 'Round-Robin', '']) {
    assert.equal(
      refusal(['--algorithm', name]),
      `--algorithm ${JSON.stringify(name)} is not allowed: expected one of round-robin, least-connections, power-of-two, ewma, random, consistent-hash`,
    );
  }
});

// --- durations ----------------------------------------------------------------------

const DURATION_FLAGS = [
  { flag: '--connect-timeout', key: (c: Config) => c.upstream.connectMs },
  { flag: '--upstream-timeout', key: (c: Config) => c.upstream.headersMs },
  { flag: '--upstream-idle-timeout', key: (c: Config) => c.upstream.bodyIdleMs },
  { flag: '--client-header-timeout', key: (c: Config) => c.client.headersTimeoutMs },
  { flag: '--client-body-timeout', key: (c: Config) => c.client.bodyIdleMs },
  { flag: '--keep-alive-timeout', key: (c: Config) => c.client.keepAliveMs },
  { flag: '--shutdown-timeout', key: (c: Config) => c.shutdownTimeoutMs },
] as const;

const VALID_DURATIONS: ReadonlyArray<readonly [string, number]> = [
  ['500ms', 500],
  ['1ms', 1],
  ['5s', 5_000],
  ['2m', 120_000],
  ['3', 3_000],
  ['1.5s', 1_500],
  ['0.25', 250],
  [' 7s ', 7_000],
  ['1440m', 86_400_000],
  ['5h', 18_000_000],
  ['24h', 86_400_000],
];
const INVALID_DURATIONS = ['0', '0ms', '0.0001s', '1441m', '86400001ms', '25h', '5d', '5 s', 'abc', 's', '-1s', '1,5s', ''];

for (const { flag, key } of DURATION_FLAGS) {
  test(`${flag} accepts durations like 500ms, 5s, 2m and bare seconds`, () => {
    for (const [raw, ms] of VALID_DURATIONS) assert.equal(key(config([flag, raw])), ms, `${flag} ${JSON.stringify(raw)}`);
  });

  test(`${flag} refuses zero, over 24h and malformed durations, naming flag and value`, () => {
    for (const raw of INVALID_DURATIONS) {
      assert.match(refusal([`${flag}=${raw}`]), new RegExp(`^${flag} ${escape(JSON.stringify(raw))} is not allowed: expected a duration from 1ms to 24h`));
    }
  });
}

// --- sizes ---------------------------------------------------------------------------

test('sizes accept bytes and k, m, g suffixes in either case', () => {
  const cases: ReadonlyArray<readonly [string, number]> = [
    ['16384', 16_384],
    ['16k', 16_384],
    ['16K', 16_384],
    ['16kb', 16_384],
    ['1.5k', 1_536],
    ['1m', 1_048_576],
    ['2MB', 2_097_152],
    ['1g', 1_073_741_824],
    ['4096b', 4_096],
  ];
  for (const [raw, bytes] of cases) {
    assert.equal(config(['--max-body', raw]).client.maxBodyBytes, bytes, `--max-body ${raw}`);
  }
  assert.equal(config(['--max-header-size', '32k']).client.maxHeaderBytes, 32_768);
  assert.equal(config(['--max-url-length', '1k']).client.maxUrlBytes, 1_024);
});

test('--max-body defaults to no limit and accepts 0 (no body at all)', () => {
  assert.equal(config([]).client.maxBodyBytes, null);
  assert.equal(config(['--max-body', '0']).client.maxBodyBytes, 0);
});

test('sizes refuse malformed values and values below each flag\'s minimum, naming flag and value', () => {
  const cases: ReadonlyArray<readonly [string, string, number]> = [
    ['--max-body', 'abc', 0],
    ['--max-body', '1t', 0],
    ['--max-body', 'k', 0],
    ['--max-body=-1', '', 0],
    ['--max-header-size', '1023', 1_024],
    ['--max-header-size', '0.5k', 1_024],
    ['--max-url-length', '15', 16],
  ];
  for (const [flag, raw, min] of cases) {
    const args = raw === '' ? [flag] : [flag, raw];
    const name = flag.split('=')[0] ?? flag;
    const value = raw === '' ? (flag.split('=')[1] ?? '') : raw;
    assert.equal(refusal(args), `${name} ${JSON.stringify(value)} is not allowed: expected a size of at least ${min} bytes, like 16384, 16k or 1m`);
  }
});

test('--max-url-length must stay below --max-header-size, and the message names both', () => {
  assert.equal(
    refusal(['--max-header-size', '4k']),
    '--max-url-length 8192 must be below --max-header-size 4096: the request line is part of the head',
  );
  assert.match(refusal(['--max-url-length', '16k', '--max-header-size', '16k']), /--max-url-length 16384 must be below --max-header-size 16384/);
  assert.equal(config(['--max-header-size', '4k', '--max-url-length', '2k']).client.maxUrlBytes, 2_048);
});

// --- backends ------------------------------------------------------------------------

test('--backend is repeatable and keeps each origin in the order given', () => {
  const parsed = config(['--backend', 'http://127.0.0.1:9001', '--backend', 'http://LocalHost:9002/', '--backend', 'http://[::1]:9003']);
  assert.deepEqual(
    parsed.backends.map((backend) => backend.origin),
    ['http://127.0.0.1:9001', 'http://localhost:9002', 'http://[::1]:9003'],
  );
  assert.deepEqual(
    parsed.backends.map((backend) => backend.weight),
    [1, 1, 1],
  );
});

test('the same --backend given twice is refused, even when spelled differently', () => {
  for (const [a, b] of [
    ['http://127.0.0.1:9001', 'http://127.0.0.1:9001'],
    ['http://127.0.0.1:9001', 'http://127.0.0.1:9001/'],
    ['http://LOCALHOST:9001', 'http://localhost:9001'],
    ['http://127.0.0.1:80', 'http://127.0.0.1'],
  ] as const) {
    assert.match(refusal(['--backend', a, '--backend', b]), /^--backend http:\/\/\S+ is given twice; each backend may appear once$/);
  }
});

test('--backend refuses anything but a bare http or https origin: path, query, fragment, another scheme, credentials, port 0', () => {
  const cases: ReadonlyArray<readonly [string, RegExp]> = [
    ['http://127.0.0.1:9001/api', /no path, query or fragment/],
    ['http://127.0.0.1:9001/?x=1', /no path, query or fragment/],
    ['http://127.0.0.1:9001/#top', /no path, query or fragment/],
    ['ws://127.0.0.1:9001', /expected the http or https scheme, got ws/],
    ['ftp://127.0.0.1:9001', /expected the http or https scheme, got ftp/],
    ['http://user:secret@127.0.0.1:9001', /credentials in the URL are not supported/],
    ['http://user@127.0.0.1:9001', /credentials in the URL are not supported/],
    ['http://127.0.0.1:0', /port 0 cannot be connected to/],
    ['127.0.0.1:9001', /./],
    ['not a url', /expected an http or https URL like http:\/\/127.0.0.1:9001/],
    ['', /expected an http or https URL/],
  ];
  for (const [raw, why] of cases) {
    const message = refusal(['--backend', raw]);
    assert.ok(message.startsWith(`--backend ${JSON.stringify(raw)} is not allowed: `), message);
    assert.match(message, why);
  }
});

test('--spawn-backends cannot be combined with --backend', () => {
  assert.equal(
    refusal(['--backend', 'http://127.0.0.1:9001', '--spawn-backends', '2']),
    '--spawn-backends 2 cannot be combined with --backend: external backends replace the demo ones',
  );
  assert.match(refusal(['--spawn-backends', '3', '--backend', 'http://127.0.0.1:9001']), /^--spawn-backends 3 cannot be combined with --backend/);
});

// --- the command line itself --------------------------------------------------------

test('an unknown flag is refused by name', () => {
  assert.equal(refusal(['--bogus']), 'unknown flag --bogus; see --help for the flags there are');
  assert.match(refusal(['--port', '0', '--treads', '2']), /^unknown flag --treads/);
  assert.match(refusal(['-p', '80']), /^unknown flag -p/);
});

test('a flag without its value is refused by name', () => {
  for (const flag of ['--port', '--backend', '--threads', '--connect-timeout', '--max-body']) {
    assert.equal(refusal([flag]), `${flag} needs a value; see --help`);
  }
});

test('a boolean flag given a value is refused by name', () => {
  assert.match(refusal(['--help=yes']), /--help/);
});

test('a positional argument is refused, naming it', () => {
  assert.equal(refusal(['8080']), 'unexpected argument 8080: every setting is a --flag; see --help');
  assert.match(refusal(['--port', '0', 'extra']), /^unexpected argument extra:/);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// --- node src/main.ts as a process -------------------------------------------------

interface Run {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code (or the signal's name) within `timeoutMs`. */
  readonly exited: (timeoutMs?: number) => Promise<number | string>;
}

/** Starts `node src/main.ts ...args` and kills it at the end of the test if still running. */
function runMain(t: TestContext, args: readonly string[]): Run {
  const child = spawn(process.execPath, ['src/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited: (timeoutMs = 10_000) => within(exit, `switchyard ${args.join(' ')} to exit`, timeoutMs) };
}

const BAD_COMMAND_LINES: ReadonlyArray<{ args: readonly string[]; names: string }> = [
  { args: ['--bogus'], names: '--bogus' },
  { args: ['--port', '99999'], names: '--port "99999"' },
  { args: ['--threads', '0'], names: '--threads "0"' },
  { args: ['--backend-dns', 'api.internal'], names: '--backend-dns "api.internal"' },
  { args: ['--backend-srv', 'api.internal'], names: '--backend-srv "api.internal"' },
  { args: ['--backend-dns', 'api.internal:80', '--resolver', 'dns.internal'], names: '--resolver "dns.internal"' },
];

for (const { args, names } of BAD_COMMAND_LINES) {
  test(`node src/main.ts ${args.join(' ')} exits 2 with one stderr line naming ${names}`, async (t) => {
    const run = runMain(t, args);
    assert.equal(await run.exited(), 2);
    const lines = run.stderr().trimEnd().split('\n');
    assert.equal(lines.length, 1, `stderr: ${run.stderr()}`);
    assert.ok(lines[0]?.startsWith('switchyard: '), lines[0]);
    assert.ok(lines[0]?.includes(names), lines[0]);
    assert.equal(run.stdout(), '');
  });
}

test('node src/main.ts --help exits 0 and prints the usage to stdout', async (t) => {
  const run = runMain(t, ['--help']);
  assert.equal(await run.exited(), 0);
  assert.match(run.stdout(), /^Usage: switchyard \[flags\]/);
  for (const flag of ['--port', '--backend', '--spawn-backends', '--threads', '--shutdown-timeout', '--max-body']) assert.ok(run.stdout().includes(flag), flag);
  assert.equal(run.stderr(), '');
});

/** Resolves with the balancer's URL from its "switchyard: listening on http://..." line. */
function balancerUrl(run: Run): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const match = /^switchyard: listening on (http:\/\/\S+)/m.exec(run.stdout());
        if (match?.[1]) resolve(match[1]);
      };
      run.child.stdout?.on('data', check);
      run.child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${run.stderr()}`)));
    }),
    'the "switchyard: listening on http://" line',
    10_000,
  );
}

test('the first stdout line with "listening on http://" (the documented readiness line) names the balancer, not a backend', async (t) => {
  const run = runMain(t, ['--port', '0', '--admin-port', '0', '--threads', '1', '--spawn-backends', '2']);
  const url = await balancerUrl(run);
  const first = /listening on (http:\/\/\S+)/.exec(run.stdout())?.[1];
  // A script that waits for the documented line and takes the first match must get the
  // balancer's address; a backend's would bypass the balancer entirely.
  assert.equal(first, url, `stdout:\n${run.stdout()}`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`node src/main.ts serves in alternation, then stops cleanly (exit 0) on ${signal}`, async (t) => {
    const run = runMain(t, ['--port', '0', '--admin-port', '0', '--threads', '2', '--spawn-backends', '2']);
    const url = await balancerUrl(run);
    const backends = [...run.stdout().matchAll(/backend :(\d+) /g)].map((match) => match[1]);
    assert.equal(new Set(backends).size, 2, run.stdout());

    const names: string[] = [];
    for (let i = 0; i < 6; i++) {
      // A new connection each time, so that both listener threads take part.
      const res = await request(`${url}/x${i}`, { reset: true });
      assert.equal(res.statusCode, 200);
      const name = String(res.headers['x-backend']);
      assert.equal(await res.body.text(), `hello from backend :${name} (GET /x${i})\n`);
      names.push(name);
    }
    assert.deepEqual(new Set(names), new Set(backends));
    for (let i = 1; i < names.length; i++) assert.notEqual(names[i], names[i - 1], `request ${i} went to the same backend as ${i - 1}: ${names.join(',')}`);

    run.child.kill(signal);
    assert.equal(await run.exited(), 0, `stderr: ${run.stderr()}`);
    assert.match(run.stdout(), new RegExp(`${signal}: draining`));
    assert.match(run.stdout(), /^switchyard: stopped$/m);
  });
}

test('the startup line names the algorithm and lists every backend with its weight', async (t) => {
  const run = runMain(t, ['--port', '0', '--admin-port', '0', '--threads', '1', '--algorithm', 'least-connections', '--backend', 'http://127.0.0.1:9101,weight=3', '--backend', 'http://127.0.0.1:9102']);
  await balancerUrl(run);
  assert.match(
    run.stdout(),
    /^switchyard: listening on http:\/\/127\.0\.0\.1:\d+ \(1 listener thread, least-connections over 2 backends: http:\/\/127\.0\.0\.1:9101 \(weight 3\), http:\/\/127\.0\.0\.1:9102 \(weight 1\)\)$/m,
  );
  run.child.kill('SIGTERM');
  assert.equal(await run.exited(), 0, `stderr: ${run.stderr()}`);
});
