/**
 * --accept-proxy-protocol: the PROXY protocol header (v1 text, v2 binary) an L4 balancer
 * writes first on each connection names the client; X-Forwarded-For, hashing by ip and
 * the access log then see that client. Parsing is strict, and a connection without a
 * valid header is closed without reaching a backend.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { parseProxyHeader, V2_SIGNATURE } from '../../src/shared/proxy-protocol.ts';
import { rawExchange, startBackend, startTestBalancer, statusOf } from '../helpers.ts';

function v2(command: number, family: number, addresses: Buffer, tlvs = Buffer.alloc(0)): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(addresses.length + tlvs.length);
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20 | command, family]), length, addresses, tlvs]);
}

function ipv4Addresses(source: number[], destination: number[], sourcePort: number, destinationPort: number): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sourcePort, 0);
  ports.writeUInt16BE(destinationPort, 2);
  return Buffer.concat([Buffer.from(source), Buffer.from(destination), ports]);
}

function ipv6Addresses(): Buffer {
  const bytes = Buffer.alloc(36);
  // 2001:db8::7 -> 2001:db8::1, ports 40000 -> 443
  bytes.writeUInt16BE(0x2001, 0);
  bytes.writeUInt16BE(0x0db8, 2);
  bytes.writeUInt16BE(0x0007, 14);
  bytes.writeUInt16BE(0x2001, 16);
  bytes.writeUInt16BE(0x0db8, 18);
  bytes.writeUInt16BE(0x0001, 30);
  bytes.writeUInt16BE(40000, 32);
  bytes.writeUInt16BE(443, 34);
  return bytes;
}

const V1_TCP4 = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n', 'latin1');

test('v1 headers: TCP4, TCP6 and UNKNOWN are read; every prefix of one is incomplete, never invalid', () => {
  assert.deepEqual(parseProxyHeader(V1_TCP4), { kind: 'header', length: V1_TCP4.length, client: { address: '203.0.113.7', port: 56324 } });
  const tcp6 = Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\nGET', 'latin1');
  assert.deepEqual(parseProxyHeader(tcp6), { kind: 'header', length: tcp6.length - 3, client: { address: '2001:db8::7', port: 40000 } });
  const unknown = Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n', 'latin1');
  assert.deepEqual(parseProxyHeader(unknown), { kind: 'header', length: unknown.length, client: null });
  for (let end = 1; end < V1_TCP4.length; end++) assert.deepEqual(parseProxyHeader(V1_TCP4.subarray(0, end)), { kind: 'incomplete' }, `first ${end} bytes`);
});

test('v1 headers that deviate are refused with a reason', () => {
  const refused = (text: string): string => {
    const header = parseProxyHeader(Buffer.from(text, 'latin1'));
    assert.equal(header.kind, 'invalid', text);
    return header.kind === 'invalid' ? header.reason : '';
  };
  assert.match(refused('GET / HTTP/1.1\r\n\r\n'), /does not start with a PROXY protocol header/);
  assert.match(refused('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), /"UDP4" is not TCP4, TCP6 or UNKNOWN/);
  assert.match(refused('PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n'), /not TCP4 addresses/);
  assert.match(refused('PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n'), /not TCP4 addresses/);
  assert.match(refused('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), /ports must be 0-65535/);
  assert.match(refused('PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'), /without leading zeros/);
  assert.match(refused('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), /6 fields/);
  assert.match(refused('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n'), /6 fields/);
  assert.match(refused(`PROXY TCP4 ${'1'.repeat(120)}`), /longer than 107 bytes/);
});

test('v2 headers: PROXY over TCP4 and TCP6 (with TLVs after), LOCAL, UNSPEC; deviations refused', () => {
  const tcp4 = v2(1, 0x11, ipv4Addresses([198, 51, 100, 9], [10, 0, 0, 1], 61000, 443));
  assert.deepEqual(parseProxyHeader(tcp4), { kind: 'header', length: 28, client: { address: '198.51.100.9', port: 61000 } });
  const tcp6 = v2(1, 0x21, ipv6Addresses(), Buffer.from([0x04, 0x00, 0x01, 0x00]));
  assert.deepEqual(parseProxyHeader(Buffer.concat([tcp6, Buffer.from('GET / ')])), { kind: 'header', length: 16 + 36 + 4, client: { address: '2001:db8::7', port: 40000 } });
  assert.deepEqual(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0))), { kind: 'header', length: 16, client: null });
  assert.deepEqual(parseProxyHeader(v2(1, 0x00, Buffer.alloc(0))), { kind: 'header', length: 16, client: null });
  for (let end = 1; end < tcp4.length; end++) assert.deepEqual(parseProxyHeader(tcp4.subarray(0, end)), { kind: 'incomplete' }, `first ${end} bytes`);
  const version1 = Buffer.from(tcp4);
  version1[12] = 0x11;
  assert.match(String((parseProxyHeader(version1) as { reason?: string }).reason), /version 1 is not 2/);
  assert.match(String((parseProxyHeader(v2(2, 0x11, ipv4Addresses([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))) as { reason?: string }).reason), /command 2/);
  assert.match(String((parseProxyHeader(v2(1, 0x41, Buffer.alloc(12))) as { reason?: string }).reason), /family 0x41/);
  assert.match(String((parseProxyHeader(v2(1, 0x11, Buffer.alloc(8))) as { reason?: string }).reason), /needs 12 bytes/);
});

async function proxyBalancer(t: Parameters<typeof startTestBalancer>[0], extra: string[] = []) {
  const backend = await startBackend(t, (req, res) => res.end(`xff=${req.headers['x-forwarded-for']}`));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--accept-proxy-protocol', '--admin-port', '0', '--backend', backend.origin, ...extra]);
  return { backend, balancer };
}

test('through the balancer: the v1 and v2 clients are the ones X-Forwarded-For names, for every request of a keep-alive connection', async (t) => {
  const { balancer } = await proxyBalancer(t);
  const get = 'GET /a HTTP/1.1\r\nHost: h\r\n\r\n';
  const v1 = await rawExchange(balancer.port, Buffer.concat([V1_TCP4, Buffer.from(`${get}GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`)]));
  assert.equal(v1.response.match(/xff=203\.0\.113\.7/g)?.length, 2, v1.response);
  const v2Tcp6 = await rawExchange(balancer.port, Buffer.concat([v2(1, 0x21, ipv6Addresses()), Buffer.from('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n')]));
  assert.match(v2Tcp6.response, /xff=2001:db8::7$/);
  // LOCAL: the L4 balancer's own check; the TCP peer stands.
  const local = await rawExchange(balancer.port, Buffer.concat([v2(0, 0x00, Buffer.alloc(0)), Buffer.from('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n')]));
  assert.match(local.response, /xff=127\.0\.0\.1$/);
});

test('a header that arrives byte by byte, then the request in another write, is read whole', async (t) => {
  const { balancer } = await proxyBalancer(t);
  const socket = connect(balancer.port, '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  for (const byte of V1_TCP4) {
    socket.write(Buffer.from([byte]));
    await new Promise((resolve) => setImmediate(resolve));
  }
  socket.write('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  await closed;
  const response = Buffer.concat(chunks).toString('latin1');
  assert.equal(statusOf(response), 200, response);
  assert.match(response, /xff=203\.0\.113\.7$/);
});

test('a connection without a valid header is closed without an answer, reaches no backend, and is counted', async (t) => {
  const { backend, balancer } = await proxyBalancer(t);
  for (const bytes of ['GET / HTTP/1.1\r\nHost: h\r\n\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n']) {
    const { response, timedOut } = await rawExchange(balancer.port, bytes);
    assert.equal(response, '', `answered: ${response}`);
    assert.equal(timedOut, false, 'closed at once, not left open');
  }
  assert.deepEqual(backend.received, []);
  const metrics = await request(`http://127.0.0.1:${balancer.admin?.port}/metrics`);
  assert.match(await metrics.body.text(), /^switchyard_proxy_header_refused_total 2$/m);
});

test('--hash-key ip hashes the client the header names, not the L4 balancer in front', async (t) => {
  const backends = await Promise.all([0, 1].map((n) => startBackend(t, (_req, res) => res.end(String(n)))));
  const balancer = await startTestBalancer(t, [
    '--threads', '1', '--accept-proxy-protocol', '--algorithm', 'consistent-hash', '--hash-key', 'ip',
    ...backends.flatMap((backend) => ['--backend', backend.origin]),
  ]);
  const answers = new Map<string, Set<string>>();
  for (let client = 1; client <= 24; client++) {
    for (let repeat = 0; repeat < 2; repeat++) {
      const header = Buffer.from(`PROXY TCP4 198.51.100.${client} 10.0.0.1 4000 443\r\n`, 'latin1');
      const { response } = await rawExchange(balancer.port, Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n')]));
      const set = answers.get(String(client)) ?? new Set<string>();
      set.add(response.slice(-1));
      answers.set(String(client), set);
    }
  }
  // All 48 connections come from 127.0.0.1: only the proxied clients can spread them.
  assert.ok([...answers.values()].every((set) => set.size === 1), 'each client stays on its backend');
  assert.equal(new Set([...answers.values()].map((set) => [...set][0])).size, 2, 'the 24 clients spread over both backends');
});
