import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { parseCli, UsageError } from '../../src/config/cli.ts';
import { startBalancerProcess } from '../fixtures/balancer-process.ts';
import { parseExposition, promtoolCheck, promtoolMissing, scrape, samplesOf, valueOf } from '../fixtures/prometheus-text.ts';
import { deadPort, startBackend, startTestBalancer } from '../helpers.ts';

const TOKEN = 'admin-listener-test-token-42';
const FAIL_FAST = { headersTimeout: 10_000, bodyTimeout: 10_000 } as const;
const ONE_LINE = (status: number) => new RegExp(`^${status} [A-Za-z ]+: [\\x20-\\x7e]+\\n$`);

async function get(url: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  const res = await request(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, ...FAIL_FAST });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

test('an unknown admin path gets a one-line 404; a wrong method on /metrics, /status or /healthz a one-line 405 naming GET and HEAD', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--admin-port', '0', '--backend', backend.origin]);
  const admin = `http://127.0.0.1:${balancer.admin!.port}`;

  const missing = await get(`${admin}/nope`);
  assert.equal(missing.status, 404);
  assert.match(missing.body, ONE_LINE(404));
  assert.ok(missing.body.includes('/nope'), missing.body);

  for (const [method, path] of [['POST', '/metrics'], ['DELETE', '/status'], ['PUT', '/healthz']] as const) {
    const refused = await get(`${admin}${path}`, { method });
    assert.equal(refused.status, 405, `${method} ${path}`);
    assert.equal(refused.headers.allow, 'GET, HEAD');
    assert.match(refused.body, ONE_LINE(405));
    assert.ok(refused.body.startsWith(`405 Method Not Allowed: ${method} ${path} `), refused.body);
  }
  const head = await get(`${admin}/metrics`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assert.ok(Number(head.headers['content-length']) > 1000, 'HEAD announces the length GET would send');
});

test('with --admin-token, every admin route needs the bearer token: 401 without it or with a wrong one, 200 with it', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--admin-port', '0', '--admin-token', TOKEN, '--backend', backend.origin]);
  const admin = `http://127.0.0.1:${balancer.admin!.port}`;
  const wrong: Array<Record<string, string>> = [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Bearer ${TOKEN.slice(0, -1)}` }, { authorization: `Basic ${TOKEN}` }, { authorization: TOKEN }];
  for (const path of ['/metrics', '/status', '/healthz']) {
    for (const headers of wrong) {
      const refused = await get(`${admin}${path}`, { headers });
      assert.equal(refused.status, 401, `${path} with ${JSON.stringify(headers)}`);
      assert.match(refused.body, ONE_LINE(401));
      assert.ok(!refused.body.includes(TOKEN), 'the 401 does not echo the token');
      assert.equal(refused.headers['www-authenticate'], 'Bearer realm="switchyard"');
    }
    const allowed = await get(`${admin}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(allowed.status, 200, `${path} with the token: ${allowed.body}`);
  }
  const { exposition } = await scrape(balancer.admin!.port, { authorization: `Bearer ${TOKEN}` });
  assert.equal(valueOf(exposition, 'switchyard_backend_up', { backend: backend.origin }), 1);
});

test('with --admin-token, a browser trades /?token= for a read-only cookie: pages and the event stream open, changes still need the header', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--admin-port', '0', '--admin-token', TOKEN, '--backend', backend.origin]);
  const admin = `http://127.0.0.1:${balancer.admin!.port}`;

  const wrong = await get(`${admin}/?token=${TOKEN}x`);
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers['set-cookie'], undefined);

  const traded = await get(`${admin}/?token=${encodeURIComponent(TOKEN)}&view=1`);
  assert.equal(traded.status, 303);
  assert.equal(traded.headers.location, '/?view=1', 'the token leaves the address bar');
  const setCookie = String(traded.headers['set-cookie']);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  const cookie = setCookie.split(';')[0] as string;

  for (const path of ['/', '/metrics', '/status']) {
    assert.equal((await get(`${admin}${path}`, { headers: { cookie } })).status, 200, `${path} with the cookie`);
    assert.equal((await get(`${admin}${path}`, { headers: { cookie: `${cookie}x` } })).status, 401, `${path} with a wrong cookie`);
  }
  // A page elsewhere could make the browser send the cookie with a POST: not enough.
  const drain = await get(`${admin}/backends/0/drain`, { method: 'POST', headers: { cookie } });
  assert.equal(drain.status, 401);
  assert.equal(balancer.state.slotState(0), 'active');
  const drained = await get(`${admin}/backends/0/drain`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(drained.status, 200);
  assert.equal(balancer.state.slotState(0), 'draining');
});

test('the proxied port does not answer /metrics, /status or /healthz itself: they reach the backend', async (t) => {
  const backend = await startBackend(t, (req, res) => res.end(`backend saw ${req.url}`));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--admin-port', '0', '--backend', backend.origin]);
  for (const path of ['/metrics', '/status', '/healthz']) {
    const res = await get(`${balancer.url}${path}`);
    assert.equal(res.status, 200);
    assert.equal(res.body, `backend saw ${path}`);
  }
  assert.deepEqual(backend.received.map((r) => r.url), ['/metrics', '/status', '/healthz']);
});

test('the metrics of a running balancer after successes, refusals and own answers pass promtool check metrics', async (t) => {
  const missing = promtoolMissing();
  if (missing !== null) return t.skip(missing);
  const backend = await startBackend(t, (req, res) => {
    res.statusCode = req.url === '/missing' ? 404 : 200;
    res.end('x');
  });
  const dead = `http://127.0.0.1:${await deadPort()}`;
  const balancer = await startTestBalancer(t, ['--threads', '2', '--admin-port', '0', '--retries', '0', '--backend', backend.origin, '--backend', dead]);
  for (const path of ['/a', '/b', '/missing', '/c', '/d', '/e']) await (await request(`${balancer.url}${path}`, FAIL_FAST)).body.dump();
  const { text, exposition } = await scrape(balancer.admin!.port);
  assert.ok(valueOf(exposition, 'switchyard_backend_failures_total', { backend: dead, reason: 'refused' }) > 0, 'the exposition has failures in it');
  assert.ok(valueOf(exposition, 'switchyard_balancer_responses_total', { error: 'BACKEND_FAILED' }) > 0);
  const { status, output } = promtoolCheck(text);
  assert.equal(status, 0, output);
  assert.equal(output.trim(), '', 'promtool reports no lint problem');
});

// --- the command line ---------------------------------------------------------------

function refusal(args: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseCli(args, env);
  } catch (error) {
    assert.ok(error instanceof UsageError, `expected a UsageError for ${JSON.stringify(args)}, got ${String(error)}`);
    return error.message;
  }
  assert.fail(`${JSON.stringify(args)} was accepted`);
}

function adminOf(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const parsed = parseCli(args, env);
  assert.equal(parsed.kind, 'run');
  return parsed.config.admin;
}

test('CLI: a non-loopback --admin-host needs a token; --admin-port off disables the listener; it cannot share --port', () => {
  const open = refusal(['--admin-host', '0.0.0.0']);
  assert.match(open, /--admin-host 0\.0\.0\.0/);
  assert.match(open, /--admin-token/);
  assert.deepEqual(adminOf(['--admin-host', '0.0.0.0', '--admin-token', TOKEN]), { host: '0.0.0.0', port: 9901, token: TOKEN });
  assert.deepEqual(adminOf(['--admin-host', '0.0.0.0'], { SWITCHYARD_ADMIN_TOKEN: TOKEN }), { host: '0.0.0.0', port: 9901, token: TOKEN });
  assert.deepEqual(adminOf([]), { host: '127.0.0.1', port: 9901, token: null });
  assert.equal(adminOf(['--admin-port', 'off']), null);
  assert.match(refusal(['--port', '9000', '--admin-port', '9000']), /^--admin-port 9000 is not allowed/);
  assert.match(refusal(['--admin-port', '9901', '--port', '9901']), /--admin-port 9901/);
  assert.match(refusal(['--admin-token', 'short']), /--admin-token/);
});

test('node src/main.ts --port 0 --admin-port 0 prints the admin line, and /metrics answers there', async (t) => {
  const balancer = await startBalancerProcess(t, ['--threads', '1']);
  const admin = /^switchyard: admin on (http:\/\/127\.0\.0\.1:\d+) \(dashboard \/, metrics \/metrics\)$/m.exec(balancer.stdout())?.[1];
  assert.ok(admin, `the "switchyard: admin on http://..." line: ${balancer.stdout()}`);
  const res = await get(`${admin}/metrics`);
  assert.equal(res.status, 200, res.body);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const metrics = parseExposition(res.body);
  assert.equal(samplesOf(metrics, 'switchyard_backend_up').length, 2, 'the two demo backends');
  assert.deepEqual(samplesOf(metrics, 'switchyard_listener_accepting').map((s) => s.value), [1]);
  assert.equal(valueOf(metrics, 'switchyard_build_info', { node: process.version }), 1);
  assert.ok(valueOf(metrics, 'process_resident_memory_bytes') > 0);
  assert.ok(valueOf(metrics, 'process_cpu_seconds_total') > 0);
});
