import assert from 'node:assert/strict';
import { constants } from 'node:http2';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { request } from 'undici';
import { parseCli } from '../../src/config/cli.ts';
import { startBalancer, type Balancer } from '../../src/supervisor/supervisor.ts';
import { issue, makeCertificates } from '../fixtures/certificates.ts';
import { startBalancerProcess } from '../fixtures/balancer-process.ts';
import { TestDnsServer } from '../fixtures/dns-server.ts';
import { errorCode, FRAME, headersFrame, openRawH2 } from '../fixtures/raw-h2.ts';
import { startSamePortBackends } from '../fixtures/loopback-backends.ts';
import { startBackend, startTestBalancer, waitFor, within, type TestBackend } from '../helpers.ts';


interface FromFile {
  readonly balancer: Balancer;
  readonly url: string;
  readonly admin: string;
  readonly logged: string[];
  /** Replaces the file's text, as an editor does: written aside, then renamed over it. */
  write(text: string): void;
}

/** A balancer started from a config file, with --port 0 and --admin-port 0 as flags (kept over
 * the file at each reload, as at start). */
async function startFromFile(t: TestContext, text: string, flags: readonly string[] = []): Promise<FromFile> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'switchyard.toml');
  const write = (next: string): void => {
    writeFileSync(`${file}.new`, next);
    renameSync(`${file}.new`, file);
  };
  write(text);
  const parsed = parseCli(['--config', file, '--port', '0', '--admin-port', '0', ...flags], {});
  assert.equal(parsed.kind, 'run');
  const logged: string[] = [];
  const balancer = await startBalancer(parsed.config, { log: (line) => logged.push(line), reload: { source: parsed.source, built: parsed.config } });
  t.after(() => balancer.stop(2_000));
  const admin = `http://127.0.0.1:${balancer.admin?.port ?? assert.fail('no admin listener')}`;
  return { balancer, url: `http://127.0.0.1:${balancer.port}`, admin, logged, write };
}

async function reload(admin: string): Promise<{ status: number; text: string }> {
  const res = await request(`${admin}/reload`, { method: 'POST' });
  return { status: res.statusCode, text: await res.body.text() };
}

const backendsToml = (backends: ReadonlyArray<TestBackend | { origin: string; weight: number }>): string =>
  backends.map((backend) => `[[backends]]\nurl = "${backend.origin}"\nweight = ${'weight' in backend ? backend.weight : 1}\n`).join('\n');

const named = (name: string) => (_req: unknown, res: import('node:http').ServerResponse) => res.end(name);

test('an invalid file changes nothing: POST /reload answers 400 with one line per problem, and the old settings serve on', async (t) => {
  const a = await startBackend(t, named('a'));
  const b = await startBackend(t, named('b'));
  const lb = await startFromFile(t, `threads = 1\n${backendsToml([a])}\n[upstream]\nconnect-timeout = "5s"\n`);
  lb.write(`threads = 1\n${backendsToml([a, b])}\n[routing]\nalgorithm = "random"\n[upstream]\nconnect-timeout = "soon"\nbogus = 1\n`);
  const answer = await reload(lb.admin);
  assert.equal(answer.status, 400);
  const lines = answer.text.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^400 Bad Request: the config file was not reloaded, nothing changed:$/);
  assert.deepEqual(
    lines.slice(1).map((line) => line.replace(/^.*switchyard\.toml:/, '')),
    ['13: upstream.connect-timeout "soon" is not allowed: expected a duration from 1ms to 24h, like 500ms, 5s, 2m or 1h (a bare number is seconds)', '14: unknown key upstream.bogus'],
  );
  assert.deepEqual(lb.balancer.table.list().map(({ origin }) => origin), [a.origin]);
  assert.equal(lb.balancer.config.routing.algorithm, 'round-robin');
  assert.equal(lb.balancer.config.upstream.connectMs, 5_000);
  for (let i = 0; i < 4; i++) assert.equal(await (await request(lb.url)).body.text(), 'a');
  assert.ok(lb.logged.some((line) => /config reload \(POST \/reload from .*\) failed, nothing changed: 2 problems/.test(line)), lb.logged.join('\n'));
});

test('POST /reload without --config is refused with 409, and GET /reload with 405', async (t) => {
  const balancer = await startTestBalancer(t, ['--admin-port', '0', '--threads', '1']);
  const admin = `http://127.0.0.1:${balancer.admin?.port}`;
  const answer = await reload(admin);
  assert.equal(answer.status, 409);
  assert.equal(answer.text, '409 Conflict: there is no config file to reload: this balancer was started without --config\n');
  assert.equal((await request(`${admin}/reload`)).statusCode, 405);
});

test('backends by identity: a kept one keeps its slot and counters, a new one enters, a removed one drains (its request finishes) and leaves', async (t) => {
  const held: Array<() => void> = [];
  const slowOrNamed = (name: string) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    if (req.url === '/slow') held.push(() => res.end(`${name} slow`));
    else res.end(name);
  };
  const a = await startBackend(t, slowOrNamed('a'));
  const b = await startBackend(t, slowOrNamed('b'));
  const c = await startBackend(t, slowOrNamed('c'));
  const lb = await startFromFile(t, `threads = 1\n${backendsToml([a, b])}`);
  for (let i = 0; i < 6; i++) await (await request(lb.url)).body.text();
  const before = new Map(lb.balancer.table.list().map((slot) => [slot.origin, slot]));
  // One slow request on each backend (round robin), still running at the reload.
  const slow = [request(`${lb.url}/slow`).then(async (res) => ({ status: res.statusCode, text: await res.body.text() })), request(`${lb.url}/slow`).then(async (res) => ({ status: res.statusCode, text: await res.body.text() }))];
  await waitFor(() => held.length === 2, 'both slow requests to reach their backends');

  lb.write(`threads = 1\n${backendsToml([b, { origin: c.origin, weight: 2 }])}`);
  const answer = await reload(lb.admin);
  assert.equal(answer.status, 200, answer.text);
  const summary = JSON.parse(answer.text) as { changed: string[]; backends: Record<string, unknown> };
  assert.deepEqual(summary.changed, ['backends']);
  assert.deepEqual(summary.backends, { added: [c.origin], kept: [b.origin], reweighted: [], retiered: [], removing: [a.origin], refused: [] });

  const now = new Map(lb.balancer.table.list().map((slot) => [slot.origin, slot]));
  assert.equal(now.get(a.origin)?.state, 'draining');
  assert.equal(now.get(b.origin)?.slot, before.get(b.origin)?.slot, 'the kept backend keeps its slot');
  assert.equal(now.get(b.origin)?.started, (before.get(b.origin)?.started ?? 0) + 1, 'and its counters (plus the slow request)');
  assert.equal(now.get(c.origin)?.weight, 2);

  // New requests go to the backends wanted now only; the removed one still finishes its own.
  const answered = new Set<string>();
  for (let i = 0; i < 6; i++) answered.add(await (await request(lb.url)).body.text());
  assert.deepEqual([...answered].sort(), ['b', 'c']);
  for (const release of held) release();
  assert.deepEqual((await Promise.all(slow)).map(({ status }) => status), [200, 200]);
  await waitFor(() => !lb.balancer.table.list().some(({ origin }) => origin === a.origin), 'the removed backend to leave the table', { timeoutMs: 10_000 });
});

test('a timeout change applies to the requests after the reload; a change that needs a restart is reported as ignored', async (t) => {
  const slow = await startBackend(t, (_req, res) => {
    setTimeout(() => res.end('late'), 600);
  });
  const lb = await startFromFile(t, `threads = 1\n${backendsToml([slow])}\n[upstream]\ntimeout = "5s"\n`);
  assert.equal((await request(lb.url)).statusCode, 200);
  lb.write(`threads = 2\n${backendsToml([slow])}\n[upstream]\ntimeout = "200ms"\n`);
  const answer = await reload(lb.admin);
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(JSON.parse(answer.text).changed, ['upstream.timeout']);
  assert.deepEqual(JSON.parse(answer.text).ignored, ['threads']);
  assert.equal(lb.balancer.listeners.length, 1);
  // The admin listener's view follows: /status shows the config in effect.
  const status = (await (await request(`${lb.admin}/status`)).body.json()) as { config: { upstream: { headersMs: number }; threads: number } };
  assert.equal(status.config.upstream.headersMs, 200);
  assert.equal(status.config.threads, 1);
  // The listener thread applies the message before its next request (its event loop takes
  // messages in order), but the message may still be on its way: wait for the 504.
  await waitFor(async () => (await request(lb.url)).statusCode === 504, 'a request after the reload to time out at 200 ms', { timeoutMs: 10_000, intervalMs: 50 });
  assert.ok(lb.logged.some((line) => /config reloaded \(POST \/reload from .*\): changed upstream\.timeout; backends: 0 added, 1 kept, 0 reweighted, 0 removing; ignored until a restart: threads/.test(line)), lb.logged.join('\n'));
});

test('--watch-config: a file replaced by rename is reloaded by itself', async (t) => {
  const a = await startBackend(t, named('a'));
  const b = await startBackend(t, named('b'));
  const lb = await startFromFile(t, `threads = 1\nwatch-config = true\n${backendsToml([a])}`);
  lb.write(`threads = 1\nwatch-config = true\n${backendsToml([a, b])}\n[routing]\nalgorithm = "least-connections"\n`);
  await waitFor(() => lb.balancer.config.routing.algorithm === 'least-connections', 'the watched file to be reloaded', { timeoutMs: 10_000, intervalMs: 20 });
  assert.deepEqual(lb.balancer.table.list().map(({ origin }) => origin).sort(), [a.origin, b.origin].sort());
  assert.ok(lb.logged.some((line) => line.startsWith('config reloaded (the config file changed): changed backends, routing.algorithm;')), lb.logged.join('\n'));
  // And again: the watch follows the new file, not the one renamed away.
  lb.write(`threads = 1\nwatch-config = true\n${backendsToml([b])}\n[routing]\nalgorithm = "random"\n`);
  await waitFor(() => lb.balancer.config.routing.algorithm === 'random', 'the second change to be reloaded', { timeoutMs: 10_000, intervalMs: 20 });
});

test('SIGHUP reloads the config file of a running switchyard (node src/main.ts --config)', async (t) => {
  const a = await startBackend(t, named('a'));
  const b = await startBackend(t, named('b'));
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-sighup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'switchyard.toml');
  writeFileSync(file, `port = 0\nthreads = 1\n[admin]\nport = "off"\n${backendsToml([a])}`);
  const balancer = await startBalancerProcess(t, ['--config', file]);
  const { child, url } = balancer;
  const exited = once(child, 'exit');
  writeFileSync(file, `port = 0\nthreads = 1\n[admin]\nport = "off"\n${backendsToml([b])}`);
  child.kill('SIGHUP');
  await waitFor(() => /config reloaded \(SIGHUP\): changed backends; backends: 1 added, 0 kept, 0 reweighted, 1 removing/.test(balancer.stderr()), 'the reload line', { timeoutMs: 10_000 });
  assert.equal(await (await request(url)).body.text(), 'b');
  child.kill('SIGTERM');
  assert.equal((await within(exited, 'exit', 15_000))[0], 0, balancer.stderr());
});

test('a config reload reads the certificates again, from the new paths the file names', async (t) => {
  const certs = makeCertificates(t);
  const first = issue(certs, 'first', 'DNS:a.test');
  const second = issue(certs, 'second', 'DNS:a.test,DNS:b.test');
  const ca = readFileSync(certs.caFile, 'latin1');
  const a = await startBackend(t, named('a'));
  const tls = (pair: { certFile: string; keyFile: string }): string => `[[tls.certificates]]\ncert = "${pair.certFile}"\nkey = "${pair.keyFile}"\n`;
  const lb = await startFromFile(t, `threads = 1\n${backendsToml([a])}\n${tls(first)}`);
  const served = async (): Promise<string> => {
    const socket = tlsConnect({ host: '127.0.0.1', port: lb.balancer.port, servername: 'a.test', ca });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const names = socket.getPeerCertificate().subjectaltname ?? '';
    socket.destroy();
    return names;
  };
  assert.equal(await served(), 'DNS:a.test');
  lb.write(`threads = 1\n${backendsToml([a])}\n${tls(second)}`);
  const answer = await reload(lb.admin);
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(JSON.parse(answer.text).changed, ['tls.certificates']);
  await waitFor(async () => (await served()) === 'DNS:a.test, DNS:b.test', 'a handshake with the certificate from the new path', { timeoutMs: 10_000, intervalMs: 50 });
  // Turning HTTPS off needs a restart: reported as ignored, and HTTPS goes on.
  lb.write(`threads = 1\n${backendsToml([a])}`);
  assert.deepEqual(JSON.parse((await reload(lb.admin)).text).ignored, ['tls.certificates']);
  assert.equal(await served(), 'DNS:a.test, DNS:b.test');
});

test('a reload follows the DNS names of the file: a new name is resolved and served, a name no longer listed drains and leaves', async (t) => {
  const [b2, b3] = await startSamePortBackends(t, ['127.0.0.2', '127.0.0.3']);
  const port = b2!.port;
  const dns = await TestDnsServer.start(t);
  dns.set('old.test', [{ type: 'A', data: '127.0.0.2', ttl: 1 }]);
  dns.set('new.test', [{ type: 'A', data: '127.0.0.3', ttl: 1 }]);
  const discovery = (name: string) => `threads = 1\n[discovery]\nbackend-dns = ["${name}:${port}"]\nresolvers = ["${dns.address}"]\n`;
  const lb = await startFromFile(t, discovery('old.test'));
  const listed = (): string[] => lb.balancer.table.list().map(({ origin, state }) => `${origin} ${state}`);
  assert.deepEqual(listed(), [`http://127.0.0.2:${port} active`]);
  lb.write(discovery('new.test'));
  const answer = await reload(lb.admin);
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(JSON.parse(answer.text).changed, ['discovery.backend-dns']);
  await waitFor(() => listed().join() === `http://127.0.0.3:${port} active`, 'new.test served, old.test gone', { timeoutMs: 20_000, intervalMs: 20 });
  const res = await request(`${lb.url}/after`);
  await res.body.text();
  assert.equal(res.statusCode, 200);
  assert.equal(b3!.proxied.length, 1, 'the new name\'s backend answered');
});

test('a reload reaches HTTP/2 too: a smaller max-header-size applies to new HTTP/2 connections', async (t) => {
  const a = await startBackend(t, named('a'));
  const file = (size: string) => `threads = 1\n${backendsToml([a])}\n[client]\nh2c = true\nmax-header-size = "${size}"\nmax-url-length = "1k"\n`;
  const lb = await startFromFile(t, file('16k'));
  const base: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'x']];
  // 30 headers of 100 bytes: about 3 KiB.
  const large: Array<[string, string]> = [...base, ...Array.from({ length: 30 }, (_, i): [string, string] => [`x-h${i}`, 'v'.repeat(100)])];
  const answerTo = async (): Promise<number> => {
    const client = await openRawH2(t, lb.balancer.port);
    await waitFor(() => client.frames.some((f) => f.type === FRAME.SETTINGS && (f.flags & 1) === 1), 'the settings exchanged');
    client.send(headersFrame(1, large));
    await waitFor(() => client.frames.some((f) => f.stream === 1 && (f.type === FRAME.HEADERS || f.type === FRAME.RST_STREAM)), 'an answer to stream 1');
    const reset = client.frames.find((f) => f.stream === 1 && f.type === FRAME.RST_STREAM);
    client.socket.destroy();
    return reset === undefined ? 0 : errorCode(reset);
  };
  assert.equal(await answerTo(), 0, 'served under 16k');
  lb.write(file('2k'));
  const answer = await reload(lb.admin);
  assert.equal(answer.status, 200, answer.text);
  assert.equal(await answerTo(), constants.NGHTTP2_ENHANCE_YOUR_CALM, 'reset under 2k');
});
