/**
 * Upstream timeouts and the keep-alive race: what a client sees when a backend does not
 * accept, does not answer, stalls mid-body, or closes a reused connection under a request.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { rawExchange, startTestBalancer, startBackend, statusOf } from '../helpers.ts';

/**
 * A backend whose accept queue is full: a child process listens with a backlog of 1 and
 * is then stopped (SIGSTOP), and we fill its queue; the kernel drops further SYNs, so a
 * connect hangs exactly like one to a black-holed host, on loopback.
 */
async function unacceptingBackend(t: { after: (fn: () => unknown) => void }): Promise<string> {
  const child = spawn(
    process.execPath,
    ['-e', "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>{console.log(s.address().port)})"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => child.kill('SIGKILL'));
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  child.kill('SIGSTOP');
  const fillers: Socket[] = [];
  t.after(() => fillers.forEach((socket) => socket.destroy()));
  for (let i = 0; i < 8; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  return `http://127.0.0.1:${port}`;
}

test('an upstream that does not accept the connection in time gives 504 with a one-line body', async (t) => {
  const origin = await unacceptingBackend(t);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', origin, '--connect-timeout', '300ms']);
  const res = await request(`${balancer.url}/`);
  const body = await res.body.text();
  assert.equal(res.statusCode, 504);
  assert.match(body, /^504 Gateway Timeout: backend 127\.0\.0\.1:\d+ did not accept the connection in time \(CONNECT_TIMEOUT\)\n$/);
  // Nothing was sent: tried again (--retries 2), on the only backend there is.
  assert.equal(balancer.state.snapshot(0).failures, 3);
});

test('an upstream that does not send response headers in time gives 504', async (t) => {
  const upstream = await startBackend(t, () => {}); // never answers
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--upstream-timeout', '300ms']);
  const res = await request(`${balancer.url}/slow`);
  const body = await res.body.text();
  assert.equal(res.statusCode, 504);
  assert.match(body, /did not send response headers in time \(HEADERS_TIMEOUT\)\n$/);
  assert.equal(body.split('\n').length, 2, 'one line');
});

test('an upstream that stalls mid-body aborts the client response instead of ending it cleanly', async (t) => {
  const upstream = await startBackend(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('x'.repeat(40)); // then silence
  });
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--upstream-idle-timeout', '300ms']);
  const { response, timedOut } = await rawExchange(balancer.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 5_000 });
  assert.equal(timedOut, false, 'the balancer closed the connection');
  assert.equal(statusOf(response), 200);
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  assert.equal(body, 'x'.repeat(40), 'only the bytes the upstream sent, then the connection closed short of Content-Length');
});

test('a client that trickles its request head is cut off (408) while other clients are served', async (t) => {
  const upstream = await startBackend(t, (_req, res) => res.end('ok'));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--client-header-timeout', '500ms']);
  const slow = connect(balancer.port, '127.0.0.1');
  t.after(() => slow.destroy());
  const received: Buffer[] = [];
  slow.on('data', (chunk: Buffer) => received.push(chunk));
  slow.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const trickle = setInterval(() => slow.writable && slow.write('X-Slow: 1\r\n'), 100);
  t.after(() => clearInterval(trickle));
  // Meanwhile a normal client is answered at once.
  const res = await request(`${balancer.url}/`);
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'ok');
  await once(slow, 'close');
  clearInterval(trickle);
  const text = Buffer.concat(received).toString();
  assert.equal(statusOf(text), 408);
  assert.match(text, /\r\n\r\n408 Request Timeout: request head did not arrive in time\n$/);
  assert.equal(upstream.received.length, 1, 'the slow request never reached the upstream');
});

test('a request body that stalls gets 408 and the upstream sees the request aborted, not completed', async (t) => {
  let upstreamSawEnd = false;
  let upstreamSawAbort!: () => void;
  const aborted = new Promise<void>((resolve) => (upstreamSawAbort = resolve));
  const upstream = await startBackend(t, (req, res) => {
    req.on('end', () => (upstreamSawEnd = true));
    req.on('error', () => upstreamSawAbort());
    req.on('close', () => !upstreamSawEnd && upstreamSawAbort());
    req.resume();
    res.on('close', () => {});
  });
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--client-body-timeout', '300ms']);
  const { response, timedOut } = await rawExchange(
    balancer.port,
    'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n' + 'y'.repeat(100),
    { timeoutMs: 5_000 },
  );
  assert.equal(timedOut, false);
  assert.equal(statusOf(response), 408);
  assert.match(response, /408 Request Timeout: request body stalled for more than 300 ms\n$/);
  await aborted;
  assert.equal(upstreamSawEnd, false);
  assert.equal(balancer.state.snapshot(0).failures, 0, 'a slow client is not the backend failing');
});

test('an idle keep-alive client connection is closed after --keep-alive-timeout', async (t) => {
  const upstream = await startBackend(t, (_req, res) => res.end('ok'));
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--keep-alive-timeout', '300ms']);
  const { response, timedOut } = await rawExchange(balancer.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 5_000 });
  assert.equal(timedOut, false, 'closed by the balancer, not by our 5 s guard');
  assert.equal(statusOf(response), 200);
  assert.match(response, /keep-alive: timeout=0/i);
});

/**
 * A raw upstream that answers the first request of each connection with keep-alive and
 * no idle hint, then closes the connection the moment the next request arrives: the
 * race between a reused pooled connection and the upstream's own idle close.
 */
async function closingOnReuseUpstream(t: { after: (fn: () => unknown) => void }) {
  const seen: string[] = [];
  const server = createServer((socket) => {
    let requests = 0;
    socket.on('data', (chunk: Buffer) => {
      const head = chunk.toString('latin1');
      const line = head.slice(0, head.indexOf('\r\n'));
      if (!line.includes('HTTP/1.1')) return; // a body chunk
      seen.push(line);
      if (requests++ > 0) return void socket.destroy();
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return { origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen };
}

test('an idempotent request on a pooled connection the upstream just closed is resent, not a 502', async (t) => {
  const upstream = await closingOnReuseUpstream(t);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin]);
  for (let i = 0; i < 3; i++) {
    const res = await request(`${balancer.url}/r${i}`);
    assert.equal(res.statusCode, 200, `request ${i}`);
    assert.equal(await res.body.text(), 'ok');
  }
  const times = (path: string): number => upstream.seen.filter((line) => line === `GET ${path} HTTP/1.1`).length;
  // r0 opens the one pooled connection; r1 is written on it as the upstream closes it,
  // so it must have been sent twice. Whether r2 meets a closing connection depends on
  // which socket the pool picks; either way it is sent at most twice.
  assert.equal(times('/r0'), 1);
  assert.equal(times('/r1'), 2);
  assert.ok(times('/r2') >= 1 && times('/r2') <= 2);
  assert.equal(balancer.state.snapshot(0).failures, 0);
});

test('a POST whose body was sent on a connection the upstream closed is not resent: 502, never a duplicate', async (t) => {
  const upstream = await closingOnReuseUpstream(t);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin]);
  const first = await request(`${balancer.url}/warm`);
  await first.body.text();
  const res = await request(`${balancer.url}/order`, { method: 'POST', body: 'pay once' });
  const body = await res.body.text();
  assert.equal(res.statusCode, 502);
  assert.match(body, /^502 Bad Gateway: backend 127\.0\.0\.1:\d+ /);
  assert.deepEqual(
    upstream.seen.filter((line) => line.startsWith('POST')),
    ['POST /order HTTP/1.1'],
    'the upstream saw the POST exactly once',
  );
});

test('an idempotent request whose body was read whole (--max-body) is resent on a closed pooled connection too', async (t) => {
  const upstream = await closingOnReuseUpstream(t);
  const balancer = await startTestBalancer(t, ['--threads', '1', '--backend', upstream.origin, '--max-body', '1k']);
  const first = await request(`${balancer.url}/warm`);
  await first.body.text();
  // Chunked, so with a body limit it is read before the backend is contacted, and a
  // complete copy is at hand to send again.
  const res = await request(`${balancer.url}/doc`, { method: 'PUT', body: Readable.from(['same ', 'bytes']) });
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'ok');
  assert.deepEqual(
    upstream.seen.filter((line) => line.startsWith('PUT')),
    ['PUT /doc HTTP/1.1', 'PUT /doc HTTP/1.1'],
    'first on the reused connection the upstream closed, then once more on a new one',
  );
});
