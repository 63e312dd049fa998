/**
 * HTTP/2 from clients: over TLS by ALPN `h2`, and over plain connections with --h2c.
 * Each stream is one request through the same routing and limits, relayed to HTTP/1.1
 * backends; flow control carries large bodies both ways; `:authority` is the Host; a
 * client that resets streams faster than the bound (Rapid Reset) gets GOAWAY.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { test, type TestContext } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { issue, makeCertificates } from '../fixtures/certificates.ts';
import { errorCode, FRAME, headersFrame, openRawH2, rstStreamFrame } from '../fixtures/raw-h2.ts';
import { rawExchange, startBackend, startTestBalancer, statusOf, usageRefusal, waitFor, within, type TestBackend } from '../helpers.ts';

interface H2Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly informational: IncomingHttpHeaders[];
  readonly trailers: IncomingHttpHeaders | null;
}

function h2Session(t: TestContext, url: string, ca?: string): ClientHttp2Session {
  const session = connect(url, ca === undefined ? {} : { ca, servername: 'a.test' });
  session.on('error', () => {});
  t.after(() => session.destroy());
  return session;
}

function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const informational: IncomingHttpHeaders[] = [];
    let head: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    stream.on('headers', (h) => informational.push(h));
    stream.on('response', (h) => (head = h));
    stream.on('trailers', (h) => (trailers = h));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks), informational, trailers }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

async function tlsSetup(t: TestContext, backends: TestBackend[], extra: string[] = []) {
  const certs = makeCertificates(t);
  const a = issue(certs, 'a', 'DNS:a.test');
  const ca = readFileSync(certs.caFile, 'latin1');
  const balancer = await startTestBalancer(t, ['--threads', '2', ...backends.flatMap((b) => ['--backend', b.origin]), '--tls-cert', a.certFile, '--tls-key', a.keyFile, ...extra]);
  return { balancer, ca, url: `https://127.0.0.1:${balancer.port}` };
}

const echoBackend = (t: TestContext, name: string) =>
  startBackend(t, (req, res) => res.end(`${name} ${req.method} ${req.url} host=${req.headers.host} proto=${req.headers['x-forwarded-proto']} via=${req.headers.via}`));

test('over TLS, ALPN picks h2; 300 concurrent streams on one connection are balanced over the backends', async (t) => {
  const one = await echoBackend(t, 'one');
  const two = await echoBackend(t, 'two');
  const { ca, url } = await tlsSetup(t, [one, two]);
  const session = h2Session(t, url, ca);
  await new Promise((resolve) => session.once('connect', resolve));
  assert.equal(session.alpnProtocol, 'h2');
  const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => h2Request(session, { ':path': `/r/${i}`, ':authority': 'a.test' })));
  const bodies = answers.map((a) => a.body.toString());
  assert.ok(answers.every((a) => a.status === 200));
  assert.equal(bodies.filter((b) => b.startsWith('one ')).length, 150);
  assert.equal(bodies.filter((b) => b.startsWith('two ')).length, 150);
  assert.equal(bodies.find((b) => b.includes('/r/7 '))?.replace(/^(one|two) /, ''), 'GET /r/7 host=a.test proto=https via=2.0 switchyard');
  assert.equal(one.received.length + two.received.length, 300);
});

test('large bodies cross both ways under flow control: 8 MB up, the same 8 MB back', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    // A slow reader and writer: the balancer must hold back, not buffer without bound.
    req.pipe(res);
  });
  const { ca, url } = await tlsSetup(t, [backend]);
  const session = h2Session(t, url, ca);
  const payload = randomBytes(8 * 1024 * 1024);
  const answer = await h2Request(session, { ':method': 'POST', ':path': '/echo', ':authority': 'a.test' }, payload);
  assert.equal(answer.status, 200);
  assert.equal(answer.body.length, payload.length);
  assert.equal(createHash('sha256').update(answer.body).digest('hex'), createHash('sha256').update(payload).digest('hex'));
  // No length was given: the backend got it chunked.
  assert.equal(backend.received[0]?.headers['transfer-encoding'], 'chunked');
});

test(':authority is the Host; a different Host beside it, or neither, is refused with 400', async (t) => {
  const backend = await echoBackend(t, 'b');
  const { ca, url } = await tlsSetup(t, [backend]);
  const session = h2Session(t, url, ca);
  const ok = await h2Request(session, { ':path': '/x', ':authority': 'shop.example' });
  assert.equal(ok.body.toString(), 'b GET /x host=shop.example proto=https via=2.0 switchyard');
  const mismatch = await h2Request(session, { ':path': '/x', ':authority': 'shop.example', host: 'other.example' });
  assert.equal(mismatch.status, 400);
  assert.equal(mismatch.body.toString(), '400 Bad Request: :authority and Host name different hosts\n');
  // The refusal ended only its stream; the connection goes on.
  assert.equal((await h2Request(session, { ':path': '/y', ':authority': 'shop.example' })).status, 200);
  assert.equal(backend.received.length, 2);
});

test('--h2c: a plain connection that opens with the preface speaks HTTP/2, others HTTP/1.1; without it the preface is refused', async (t) => {
  const backend = await echoBackend(t, 'b');
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin, '--h2c']);
  const session = h2Session(t, balancer.url);
  const answer = await h2Request(session, { ':path': '/h2c' });
  assert.equal(answer.status, 200);
  assert.equal(answer.body.toString(), `b GET /h2c host=127.0.0.1:${balancer.port} proto=http via=2.0 switchyard`);
  const plain = await rawExchange(balancer.port, 'GET /plain HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(plain.response), 200);

  const without = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin]);
  const refused = await rawExchange(without.port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  assert.equal(statusOf(refused.response), 400);
});

test('Rapid Reset: HEADERS and RST_STREAM back to back make no request, and a flood of them gets GOAWAY', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin, '--h2c']);
  const attacker = await openRawH2(t, balancer.port);
  for (let i = 0; i < 1_000 && !attacker.socket.destroyed; i++) {
    const id = 1 + 2 * i;
    attacker.send(Buffer.concat([headersFrame(id, [[':method', 'GET'], [':scheme', 'http'], [':path', `/flood/${i}`], [':authority', 'x']]), rstStreamFrame(id, constants.NGHTTP2_CANCEL)]));
  }
  await within(attacker.closed, 'the attacker closed');
  assert.ok(attacker.frames.some((f) => f.type === FRAME.GOAWAY), 'a GOAWAY before the close');
  assert.equal(backend.received.length, 0, 'no reset stream became a request');
  assert.equal((await h2Request(h2Session(t, balancer.url), { ':path': '/after' })).status, 200);
});

test('Rapid Reset: a client that resets streams while they are answered is sent GOAWAY (ENHANCE_YOUR_CALM), closed and counted', async (t) => {
  const backend = await startBackend(t, (_req, res) => setTimeout(() => res.end('late'), 2_000));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin, '--h2c']);
  const attacker = await openRawH2(t, balancer.port);
  let id = 1;
  const sentGoaway = (): boolean => attacker.frames.some((f) => f.type === FRAME.GOAWAY);
  // Rounds of 50 requests that reach the backend, then are reset while it works on them.
  for (let round = 0; round < 6 && !sentGoaway(); round++) {
    const ids = Array.from({ length: 50 }, () => (id += 2) - 2);
    attacker.send(Buffer.concat(ids.map((n) => headersFrame(n, [[':method', 'GET'], [':scheme', 'http'], [':path', `/slow/${n}`], [':authority', 'x']]))));
    const reached = backend.received.length + ids.length;
    await waitFor(() => backend.received.length >= reached, 'the round reached the backend');
    attacker.send(Buffer.concat(ids.map((n) => rstStreamFrame(n, constants.NGHTTP2_CANCEL))));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await within(attacker.closed, 'the attacker closed');
  const goaway = attacker.frames.find((f) => f.type === FRAME.GOAWAY);
  assert.ok(goaway);
  assert.equal(errorCode(goaway), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  assert.equal(balancer.state.headerCount('h2ResetFloods'), 1);
  assert.equal((await h2Request(h2Session(t, balancer.url), { ':path': '/after' })).status, 200);
});

test('connection-specific headers are refused per RFC 9113: the stream is reset and no request is made', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin, '--h2c']);
  const client = await openRawH2(t, balancer.port);
  const base: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'x']];
  const cases: Array<[string, string]> = [['connection', 'keep-alive'], ['transfer-encoding', 'chunked'], ['upgrade', 'websocket'], ['keep-alive', '5'], ['te', 'gzip']];
  cases.forEach(([name, value], i) => client.send(headersFrame(1 + 2 * i, [...base, [name, value]])));
  client.send(headersFrame(1 + 2 * cases.length, base));
  await waitFor(() => client.frames.filter((f) => f.type === FRAME.RST_STREAM || f.type === FRAME.HEADERS).length >= cases.length + 1, 'every stream answered');
  for (let i = 0; i < cases.length; i++) {
    const reset = client.frames.find((f) => f.type === FRAME.RST_STREAM && f.stream === 1 + 2 * i);
    assert.ok(reset, `${cases[i]?.[0]} resets its stream`);
    assert.equal(errorCode(reset), constants.NGHTTP2_PROTOCOL_ERROR);
  }
  assert.ok(client.frames.some((f) => f.type === FRAME.HEADERS && f.stream === 1 + 2 * cases.length), 'the clean request is answered');
  assert.equal(backend.received.length, 1);
});

test('103 Early Hints reach an HTTP/2 client before the response; trailers pass through to a client that takes them', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/hints') {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }, () => res.end('final'));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/grpc', trailer: 'grpc-status' });
    res.write('message');
    res.addTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' });
    res.end();
  });
  const { ca, url } = await tlsSetup(t, [backend]);
  const session = h2Session(t, url, ca);
  const hinted = await h2Request(session, { ':path': '/hints', ':authority': 'a.test' });
  assert.equal(hinted.informational[0]?.[':status'], 103);
  assert.equal(hinted.informational[0]?.link, '</style.css>; rel=preload; as=style');
  assert.equal(hinted.body.toString(), 'final');
  const grpc = await h2Request(session, { ':method': 'POST', ':path': '/svc/Call', ':authority': 'a.test', te: 'trailers', 'content-type': 'application/grpc' }, Buffer.from('req'));
  assert.equal(grpc.body.toString(), 'message');
  assert.deepEqual({ status: grpc.trailers?.['grpc-status'], message: grpc.trailers?.['grpc-message'] }, { status: '0', message: 'ok' });
});

test('trailers after a chunked body reach an HTTP/1.1 client in the last chunk, framing fields left out', async (t) => {
  const backend = await startBackend(t, (_req, res) => {
    res.writeHead(200, { trailer: 'x-checksum' });
    res.write('body');
    res.addTrailers({ 'x-checksum': 'abc', host: 'elsewhere.example' });
    res.end();
  });
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin]);
  const { response } = await rawExchange(balancer.port, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.match(response, /\r\n4\r\nbody\r\n0\r\nx-checksum: abc\r\n\r\n$/i);
});

test('HTTP/2 flags: --h2c is off by default, --h2-max-streams takes 1 to 10000 and is the SETTINGS the client sees', async (t) => {
  assert.equal(usageRefusal(['--h2-max-streams', '0']), '--h2-max-streams "0" is not allowed: expected a whole number from 1 to 10000');
  assert.equal(usageRefusal(['--h2-max-streams', 'many']), '--h2-max-streams "many" is not allowed: expected a whole number from 1 to 10000');
  const backend = await echoBackend(t, 'b');
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin, '--h2c', '--h2-max-streams', '7']);
  const session = h2Session(t, balancer.url);
  const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) => session.once('remoteSettings', resolve));
  assert.equal(settings.maxConcurrentStreams, 7);
});

test('limits: a client is held to --h2-max-streams; one that ignores it is sent GOAWAY; a header list over --max-header-size resets its stream (ENHANCE_YOUR_CALM)', async (t) => {
  let running = 0;
  let most = 0;
  const backend = await startBackend(t, (_req, res) => {
    most = Math.max(most, ++running);
    setTimeout(() => {
      running--;
      res.end('ok');
    }, 100);
  });
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', backend.origin, '--h2c', '--h2-max-streams', '3', '--max-header-size', '2k', '--max-url-length', '1k']);
  // A client that keeps to the limit once it knows it (node:http2 queues the rest) is
  // served whole. (Streams sent before the SETTINGS arrive, beyond it, are refused with
  // REFUSED_STREAM, which a client may retry: nothing of them was processed.)
  const session = h2Session(t, balancer.url);
  await new Promise((resolve) => session.once('remoteSettings', resolve));
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => h2Request(session, { ':path': `/q/${i}` })));
  assert.ok(answers.every((answer) => answer.status === 200));
  assert.equal(most, 3, 'never more than 3 streams of the connection at once');

  const client = await openRawH2(t, balancer.port);
  const base: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'x']];
  await waitFor(() => client.frames.some((f) => f.type === FRAME.SETTINGS && (f.flags & 1) === 1), 'the settings exchanged');
  const resetOf = (id: number) => client.frames.find((f) => f.type === FRAME.RST_STREAM && f.stream === id);
  // 30 headers of 100 bytes: over 2 KiB.
  client.send(headersFrame(1, [...base, ...Array.from({ length: 30 }, (_, i): [string, string] => [`x-h${i}`, 'v'.repeat(100)])]));
  await waitFor(() => resetOf(1) !== undefined, 'the oversized stream reset');
  assert.equal(errorCode(resetOf(1)!), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  // Five streams at once against an acknowledged limit of 3: a connection error.
  client.send(Buffer.concat([3, 5, 7, 9, 11].map((id) => headersFrame(id, base))));
  await within(client.closed, 'the connection closed');
  const goaway = client.frames.find((f) => f.type === FRAME.GOAWAY);
  assert.equal(goaway && errorCode(goaway), constants.NGHTTP2_PROTOCOL_ERROR);
  assert.ok(!backend.received.some((request) => 'x-h0' in request.headers), 'the oversized stream reached no backend');
});

test('HTTP/2 over TLS behind an L4 balancer: after a PROXY header, the stream\'s client is the one the header names', async (t) => {
  const backend = await startBackend(t, (req, res) => res.end(`xff=${req.headers['x-forwarded-for']} proto=${req.headers['x-forwarded-proto']}`));
  const { ca, url } = await tlsSetup(t, [backend], ['--accept-proxy-protocol']);
  const port = Number(new URL(url).port);
  const session = connect(url, {
    createConnection: () => {
      const raw = connectTcp(port, '127.0.0.1');
      raw.write('PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n');
      return connectTls({ socket: raw, ca, servername: 'a.test', ALPNProtocols: ['h2'] });
    },
  });
  session.on('error', () => {});
  t.after(() => session.destroy());
  const answer = await h2Request(session, { ':path': '/', ':authority': 'a.test' });
  assert.equal(answer.body.toString(), 'xff=203.0.113.7 proto=https');
});
