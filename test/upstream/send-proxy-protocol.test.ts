/**
 * --send-proxy-protocol v1|v2: each upstream connection starts with a PROXY header
 * naming its client, so it serves that client's connection only (kept alive for it,
 * closed with it, never handed to another client).
 */
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { parseProxyHeader, proxyHeader } from '../../src/shared/proxy-protocol.ts';
import { rawExchange, startTestBalancer, waitFor } from '../helpers.ts';

test('headers written and read back: v1 and v2, IPv4 and IPv6; mixed families are UNKNOWN / UNSPEC', () => {
  for (const version of ['v1', 'v2'] as const) {
    for (const [client, local] of [
      [{ address: '203.0.113.7', port: 5555 }, { address: '10.0.0.1', port: 443 }],
      [{ address: '2001:db8::7', port: 40000 }, { address: '2001:db8::1', port: 443 }],
      [{ address: '::ffff:198.51.100.2', port: 1234 }, { address: '::ffff:127.0.0.1', port: 8080 }],
    ] as const) {
      const header = proxyHeader(version, { client, local });
      const parsed = parseProxyHeader(header);
      assert.equal(parsed.kind, 'header', `${version} ${client.address}`);
      assert.deepEqual(parsed.kind === 'header' && parsed.client, { address: client.address.replace('::ffff:', ''), port: client.port });
      assert.equal(parsed.kind === 'header' && parsed.length, header.length);
    }
    // An IPv6 address written with a dotted IPv4 tail (a v1 header may name one) keeps that tail.
    const dotted = parseProxyHeader(proxyHeader(version, { client: { address: '64:ff9b::1.2.3.4', port: 1 }, local: { address: '::1', port: 2 } }));
    assert.deepEqual(dotted.kind === 'header' && dotted.client, { address: version === 'v1' ? '64:ff9b::1.2.3.4' : '64:ff9b::102:304', port: 1 });
    const mixed = parseProxyHeader(proxyHeader(version, { client: { address: '203.0.113.7', port: 1 }, local: { address: '::1', port: 2 } }));
    assert.deepEqual(mixed.kind === 'header' && mixed.client, null);
  }
});

interface SeenConnection {
  header: string;
  client: { address: string; port: number } | null;
  requests: number;
  closed: boolean;
}

/** A raw backend: reads the PROXY header, then answers each request with what the header said. */
async function proxyAwareBackend(t: TestContext): Promise<{ origin: string; connections: SeenConnection[] }> {
  const connections: SeenConnection[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const seen: SeenConnection = { header: '', client: null, requests: 0, closed: false };
    connections.push(seen);
    let buffered = Buffer.alloc(0);
    let headerRead = false;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!headerRead) {
        const parsed = parseProxyHeader(buffered);
        if (parsed.kind === 'incomplete') return;
        if (parsed.kind === 'invalid') return void socket.destroy();
        headerRead = true;
        seen.header = buffered.subarray(0, parsed.length).toString('latin1');
        seen.client = parsed.client;
        buffered = buffered.subarray(parsed.length);
      }
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        buffered = buffered.subarray(end + 4);
        seen.requests++;
        const body = `client=${seen.client?.address}:${seen.client?.port} n=${seen.requests}`;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      }
    });
    socket.on('close', () => {
      seen.closed = true;
      sockets.delete(socket);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  }));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections };
}

/** A client connection sending `count` requests one after another; resolves with the bodies. */
async function sequential(port: number, count: number, first = ''): Promise<{ bodies: string[]; socket: Socket }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  if (first) socket.write(first);
  const bodies: string[] = [];
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  for (let i = 0; i < count; i++) {
    socket.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await waitFor(() => /HTTP\/1\.1 200/.test(text) && /n=\d+$/.test(text), `answer ${i + 1}`);
    bodies.push(/client=[^ ]+ n=\d+$/.exec(text)?.[0] ?? '');
    text = '';
  }
  return { bodies, socket };
}

test('v1: each client connection gets its own upstream connection, named by its PROXY header, kept alive for it and closed with it', async (t) => {
  const backend = await proxyAwareBackend(t);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--send-proxy-protocol', 'v1', '--backend', backend.origin]);
  const one = await sequential(balancer.port, 3);
  const two = await sequential(balancer.port, 3);
  t.after(() => {
    one.socket.destroy();
    two.socket.destroy();
  });
  assert.equal(backend.connections.length, 2, 'one upstream connection per client connection');
  const [first, second] = backend.connections;
  assert.match(first?.header ?? '', new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 ${one.socket.localPort} ${balancer.port}\\r\\n$`));
  assert.match(second?.header ?? '', new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 ${two.socket.localPort} ${balancer.port}\\r\\n$`));
  assert.deepEqual(one.bodies, [1, 2, 3].map((n) => `client=127.0.0.1:${one.socket.localPort} n=${n}`));
  assert.deepEqual(two.bodies, [1, 2, 3].map((n) => `client=127.0.0.1:${two.socket.localPort} n=${n}`));
  one.socket.destroy();
  await waitFor(() => first?.closed === true, "the first client's upstream connection to close with it");
  assert.equal(second?.closed, false, "the other client's stays");
});

test('v2 behind --accept-proxy-protocol: the backend is told the client the L4 balancer in front named', async (t) => {
  const backend = await proxyAwareBackend(t);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--accept-proxy-protocol', '--send-proxy-protocol', 'v2', '--backend', backend.origin]);
  const { response } = await rawExchange(balancer.port, 'PROXY TCP4 203.0.113.7 10.0.0.1 5555 443\r\nGET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.match(response, /client=203\.0\.113\.7:5555 n=1$/);
  assert.equal(backend.connections[0]?.header.startsWith('\r\n\r\n\0\r\nQUIT\n'), true, 'a binary v2 header');
});

test('--send-proxy-protocol takes v1 or v2 only', async () => {
  const { usageRefusal } = await import('../helpers.ts');
  assert.equal(usageRefusal(['--send-proxy-protocol', 'v3']), '--send-proxy-protocol "v3" is not allowed: expected v1 (text) or v2 (binary)');
});
