/**
 * End to end, in process: the balancer follows names on a loopback DNS server
 * (test/fixtures/dns-server.ts) and routes real requests to what they resolve to. A
 * records give backends on 127.0.0.2, .3, .4 at one port; SRV records give ports, weights
 * and priority tiers. Waits are for conditions, with generous deadlines: the TTLs are 1 s.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createClient, sendUntil, startE2eBackend } from '../fixtures/e2e-traffic.ts';
import { TestDnsServer } from '../fixtures/dns-server.ts';
import { startSamePortBackends } from '../fixtures/loopback-backends.ts';
import { scrape, valueOf } from '../fixtures/prometheus-text.ts';
import { startTestBalancer, waitFor } from '../helpers.ts';

const DEADLINE = { timeoutMs: 20_000, intervalMs: 20 };
const a = (address: string, ttl = 1) => ({ type: 'A' as const, data: address, ttl });
const listed = (balancer: { table: { list(): Array<{ origin: string; state: string }> } }): string[] =>
  balancer.table.list().map(({ origin, state }) => `${origin} ${state}`);

test('A records: every address is a backend; one added to DNS is picked up within its TTL; one removed drains (its request in flight finishes) and leaves', async (t) => {
  const [b2, b3, b4] = await startSamePortBackends(t, ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  const port = b2!.port;
  const dns = await TestDnsServer.start(t);
  dns.set('api.test', [a('127.0.0.2'), a('127.0.0.3')]);
  const balancer = await startTestBalancer(t, ['--threads', '2', '--backend-dns', `api.test:${port}`, '--resolver', dns.address]);
  assert.deepEqual(listed(balancer), [`http://127.0.0.2:${port} active`, `http://127.0.0.3:${port} active`], 'resolved before the first client');
  const client = createClient(t, balancer.url);
  const first = await client.sequence(20, (i) => `/first-${i}`);
  assert.deepEqual(new Set(first.map((answer) => answer.backend)), new Set(['127.0.0.2', '127.0.0.3']));
  assert.ok(first.every((answer) => answer.status === 200));

  const addedAt = Date.now();
  dns.set('api.test', [a('127.0.0.2'), a('127.0.0.3'), a('127.0.0.4')]);
  await Promise.all(await sendUntil(client, (i) => `/grow-${i}`, () => b4!.proxied.length > 0, '127.0.0.4 receiving', DEADLINE));
  t.diagnostic(`127.0.0.4 took its first request ${Date.now() - addedAt} ms after it was added to DNS (TTL 1 s)`);

  // 127.0.0.2 holds a request; then DNS drops it.
  b2!.hold();
  const sent = await sendUntil(client, (i) => `/hold-${i}`, () => b2!.held > 0, 'a request held at 127.0.0.2', DEADLINE);
  const slot = balancer.state.slotOf(`http://127.0.0.2:${port}`);
  const removedAt = Date.now();
  dns.set('api.test', [a('127.0.0.3'), a('127.0.0.4')]);
  await waitFor(() => balancer.state.slotState(slot) === 'draining', '127.0.0.2 draining', DEADLINE);
  t.diagnostic(`127.0.0.2 was draining ${Date.now() - removedAt} ms after it left DNS`);
  const reached = b2!.proxied.length;
  const during = await client.sequence(20, (i) => `/during-${i}`);
  assert.equal(b2!.proxied.length, reached, 'no new request reaches the draining backend');
  assert.deepEqual(new Set(during.map((answer) => answer.backend)), new Set(['127.0.0.3', '127.0.0.4']));
  assert.equal(listed(balancer).length, 3, 'it stays in the table while its request runs');
  b2!.release();
  const held = await Promise.all(sent);
  assert.ok(held.every((answer) => answer.status === 200), `every request sent before the removal finished with 200: ${held.map((x) => x.status)}`);
  assert.ok(held.some((answer) => answer.backend === '127.0.0.2'), 'the held one was answered by 127.0.0.2');
  await waitFor(() => listed(balancer).length === 2, '127.0.0.2 leaving the table', DEADLINE);
  assert.deepEqual(listed(balancer), [`http://127.0.0.3:${port} active`, `http://127.0.0.4:${port} active`]);
  assert.ok(
    balancer.logged.some((line) => line === `dns:api.test:${port}: 2 backends (added 0, removing 1)`),
    balancer.logged.join('\n'),
  );
  void b3;
});

test('a failing resolver keeps the last good set (also past the stale window), logged once, not once per retry; metrics count the failures', async (t) => {
  const [b2, b3] = await startSamePortBackends(t, ['127.0.0.2', '127.0.0.3']);
  const dns = await TestDnsServer.start(t);
  dns.set('api.test', [a('127.0.0.2'), a('127.0.0.3')]);
  const source = `dns:api.test:${b2!.port}`;
  const balancer = await startTestBalancer(t, ['--threads', '1', '--admin-port', '0', '--backend-dns', `api.test:${b2!.port}`, '--resolver', dns.address, '--dns-stale-window', '2s']);
  dns.mode = 'servfail';
  const status = () => balancer.discovery.status()[0]!;
  await waitFor(() => status().failures >= 3, 'three failed resolutions', DEADLINE);
  await waitFor(() => balancer.logged.some((line) => line.startsWith(`${source}: still failing 2s after`)), 'the stale window passing', DEADLINE);
  assert.equal(balancer.logged.filter((line) => line.startsWith(`${source}: resolution failed`)).length, 1, balancer.logged.join('\n'));
  assert.match(balancer.logged.find((line) => line.startsWith(`${source}: resolution failed`)) ?? '', /answered SERVFAIL .*; keeping its last 2 backends for up to 2s, retrying$/);
  assert.equal(listed(balancer).length, 2, 'both backends kept');
  const answers = await createClient(t, balancer.url).sequence(10, (i) => `/kept-${i}`);
  assert.deepEqual(new Set(answers.map((answer) => answer.backend)), new Set(['127.0.0.2', '127.0.0.3']));

  const metrics = (await scrape(balancer.admin!.port)).exposition;
  assert.ok((valueOf(metrics, 'switchyard_discovery_failures_total', { source }) ?? 0) >= 3);
  assert.equal(valueOf(metrics, 'switchyard_discovery_answers', { source }), 2);
  assert.equal(valueOf(metrics, 'switchyard_discovery_stale', { source }), 1);
  const lastSuccess = valueOf(metrics, 'switchyard_discovery_last_success_timestamp_seconds', { source }) ?? 0;
  assert.ok(lastSuccess > Date.now() / 1000 - 600 && lastSuccess <= Date.now() / 1000, `last success ${lastSuccess}`);

  dns.mode = 'answer';
  dns.set('api.test', [a('127.0.0.3')]);
  await waitFor(() => !status().stale && listed(balancer).length === 1, 'resolving again, to the new set', DEADLINE);
  assert.ok(balancer.logged.some((line) => line.startsWith(`${source}: resolves again after `)));
  void b3;
});

test('an empty answer keeps the last set for the stale window, then its backends drain; they come back with the records', async (t) => {
  const [b2] = await startSamePortBackends(t, ['127.0.0.2']);
  const dns = await TestDnsServer.start(t);
  dns.set('api.test', [a('127.0.0.2')]);
  const source = `dns:api.test:${b2!.port}`;
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend-dns', `api.test:${b2!.port}`, '--resolver', dns.address, '--dns-stale-window', '3s']);
  dns.set('api.test', []);
  await waitFor(() => balancer.discovery.status()[0]!.failures >= 1, 'an empty answer', DEADLINE);
  assert.match(balancer.logged.find((line) => line.startsWith(source)) ?? '', /no A or AAAA records for api\.test; keeping its last 1 backend for up to 3s/);
  assert.equal((await createClient(t, balancer.url).send('/still')).backend, '127.0.0.2', 'served from the last set meanwhile');
  await waitFor(() => listed(balancer).length === 0, 'the backend drained and removed', DEADLINE);
  assert.ok(balancer.logged.some((line) => line === `${source}: still no A or AAAA records for api.test 3s after its last good answer; its 1 backend drain`), balancer.logged.join('\n'));
  dns.set('api.test', [a('127.0.0.2')]);
  await waitFor(() => listed(balancer).length === 1, 'the backend back', DEADLINE);
});

test('SRV: ports and weights from the records; only the best priority serves, the next tier takes over when all of it is down, and gives back', async (t) => {
  const [x, y, z] = await Promise.all(['x', 'y', 'z'].map((name) => startE2eBackend(t, name)));
  const dns = await TestDnsServer.start(t);
  dns.srvAdditionals = false;
  const srv = (priority: number, weight: number, port: number, target: string) => ({ type: 'SRV' as const, ttl: 1, data: { priority, weight, port, target } });
  dns.set('_http._tcp.api.test', [srv(10, 3, x!.port, 'x.test'), srv(10, 1, y!.port, 'y.test'), srv(20, 5, z!.port, 'z.test')]);
  for (const name of ['x.test', 'y.test', 'z.test']) dns.set(name, [a('127.0.0.1', 30)]);
  const balancer = await startTestBalancer(t, [
    '--threads', '2', '--backend-srv', '_http._tcp.api.test', '--resolver', dns.address,
    '--health-path', '/health', '--health-interval', '100ms', '--health-timeout', '100ms', '--health-fall', '1', '--health-rise', '1',
  ]);
  assert.deepEqual(
    balancer.table.list().map(({ origin, weight, tier }) => [origin, weight, tier]),
    [[x!.origin, 3, 10], [y!.origin, 1, 10], [z!.origin, 5, 20]],
  );
  const client = createClient(t, balancer.url);
  const count = (answers: ReadonlyArray<{ backend: string | null }>, name: string) => answers.filter((answer) => answer.backend === name).length;
  const before = await client.sequence(40, (i) => `/w-${i}`);
  assert.deepEqual([count(before, 'x'), count(before, 'y'), count(before, 'z')], [30, 10, 0], 'weights 3:1 in tier 10; tier 20 idle');

  const down = (name: string) => (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(503, { 'x-backend': name });
    res.end('down');
  };
  const upProbe = (name: string) => (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'x-backend': name });
    res.end(name);
  };
  x!.behave(down('x'), down('x'));
  y!.behave(down('y'), down('y'));
  const healthy = (origin: string) => balancer.table.list().find((backend) => backend.origin === origin)?.healthy;
  await waitFor(() => healthy(x!.origin) === false && healthy(y!.origin) === false, 'x and y marked down', DEADLINE);
  const failover = await client.sequence(20, (i) => `/f-${i}`);
  assert.deepEqual([count(failover, 'z'), failover.filter((answer) => answer.status === 200).length], [20, 20], 'tier 20 serves every request');

  x!.behave(upProbe('x'), upProbe('x'));
  await waitFor(() => healthy(x!.origin) === true, 'x up again', DEADLINE);
  const back = await client.sequence(20, (i) => `/b-${i}`);
  assert.equal(count(back, 'x'), 20, 'tier 10 serves again as soon as one of it is up');
});

test('a name that does not resolve at start does not stop the balancer: it starts without those backends and takes them once DNS has them', async (t) => {
  const [b2] = await startSamePortBackends(t, ['127.0.0.2']);
  const dns = await TestDnsServer.start(t);
  const source = `dns:late.test:${b2!.port}`;
  const balancer = await startTestBalancer(t, ['--threads', '1', '--admin-port', '0', '--backend-dns', `late.test:${b2!.port}`, '--resolver', dns.address]);
  assert.deepEqual(listed(balancer), []);
  assert.ok(balancer.logged.includes(`${source}: no A or AAAA records for late.test; no backends from it yet, retrying`), balancer.logged.join('\n'));
  const healthz = await fetch(`http://127.0.0.1:${balancer.admin!.port}/healthz`);
  assert.equal(healthz.status, 503, await healthz.text());
  dns.set('late.test', [a('127.0.0.2')]);
  await waitFor(() => listed(balancer).length === 1, 'the backend once DNS has it', DEADLINE);
  assert.equal((await createClient(t, balancer.url).send('/late')).backend, '127.0.0.2');
});

