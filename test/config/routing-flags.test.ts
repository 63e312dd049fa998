import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCli, UsageError } from '../../src/config/cli.ts';
import type { Config } from '../../src/config/config.ts';

const BACKEND = ['--port', '0', '--backend', 'http://127.0.0.1:9001'];
const NO_ENV = {};

function config(args: readonly string[], env: NodeJS.ProcessEnv = NO_ENV): Config {
  const parsed = parseCli([...BACKEND, ...args], env);
  assert.equal(parsed.kind, 'run');
  return parsed.config;
}

/** The one-line UsageError message `args` are refused with; fails if they are accepted. */
function refusal(args: readonly string[], env: NodeJS.ProcessEnv = NO_ENV): string {
  try {
    parseCli([...BACKEND, ...args], env);
  } catch (error) {
    assert.ok(error instanceof UsageError, `expected a UsageError for ${JSON.stringify(args)}, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/, 'a usage error is one line');
    return error.message;
  }
  assert.fail(`${JSON.stringify(args)} was accepted`);
}

// --- weights --------------------------------------------------------------------------

test('--backend URL,weight=N gives that backend weight N (1 when not given)', () => {
  const parsed = parseCli(['--backend', 'http://127.0.0.1:9001,weight=3', '--backend', 'http://127.0.0.1:9002', '--backend', 'http://[::1]:9003,weight=1000'], NO_ENV);
  assert.ok(parsed.kind === 'run');
  assert.deepEqual(parsed.config.backends, [
    { origin: 'http://127.0.0.1:9001', weight: 3 },
    { origin: 'http://127.0.0.1:9002', weight: 1 },
    { origin: 'http://[::1]:9003', weight: 1000 },
  ]);
});

test('--backend refuses a weight outside 1..1000 or anything but weight=N after the comma, naming the value', () => {
  for (const raw of ['http://127.0.0.1:9002,weight=0', 'http://127.0.0.1:9002,weight=1001', 'http://127.0.0.1:9002,weight=-1', 'http://127.0.0.1:9002,weight=1.5']) {
    const message = refusal(['--backend', raw]);
    assert.ok(message.startsWith(`--backend ${JSON.stringify(raw)} is not allowed: `), message);
    assert.match(message, /weight must be a whole number from 1 to 1000|expected URL or URL,weight=N/);
  }
  for (const raw of ['http://127.0.0.1:9002,', 'http://127.0.0.1:9002,wieght=2', 'http://127.0.0.1:9002,weight=', 'http://127.0.0.1:9002,weight=2,backup']) {
    assert.match(refusal(['--backend', raw]), /expected URL or URL,weight=N \(got /);
  }
  assert.match(refusal(['--backend', 'ftp://127.0.0.1:9002,weight=2']), /^--backend "ftp:\/\/127\.0\.0\.1:9002,weight=2" is not allowed: expected the http or https scheme/);
});

test('the same backend twice is refused even with different weights', () => {
  assert.match(refusal(['--backend', 'http://127.0.0.1:9001,weight=2']), /^--backend http:\/\/127\.0\.0\.1:9001 is given twice/);
});

// --- --max-backends --------------------------------------------------------------------

test('--max-backends defaults to 64, or to the number of backends given when that is more', () => {
  assert.equal(config([]).maxBackends, 64);
  const many = Array.from({ length: 70 }, (_, i) => ['--backend', `http://127.0.0.1:${10_000 + i}`]).flat();
  const parsed = parseCli(many, NO_ENV);
  assert.equal(parsed.kind === 'run' && parsed.config.maxBackends, 70);
  assert.equal(config(['--max-backends', '1000']).maxBackends, 1000);
});

test('--max-backends below the number of backends given, or above 1024, is refused', () => {
  assert.equal(
    refusal(['--backend', 'http://127.0.0.1:9002', '--max-backends', '1']),
    '--max-backends 1 is not allowed: 2 backends are given, so at least 2 slots are needed',
  );
  assert.equal(refusal(['--max-backends', '1025']), '--max-backends "1025" is not allowed: expected a whole number from 1 to 1024');
  assert.throws(() => parseCli(['--port', '0', '--spawn-backends', '3', '--max-backends', '2'], NO_ENV), {
    name: 'UsageError',
    message: '--max-backends 2 is not allowed: 3 backends are given, so at least 3 slots are needed',
  });
});

// --- algorithm options -----------------------------------------------------------------

test('--hash-key takes ip, path, header:NAME (case-insensitive), cookie:NAME, query:NAME', () => {
  const key = (raw: string): Config['routing']['hashKey'] => config(['--algorithm', 'consistent-hash', '--hash-key', raw]).routing.hashKey;
  assert.deepEqual(config(['--algorithm', 'consistent-hash']).routing.hashKey, { from: 'ip' });
  assert.deepEqual(key('ip'), { from: 'ip' });
  assert.deepEqual(key('path'), { from: 'path' });
  assert.deepEqual(key('header:X-User-Id'), { from: 'header', name: 'x-user-id' });
  assert.deepEqual(key('cookie:session'), { from: 'cookie', name: 'session' });
  assert.deepEqual(key('query:user'), { from: 'query', name: 'user' });
});

test('--hash-key refuses anything else, naming what is allowed', () => {
  for (const raw of ['', 'IP', 'url', 'header:', 'header:bad name', 'cookie', 'query:a=b', 'body:x']) {
    assert.equal(
      refusal(['--algorithm', 'consistent-hash', `--hash-key=${raw}`]),
      `--hash-key ${JSON.stringify(raw)} is not allowed: expected ip, path, header:NAME, cookie:NAME or query:NAME`,
    );
  }
});

test('--hash-balance-factor is 0 (off) or a number from 1 to 100', () => {
  const factor = (raw: string): number => config(['--algorithm', 'consistent-hash', '--hash-balance-factor', raw]).routing.hashBalanceFactor;
  assert.equal(config(['--algorithm', 'consistent-hash']).routing.hashBalanceFactor, 0);
  for (const [raw, value] of [
    ['0', 0],
    ['1', 1],
    ['1.25', 1.25],
    ['100', 100],
  ] as const) {
    assert.equal(factor(raw), value);
  }
  for (const raw of ['0.5', '100.5', 'abc', '1,5', '-1']) {
    assert.match(refusal(['--algorithm', 'consistent-hash', `--hash-balance-factor=${raw}`]), /^--hash-balance-factor "[^"]*" is not allowed: expected 0 \(off\) or a number from 1 to 100/);
  }
});

test('hash options without --algorithm consistent-hash are refused: they would do nothing', () => {
  assert.equal(refusal(['--hash-key', 'path']), '--hash-key "path" is not allowed with --algorithm round-robin: it applies to consistent-hash only');
  assert.equal(
    refusal(['--algorithm', 'least-connections', '--hash-balance-factor', '1.25']),
    '--hash-balance-factor "1.25" is not allowed with --algorithm least-connections: it applies to consistent-hash only',
  );
});

// --- sticky sessions -------------------------------------------------------------------

test('--sticky-cookie NAME turns on sticky sessions; the secret comes from --sticky-secret, then SWITCHYARD_STICKY_SECRET, else is random per start', () => {
  assert.equal(config([]).routing.sticky, null);
  assert.deepEqual(config(['--sticky-cookie', 'lb', '--sticky-secret', 'a-secret-of-16-chars']).routing.sticky, { cookie: 'lb', secret: 'a-secret-of-16-chars' });
  assert.deepEqual(config(['--sticky-cookie', 'lb'], { SWITCHYARD_STICKY_SECRET: 'from-the-environment' }).routing.sticky, {
    cookie: 'lb',
    secret: 'from-the-environment',
  });
  assert.equal(
    config(['--sticky-cookie', 'lb', '--sticky-secret', 'the-flag-wins-over-env'], { SWITCHYARD_STICKY_SECRET: 'from-the-environment' }).routing.sticky?.secret,
    'the-flag-wins-over-env',
  );
  const first = config(['--sticky-cookie', 'lb']).routing.sticky?.secret ?? '';
  const second = config(['--sticky-cookie', 'lb']).routing.sticky?.secret ?? '';
  assert.ok(first.length >= 32, 'a random secret has 256 bits');
  assert.notEqual(first, second, 'a random secret differs per start');
});

test('sticky refusals: a bad cookie name, a short secret, a secret without a cookie', () => {
  for (const name of ['bad name', 'a;b', 'a=b', '']) {
    assert.match(refusal([`--sticky-cookie=${name}`]), /^--sticky-cookie "[^"]*" is not allowed: expected a cookie name/);
  }
  assert.equal(refusal(['--sticky-cookie', 'lb', '--sticky-secret', 'short']), '--sticky-secret is not allowed: it has 5 characters; use at least 16');
  assert.equal(refusal(['--sticky-cookie', 'lb'], { SWITCHYARD_STICKY_SECRET: 'short' }), 'SWITCHYARD_STICKY_SECRET is not allowed: it has 5 characters; use at least 16');
  assert.equal(refusal(['--sticky-secret', 'a-secret-of-16-chars']), '--sticky-secret has no effect without --sticky-cookie NAME');
});

// --- health ---------------------------------------------------------------------------

test('active checks are off without --health-path; with it, the documented defaults', () => {
  assert.equal(config([]).health, null);
  assert.deepEqual(config(['--health-path', '/healthz']).health, { path: '/healthz', intervalMs: 2_000, timeoutMs: 1_000, fall: 3, rise: 2 });
  assert.deepEqual(
    config(['--health-path', '/status?deep=1', '--health-interval', '500ms', '--health-timeout', '200ms', '--health-fall', '1', '--health-rise', '5']).health,
    { path: '/status?deep=1', intervalMs: 500, timeoutMs: 200, fall: 1, rise: 5 },
  );
  // A short interval caps the default timeout at the interval.
  assert.equal(config(['--health-path', '/h', '--health-interval', '100ms']).health?.timeoutMs, 100);
});

test('health refusals: a path not starting with /, a timeout past the interval, counts outside 1..100', () => {
  for (const path of ['healthz', 'http://x/h', '/a b', '']) {
    assert.match(refusal([`--health-path=${path}`]), /^--health-path "[^"]*" is not allowed: expected a path starting with \//);
  }
  assert.equal(
    refusal(['--health-path', '/h', '--health-interval', '1s', '--health-timeout', '2s']),
    '--health-timeout 2000ms is not allowed with --health-interval 1000ms: a probe must end before the next one is due',
  );
  for (const flag of ['--health-fall', '--health-rise']) {
    for (const raw of ['0', '101', 'x']) assert.equal(refusal(['--health-path', '/h', flag, raw]), `${flag} ${JSON.stringify(raw)} is not allowed: expected a whole number from 1 to 100`);
  }
  assert.match(refusal(['--health-path', '/h', '--health-interval', '5ms']), /^--health-interval "5ms" is not allowed: expected a duration from 10ms to 1h/);
});

test('health tuning without --health-path is refused: it would do nothing', () => {
  for (const flag of ['--health-interval', '--health-timeout', '--health-fall', '--health-rise']) {
    assert.equal(refusal([flag, '1']), `${flag} "1" has no effect without --health-path (active checks are off)`);
  }
});

// --- ejection, retries, slow start -----------------------------------------------------

test('ejection defaults and values: --eject-after 0..1000, --eject-on-5xx, --eject-time up to 5m, --max-ejected as a percentage', () => {
  assert.deepEqual(config([]).ejection, { after: 3, on5xx: false, timeMs: 10_000, maxPercent: 50 });
  assert.deepEqual(config(['--eject-after', '0', '--eject-on-5xx', '--eject-time', '5m', '--max-ejected', '100%']).ejection, {
    after: 0,
    on5xx: true,
    timeMs: 300_000,
    maxPercent: 100,
  });
  assert.equal(config(['--max-ejected', '33.5']).ejection.maxPercent, 33.5);
  assert.equal(config(['--max-ejected', '0%']).ejection.maxPercent, 0);
});

test('ejection refusals name the flag, the value and the range', () => {
  assert.equal(refusal(['--eject-after', '1001']), '--eject-after "1001" is not allowed: expected a whole number from 0 to 1000');
  assert.match(refusal(['--eject-time', '6m']), /^--eject-time "6m" is not allowed: expected a duration from 1ms to 5m/);
  for (const raw of ['101%', '-1', 'half', '50%%']) {
    assert.equal(refusal([`--max-ejected=${raw}`]), `--max-ejected ${JSON.stringify(raw)} is not allowed: expected a percentage from 0% to 100%, like 50%`);
  }
  assert.match(refusal(['--eject-on-5xx=yes']), /--eject-on-5xx/);
});

test('--retries 0..10 (default 2) and --slow-start 0..1h (default off)', () => {
  assert.equal(config([]).routing.retries, 2);
  assert.equal(config(['--retries', '0']).routing.retries, 0);
  assert.equal(config(['--retries', '10']).routing.retries, 10);
  assert.equal(refusal(['--retries', '11']), '--retries "11" is not allowed: expected a whole number from 0 to 10');
  assert.equal(config([]).routing.slowStartMs, 0);
  assert.equal(config(['--slow-start', '30s']).routing.slowStartMs, 30_000);
  assert.equal(config(['--slow-start', '0']).routing.slowStartMs, 0);
  assert.equal(config(['--slow-start', '1h']).routing.slowStartMs, 3_600_000);
  assert.match(refusal(['--slow-start', '2h']), /^--slow-start "2h" is not allowed: expected a duration from 0 to 1h/);
});

// --- repeated flags ---------------------------------------------------------------------

test('a flag given twice is refused, naming both values; only --backend repeats', () => {
  assert.equal(refusal(['--threads', '2', '--threads', '4']), '--threads is given twice ("2" and "4"); give each flag once');
  assert.equal(refusal(['--retries=1', '--retries=1']), '--retries is given twice ("1" and "1"); give each flag once');
  assert.equal(refusal(['--eject-on-5xx', '--eject-on-5xx']), '--eject-on-5xx is given twice ((no value) and (no value)); give each flag once');
  assert.equal(config(['--backend', 'http://127.0.0.1:9002']).backends.length, 2);
});
