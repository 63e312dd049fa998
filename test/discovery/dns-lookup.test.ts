import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DnsNameConfig } from '../../src/config/config.ts';
import { DnsClient, DnsQueryError } from '../../src/discovery/dns-client.ts';
import { lookup } from '../../src/discovery/dns-lookup.ts';
import { TestDnsServer } from '../fixtures/dns-server.ts';

const dnsName = (name: string, port: number, weight = 1): DnsNameConfig => ({ kind: 'dns', source: `dns:${name}:${port}`, scheme: 'http', name, port, weight });
const srvName = (name: string): DnsNameConfig => ({ kind: 'srv', source: `srv:${name}`, scheme: 'http', name, port: null, weight: 1 });

async function setup(t: Parameters<typeof TestDnsServer.start>[0], options: { timeoutMs?: number } = {}) {
  const server = await TestDnsServer.start(t);
  const client = new DnsClient([{ host: '127.0.0.1', port: server.port }], { timeoutMs: options.timeoutMs ?? 1_000 });
  t.after(() => client.close());
  return { server, client };
}

test('A and AAAA: every address is a backend at the port given, IPv6 in brackets, for the smallest TTL', async (t) => {
  const { server, client } = await setup(t);
  server.set('api.test', [
    { type: 'A', data: '127.0.0.2', ttl: 30 },
    { type: 'A', data: '127.0.0.3', ttl: 20 },
    { type: 'AAAA', data: '::1', ttl: 45 },
  ]);
  const found = await lookup(client, dnsName('api.test', 8080, 3));
  assert.deepEqual(found.backends, [
    { origin: 'http://127.0.0.2:8080', weight: 3 },
    { origin: 'http://127.0.0.3:8080', weight: 3 },
    { origin: 'http://[::1]:8080', weight: 3 },
  ]);
  assert.equal(found.ttlSeconds, 20);
});

test('a CNAME is followed within the answer, and its TTL counts too', async (t) => {
  const { server, client } = await setup(t);
  server.set('www.test', [{ type: 'CNAME', data: 'pool.test', ttl: 5 }]);
  server.set('pool.test', [{ type: 'A', data: '127.0.0.9', ttl: 50 }]);
  const found = await lookup(client, dnsName('WWW.test', 81));
  assert.deepEqual(found.backends, [{ origin: 'http://127.0.0.9:81', weight: 1 }]);
  assert.equal(found.ttlSeconds, 5);
});

test('a name that does not exist, or has no address, is an empty answer, not a failure', async (t) => {
  const { server, client } = await setup(t);
  assert.deepEqual(await lookup(client, dnsName('missing.test', 80)), { backends: [], ttlSeconds: null });
  server.set('srv-only.test', [{ type: 'SRV', data: { priority: 0, weight: 1, port: 80, target: 'x.test' }, ttl: 5 }]);
  assert.deepEqual(await lookup(client, dnsName('srv-only.test', 80)), { backends: [], ttlSeconds: null });
});

for (const additionals of [true, false]) {
  test(`SRV (${additionals ? 'addresses in the additional section' : 'addresses asked for'}): target and port from each record, weight (0 -> 1, at most 1000), priority as tier, one backend per address`, async (t) => {
    const { server, client } = await setup(t);
    server.srvAdditionals = additionals;
    server.set('_http._tcp.api.test', [
      { type: 'SRV', data: { priority: 10, weight: 5, port: 9001, target: 'a.test' }, ttl: 40 },
      { type: 'SRV', data: { priority: 10, weight: 0, port: 9002, target: 'b.test' }, ttl: 40 },
      { type: 'SRV', data: { priority: 20, weight: 60_000, port: 9003, target: 'c.test' }, ttl: 40 },
      // The same address and port twice at one priority: their weights add up.
      { type: 'SRV', data: { priority: 10, weight: 2, port: 9001, target: 'a-alias.test' }, ttl: 40 },
      // "." means: no service here (RFC 2782).
      { type: 'SRV', data: { priority: 0, weight: 1, port: 1, target: '.' }, ttl: 40 },
    ]);
    server.set('a.test', [{ type: 'A', data: '127.0.0.2', ttl: 30 }]);
    server.set('a-alias.test', [{ type: 'A', data: '127.0.0.2', ttl: 30 }]);
    server.set('b.test', [{ type: 'A', data: '127.0.0.3', ttl: 8 }, { type: 'AAAA', data: 'fd00::3', ttl: 30 }]);
    server.set('c.test', [{ type: 'A', data: '127.0.0.4', ttl: 30 }]);
    const found = await lookup(client, srvName('_http._tcp.api.test'));
    assert.deepEqual(
      [...found.backends].sort((x, y) => (x.origin < y.origin ? -1 : 1)),
      [
        { origin: 'http://127.0.0.2:9001', weight: 7, tier: 10 },
        { origin: 'http://127.0.0.3:9002', weight: 1, tier: 10 },
        { origin: 'http://127.0.0.4:9003', weight: 1000, tier: 20 },
        { origin: 'http://[fd00::3]:9002', weight: 1, tier: 10 },
      ],
    );
    assert.equal(found.ttlSeconds, 8, "the smallest TTL, the targets' included");
    assert.equal(server.count('A', 'a.test') > 0, !additionals, additionals ? 'targets given in the answer are not asked for' : 'targets are asked for');
  });
}

test('a truncated UDP answer is asked again over TCP', async (t) => {
  const { server, client } = await setup(t);
  server.truncateUdp = true;
  server.set('big.test', [{ type: 'A', data: '127.0.0.5', ttl: 10 }]);
  const found = await lookup(client, dnsName('big.test', 80));
  assert.deepEqual(found.backends, [{ origin: 'http://127.0.0.5', weight: 1 }]);
});

test('SERVFAIL and silence are failures (DnsQueryError), and the next server is asked', async (t) => {
  const { server, client } = await setup(t, { timeoutMs: 200 });
  server.set('api.test', [{ type: 'A', data: '127.0.0.2', ttl: 10 }]);
  server.mode = 'servfail';
  await assert.rejects(lookup(client, dnsName('api.test', 80)), (error: unknown) => error instanceof DnsQueryError && error.code === 'SERVER_FAILURE' && /answered SERVFAIL for (A|AAAA) api\.test/.test(error.message));
  server.mode = 'silent';
  await assert.rejects(lookup(client, dnsName('api.test', 80)), (error: unknown) => error instanceof DnsQueryError && error.code === 'TIMEOUT');

  const good = await TestDnsServer.start(t);
  good.set('api.test', [{ type: 'A', data: '127.0.0.7', ttl: 10 }]);
  const both = new DnsClient([{ host: '127.0.0.1', port: server.port }, { host: '127.0.0.1', port: good.port }], { timeoutMs: 200 });
  t.after(() => both.close());
  assert.deepEqual((await lookup(both, dnsName('api.test', 80))).backends, [{ origin: 'http://127.0.0.7', weight: 1 }]);
});

test('close ends the queries under way at once', async (t) => {
  const { server, client } = await setup(t, { timeoutMs: 60_000 });
  server.mode = 'silent';
  const pending = lookup(client, dnsName('api.test', 80));
  client.close();
  await assert.rejects(pending, (error: unknown) => error instanceof DnsQueryError && error.code === 'CLOSED');
});
