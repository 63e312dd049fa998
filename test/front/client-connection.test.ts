/**
 * @module The listener's own HTTP/1.1 server (src/front/) through a balancer: what it
 * decides by itself rather than through node:http. Pipelined requests are answered in
 * order, each parsed only after the previous answer; Expect is answered (100, or 417 for
 * an expectation it cannot meet); framing and Connection headers follow the client's
 * version; an early answer lets the rest of the body be dropped and the connection go on;
 * a request with Upgrade is relayed as a plain request.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test, type TestContext } from 'node:test';
import { openRawClient, parseRawResponse, rawExchange, startBackend, startTestBalancer, statusOf } from '../helpers.ts';

const TEST_OPTIONS = { timeout: 20_000 };

/** A balancer in front of one upstream that answers `ok <url> <body bytes>`, chunked
 * when the path says so, early (before the body) for /early. */
async function startFixture(t: TestContext) {
  const upstream = await startBackend(t, (req, res) => {
    if (req.url === '/early') {
      res.writeHead(200, { 'content-length': '5' });
      res.end('early');
      req.resume();
      return;
    }
    let length = 0;
    req.on('data', (chunk: Buffer) => (length += chunk.length));
    req.on('end', () => {
      const body = `ok ${req.url} ${length}`;
      if (req.url?.startsWith('/chunked')) {
        res.writeHead(200);
        res.write(body);
        res.end();
      } else {
        res.writeHead(200, { 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }
    });
  });
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin]);
  return { balancer, upstream };
}

test('three pipelined requests in one write are answered in order, each reaching the upstream in order', TEST_OPTIONS, async (t) => {
  const { balancer, upstream } = await startFixture(t);
  const request = (path: string, close = false): string => `GET ${path} HTTP/1.1\r\nHost: h\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  const { response, timedOut } = await rawExchange(balancer.port, request('/1') + request('/2') + request('/3', true));
  assert.equal(timedOut, false);
  const bodies = [...response.matchAll(/ok (\/\d) 0/g)].map((match) => match[1]);
  assert.deepEqual(bodies, ['/1', '/2', '/3']);
  assert.equal(response.match(/HTTP\/1\.1 200 OK/g)?.length, 3);
  assert.deepEqual(upstream.received.map(({ url }) => url), ['/1', '/2', '/3']);
});

test('Expect: 100-continue is answered with 100 Continue before the body is sent', TEST_OPTIONS, async (t) => {
  const { balancer } = await startFixture(t);
  const client = await openRawClient(t, balancer.port);
  client.write('POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
  await client.readUntil((text) => text.includes('\r\n\r\n'), 'the interim response');
  assert.equal(client.received, 'HTTP/1.1 100 Continue\r\n\r\n');
  client.write('hello');
  const all = await client.readUntil((text) => text.endsWith('ok /up 5'), 'the final response');
  assert.match(all.slice('HTTP/1.1 100 Continue\r\n\r\n'.length), /^HTTP\/1\.1 200 OK\r\n/);
});

test('an expectation other than 100-continue gets 417 and no backend sees the request', TEST_OPTIONS, async (t) => {
  const { balancer, upstream } = await startFixture(t);
  const { response } = await rawExchange(balancer.port, 'GET / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(response), 417);
  assert.equal(upstream.received.length, 0);
});

test('HTTP/1.0: without keep-alive the answer says close and the connection closes; a body of unknown length ends with the close', TEST_OPTIONS, async (t) => {
  const { balancer } = await startFixture(t);
  const plain = await rawExchange(balancer.port, 'GET /x HTTP/1.0\r\nHost: h\r\n\r\n');
  assert.equal(plain.timedOut, false);
  assert.equal(parseRawResponse(plain.response).headers.get('connection'), 'close');
  const chunked = await rawExchange(balancer.port, 'GET /chunked HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n');
  const parsed = parseRawResponse(chunked.response);
  assert.equal(chunked.timedOut, false, 'a close-delimited body must end with the close');
  assert.equal(parsed.headers.get('transfer-encoding'), undefined);
  assert.equal(parsed.headers.get('connection'), 'close');
  assert.equal(parsed.body, 'ok /chunked 0');
});

test('HTTP/1.1: a body of unknown length is chunked; a kept-alive answer says keep-alive with its timeout, and carries a Date', TEST_OPTIONS, async (t) => {
  const { balancer } = await startFixture(t);
  const client = await openRawClient(t, balancer.port);
  client.write('GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n');
  const text = await client.readUntil((received) => received.endsWith('0\r\n\r\n'), 'the last chunk');
  const { headers, body } = parseRawResponse(text);
  assert.equal(headers.get('transfer-encoding'), 'chunked');
  assert.equal(headers.get('connection'), 'keep-alive');
  assert.match(headers.get('keep-alive') ?? '', /^timeout=\d+$/);
  assert.ok(!Number.isNaN(Date.parse(headers.get('date') ?? '')));
  assert.equal(body, `${'ok /chunked 0'.length.toString(16)}\r\nok /chunked 0\r\n0\r\n\r\n`);
});

test('an answer that comes before the whole body: the rest is dropped and the next request on the connection is served', TEST_OPTIONS, async (t) => {
  const { balancer, upstream } = await startFixture(t);
  const client = await openRawClient(t, balancer.port);
  client.write('POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc');
  await client.readUntil((text) => text.endsWith('early'), 'the early answer');
  client.write('defghij');
  client.write('GET /next HTTP/1.1\r\nHost: h\r\n\r\n');
  await client.readUntil((text) => text.endsWith('ok /next 0'), 'the next answer');
  assert.deepEqual(upstream.received.map(({ url }) => url), ['/early', '/next']);
});

test('a request head cut off by the client closing its side gets 400', TEST_OPTIONS, async (t) => {
  const { balancer, upstream } = await startFixture(t);
  const response = await new Promise<string>((resolve) => {
    const socket = connect(balancer.port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(text));
    socket.end('GET / HTTP/1.1\r\nHost: h\r\n');
  });
  assert.equal(statusOf(response), 400);
  assert.equal(upstream.received.length, 0);
});

test('a request with an Upgrade the balancer does not relay is relayed as a plain request (Upgrade is hop-by-hop), and the connection goes on in HTTP/1.1', TEST_OPTIONS, async (t) => {
  const { balancer, upstream } = await startFixture(t);
  // websocket (and --allow-upgrade tokens) are relayed as upgrades: test/relay/websocket.test.ts.
  const { response, timedOut } = await rawExchange(
    balancer.port,
    'GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: foo/1\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
  );
  assert.equal(timedOut, false);
  assert.equal(response.match(/HTTP\/1\.1 200 OK/g)?.length, 2, response);
  assert.deepEqual(upstream.received.map(({ url }) => url), ['/ws', '/after']);
  assert.equal(upstream.received[0]?.headers.upgrade, undefined);
});
